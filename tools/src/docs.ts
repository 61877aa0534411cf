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
 * TypeDoc documents a re-export (`export { RunnerError } from "./internal/…"`) with the
 * comment of the original declaration and ignores the one on the export specifier, where
 * this repository writes the public `@example`: those examples are added to the
 * reflection here, so the reference shows every example the check compiles.
 *
 * `node tools/src/docs.ts [--out dir]`; fails (exit 1) on TypeDoc warnings or errors.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { Application, Comment, CommentTag, type DeclarationReflection, ReflectionKind } from "typedoc"
import { exportsOf, publicModules } from "./apidoc.ts"
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

/** The `@example`s written on the module's `export { … } from` specifiers, added to what they document. */
function addReexportExamples(module: DeclarationReflection, file: string): void {
  for (const e of exportsOf(fs.readFileSync(file, "utf8"))) {
    if (e.kind !== "re-export" || e.doc === undefined || e.doc.examples.length === 0) continue
    const reflection = module.getChildByName(e.name) as DeclarationReflection | undefined
    const target = reflection?.signatures?.[0] ?? reflection
    if (target === undefined) continue
    const comment = target.comment ??= new Comment()
    if (comment.blockTags.some((tag) => tag.tag === "@example")) continue
    for (const example of e.doc.examples) {
      comment.blockTags.push(new CommentTag("@example", [{ kind: "code", text: "```ts\n" + example.code + "\n```" }]))
    }
  }
}

const project = await app.convert()
if (project === undefined) process.exit(1)
// a module is named as a user imports it, not by its path under the workspace
for (const child of project.children ?? []) {
  if (!child.kindOf(ReflectionKind.Module)) continue
  const file = child.sources?.[0]?.fullFileName
  const name = file === undefined ? undefined : nameOf.get(path.resolve(file))
  if (name !== undefined) child.name = name
  if (file !== undefined) addReexportExamples(child, path.resolve(file))
}
await app.generateDocs(project, out)
if (app.logger.hasErrors() || app.logger.hasWarnings()) process.exit(1)
console.log(`API reference: ${path.relative(process.cwd(), path.join(out, "index.html"))} (${modules.length} modules)`)
