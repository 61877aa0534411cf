/**
 * The `exports` maps of the publishable packages, derived from each package's
 * `src/index.ts` (the one list of its public modules), plus the entries that are not in
 * the index (`@hybrid/core/worker`).
 *
 * In the workspace a package's `exports` point at its `.ts` sources (Node, vitest and tsc
 * run them directly, no build step); the tarball's come from `publishConfig.exports`,
 * which `pnpm pack` puts in place of `exports`: `types` + `default` in `dist/`.
 *
 * `node tools/src/exports.ts` prints the differences; `--write` rewrites both maps.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

/** The workspace root. */
export const root = fileURLToPath(new URL("../../", import.meta.url))

/** The publishable packages: directory → entries that are not modules of the index. */
export const publishable: ReadonlyArray<{ readonly dir: string; readonly extra: Record<string, string> }> = [
  { dir: "packages/core", extra: { "./worker": "worker" } },
  { dir: "packages/agent", extra: {} },
  { dir: "packages/cluster", extra: {} }
]

/** One public module: its subpath (`./Gather`) and its file under `src/`, without `.ts`. */
export interface Entry {
  readonly subpath: string
  readonly file: string
}

/** The public modules of a package: one per `export * as X from "./x.ts"` / `export { X } from "./X.ts"` of `src/index.ts`. */
export const entries = (dir: string, extra: Record<string, string>): ReadonlyArray<Entry> => {
  const index = fs.readFileSync(path.join(root, dir, "src/index.ts"), "utf8")
  const out: Array<Entry> = []
  for (const m of index.matchAll(/^export \* as (\w+) from "\.\/(.+?)\.ts"/gm)) out.push({ subpath: `./${m[1]}`, file: m[2]! })
  for (const m of index.matchAll(/^export (?:type )?\{[^}]*\} from "\.\/(.+?)\.ts"/gm)) {
    out.push({ subpath: `./${path.basename(m[1]!)}`, file: m[1]! })
  }
  for (const [subpath, file] of Object.entries(extra)) out.push({ subpath, file })
  return out.sort((a, b) => a.subpath.localeCompare(b.subpath))
}

type Target = string | null | { readonly types: string; readonly default: string }

/** The two maps a package's `package.json` must have for these entries. */
export const expected = (list: ReadonlyArray<Entry>): { exports: Record<string, Target>; published: Record<string, Target> } => {
  const exports: Record<string, Target> = { "./package.json": "./package.json", ".": "./src/index.ts" }
  const published: Record<string, Target> = {
    "./package.json": "./package.json",
    ".": { types: "./dist/index.d.ts", default: "./dist/index.js" }
  }
  for (const { file, subpath } of list) {
    exports[subpath] = `./src/${file}.ts`
    published[subpath] = { types: `./dist/${file}.d.ts`, default: `./dist/${file}.js` }
  }
  exports["./internal/*"] = null
  published["./internal/*"] = null
  return { exports, published }
}

/** What is wrong with a package's maps, one line per entry, each saying what to write. */
export const problems = (dir: string, extra: Record<string, string>): ReadonlyArray<string> => {
  const file = path.join(root, dir, "package.json")
  const pkg = JSON.parse(fs.readFileSync(file, "utf8"))
  const want = expected(entries(dir, extra))
  const out: Array<string> = []
  const compare = (where: string, actual: Record<string, Target> | undefined, wanted: Record<string, Target>) => {
    for (const [key, value] of Object.entries(wanted)) {
      if (JSON.stringify(actual?.[key]) !== JSON.stringify(value)) {
        out.push(`${dir}/package.json ${where}[${JSON.stringify(key)}] is ${JSON.stringify(actual?.[key])}, expected ${JSON.stringify(value)}`)
      }
    }
    for (const key of Object.keys(actual ?? {})) {
      if (!(key in wanted)) out.push(`${dir}/package.json ${where}[${JSON.stringify(key)}] is not a module of src/index.ts: remove it or export the module there`)
    }
  }
  compare("exports", pkg.exports, want.exports)
  compare("publishConfig.exports", pkg.publishConfig?.exports, want.published)
  for (const { file: f } of entries(dir, extra)) {
    if (!fs.existsSync(path.join(root, dir, "src", `${f}.ts`))) out.push(`${dir}: src/${f}.ts does not exist`)
  }
  return out
}

/** Rewrites both maps of a package to the expected ones. */
export const write = (dir: string, extra: Record<string, string>): void => {
  const file = path.join(root, dir, "package.json")
  const pkg = JSON.parse(fs.readFileSync(file, "utf8"))
  const want = expected(entries(dir, extra))
  pkg.exports = want.exports
  pkg.publishConfig = { ...pkg.publishConfig, exports: want.published }
  fs.writeFileSync(file, JSON.stringify(pkg, null, 2) + "\n")
}

if (import.meta.main) {
  const fix = process.argv.includes("--write")
  let bad = 0
  for (const { dir, extra } of publishable) {
    if (fix) write(dir, extra)
    for (const line of problems(dir, extra)) {
      bad++
      console.log(line)
    }
  }
  process.exit(bad === 0 ? 0 : 1)
}
