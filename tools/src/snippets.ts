/**
 * Code that the documentation shows must compile: every ```ts block of the READMEs and
 * every `@example` of the public modules' doc comments, type-checked by tsc as the
 * workspace's own code is (`tsconfig.base.json`, `@hybrid/*` resolved to the sources).
 *
 * A block is one module; a block with `// name.ts` lines at the start of a line (the
 * README's `primes.ts` / `primes.worker.ts` / `main.ts`) is several, split there, so
 * relative imports between them resolve. A README block preceded by
 * `<!-- snippet: not checked -->` is skipped (for fragments that are not programs).
 *
 * tsc's errors are mapped back to the documentation: `README.md:362: error TS2304: …`.
 */
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { root } from "./exports.ts"

/** One file of a snippet: its name and text, and where its first line is in the source. */
export interface SnippetFile {
  readonly name: string
  readonly text: string
  readonly line: number
}

/** A code block of the documentation: where it is, and the files it is made of. */
export interface Snippet {
  /** The documentation file, relative to the workspace root. */
  readonly source: string
  /** What the block documents, for messages (`Gather.all`), when known. */
  readonly label?: string | undefined
  readonly files: ReadonlyArray<SnippetFile>
}

const fileMarker = /^\/\/ ([\w.-]+\.ts)\b/

/** Splits a block at its `// name.ts` lines; `firstLine` is the source line of the block's first line. */
export const split = (code: string, firstLine: number): ReadonlyArray<SnippetFile> => {
  const lines = code.split("\n")
  const files: Array<{ name: string; lines: Array<string>; line: number }> = []
  lines.forEach((text, i) => {
    const marker = fileMarker.exec(text)
    if (marker !== null && (files.length === 0 || !files.some((f) => f.name === marker[1]))) {
      files.push({ name: marker[1]!, lines: [], line: firstLine + i })
    } else if (files.length === 0) {
      files.push({ name: "main.ts", lines: [], line: firstLine + i })
    }
    files[files.length - 1]!.lines.push(text)
  })
  return files.map((f) => ({ name: f.name, text: f.lines.join("\n") + "\n", line: f.line }))
}

/** The ```ts blocks of a Markdown file. */
export const fromMarkdown = (file: string): ReadonlyArray<Snippet> => {
  const lines = fs.readFileSync(path.join(root, file), "utf8").split("\n")
  const out: Array<Snippet> = []
  for (let i = 0; i < lines.length; i++) {
    if (lines[i]!.trim() !== "```ts") continue
    const start = i + 1
    let end = start
    while (end < lines.length && lines[end]!.trim() !== "```") end++
    const skipped = i > 0 && /<!--\s*snippet:\s*not checked/.test(lines[i - 1]!)
    if (!skipped) out.push({ source: file, files: split(lines.slice(start, end).join("\n"), start + 1) })
    i = end
  }
  return out
}

/** The READMEs whose blocks are checked: the root's and each package's. */
export const readmes = (): ReadonlyArray<string> => [
  "README.md",
  ...fs.readdirSync(path.join(root, "packages"))
    .map((p) => `packages/${p}/README.md`)
    .filter((f) => fs.existsSync(path.join(root, f)))
]

/**
 * A relative import that names no file of the snippet names a file of `examples/` (the
 * README's snippets are the lessons' code) or of `examples/workers/` (`./primes.ts`, the
 * CPU task that the README and the doc comments' worker examples share): it is rewritten
 * to that file's path.
 */
const resolveBeside = (snippet: Snippet, folder: string, text: string): string =>
  text.replace(/(from\s+|import\s*\(\s*)"(\.\.?\/[^"]+)"/g, (whole, lead: string, specifier: string) => {
    if (snippet.files.some((f) => `./${f.name}` === specifier)) return whole
    const beside = ["examples", "examples/workers"].map((dir) => path.join(root, dir, specifier)).find(fs.existsSync)
    if (beside === undefined) return whole
    return `${lead}${JSON.stringify(path.relative(folder, beside).split(path.sep).join("/"))}`
  })

/** One tsc diagnostic, mapped back to the documentation. */
export interface Problem {
  readonly where: string
  readonly message: string
}

/**
 * Type-checks snippets in one tsc run (each in its own folder under
 * `tools/.snippets/<name>`); returns tsc's errors mapped back to their sources.
 */
export const typecheck = (name: string, snippets: ReadonlyArray<Snippet>): ReadonlyArray<Problem> => {
  const dir = path.join(root, "tools/.snippets", name)
  fs.rmSync(dir, { recursive: true, force: true })
  fs.mkdirSync(dir, { recursive: true })
  const origin = new Map<string, { snippet: Snippet; file: SnippetFile }>()
  snippets.forEach((snippet, i) => {
    const folder = path.join(dir, String(i))
    fs.mkdirSync(folder)
    for (const file of snippet.files) {
      // `export {}` keeps a block without imports a module of its own
      fs.writeFileSync(path.join(folder, file.name), resolveBeside(snippet, folder, file.text) + "export {}\n")
      origin.set(path.relative(dir, path.join(folder, file.name)), { snippet, file })
    }
  })
  fs.writeFileSync(
    path.join(dir, "tsconfig.json"),
    JSON.stringify({ extends: "../../../tsconfig.base.json", include: ["**/*.ts"] }, null, 2)
  )
  let output = ""
  try {
    execFileSync(process.execPath, [path.join(root, "node_modules/typescript/bin/tsc"), "-p", dir, "--pretty", "false"], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"]
    })
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string }
    output = `${e.stdout ?? ""}${e.stderr ?? ""}`
  }
  const problems: Array<Problem> = []
  for (const line of output.split("\n")) {
    const m = /^(.+?)\((\d+),(\d+)\): (error .*)$/.exec(line.trim())
    if (m === null) {
      if (line.trim().length > 0 && !/^\s/.test(line)) problems.push({ where: name, message: line.trim() })
      continue
    }
    const found = origin.get(path.relative(dir, path.resolve(root, m[1]!)))
    if (found === undefined) {
      problems.push({ where: m[1]!, message: m[4]! })
      continue
    }
    const { file, snippet } = found
    const label = snippet.label === undefined ? "" : ` (${snippet.label})`
    problems.push({ where: `${snippet.source}:${file.line + Number(m[2]) - 1}${label}`, message: m[4]! })
  }
  return problems
}
