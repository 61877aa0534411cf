/**
 * The API reference: `pnpm docs` writes it to `docs/` (HTML, not committed), one page per
 * public module (`@hybrid/core/Gather`, …) — the modules of `apidoc.ts`, so exactly what a
 * user can import — with each export's doc comment, `@example`, `@since` and `@category`.
 *
 * Built with TypeDoc's API. It reads the sources through its own TypeScript (6.0, the
 * newest it supports; the workspace compiles with 7), so the reference never needs a
 * build. Whether the examples compile is checked by `tools/test/examples.test.ts` with the
 * workspace's own tsc, not here.
 *
 * `node tools/src/docs.ts [--out dir]`; fails (exit 1) on TypeDoc warnings or errors.
 */
import * as path from "node:path"
import { Application, ReflectionKind } from "typedoc"
import { publicModules } from "./apidoc.ts"
import { root } from "./exports.ts"

const outArg = process.argv.indexOf("--out")
const out = path.resolve(outArg > 0 ? process.argv[outArg + 1]! : path.join(root, "docs"))

const modules = publicModules()
const nameOf = new Map(modules.map((m) => [path.join(root, m.file), m.name === "index" ? m.pkg : `${m.pkg}/${m.name}`]))

const app = await Application.bootstrapWithPlugins({
  name: "Hybrid",
  entryPoints: [...nameOf.keys()],
  entryPointStrategy: "resolve",
  tsconfig: path.join(root, "tools/tsconfig.docs.json"),
  readme: path.join(root, "README.md"),
  out,
  // the sources are type-checked by `pnpm typecheck` (tsc 7); TypeDoc's TypeScript only reads them
  skipErrorChecking: true,
  excludePrivate: true,
  excludeInternal: true,
  categorizeByGroup: false,
  sort: ["kind", "alphabetical"],
  treatWarningsAsErrors: true,
  validation: { notExported: false, invalidLink: true, notDocumented: false }
})

const project = await app.convert()
if (project === undefined) process.exit(1)
// a module is named as a user imports it, not by its path under the workspace
for (const child of project.children ?? []) {
  if (!child.kindOf(ReflectionKind.Module)) continue
  const file = child.sources?.[0]?.fullFileName
  const name = file === undefined ? undefined : nameOf.get(path.resolve(file))
  if (name !== undefined) child.name = name
}
await app.generateDocs(project, out)
if (app.logger.hasErrors() || app.logger.hasWarnings()) process.exit(1)
console.log(`API reference: ${path.relative(process.cwd(), path.join(out, "index.html"))} (${modules.length} modules)`)
