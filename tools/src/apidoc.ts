/**
 * The API reference as written in the sources: every export of every public module of the
 * publishable packages, its doc comment, and the `@example` blocks of those comments.
 *
 * The public modules are the ones of each package's `src/index.ts` plus the extra entries
 * of `exports.ts` (`@hybrid/core/worker`): what a user can import. An export is a
 * top-level declaration (`export const` / `function` / `class` / `interface` / `type` /
 * `namespace` / `enum`), an `export * as X from`, or a name of an `export { … } from` /
 * `export type { … } from` block; its doc comment is the `/** … *\/` right above it.
 *
 * The sources follow one layout (a declaration's `export` at the start of its line,
 * re-exported names one per line), which is what a scan by lines relies on; a declaration
 * it cannot read is a failure of the check, never a silent pass: `exports` of a file
 * with no export is an error.
 *
 * `node tools/src/apidoc.ts` prints each public module's count of exports and of those
 * without an `@example`, and lists the missing ones.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { entries, publishable, root } from "./exports.ts"
import { type Snippet, split } from "./snippets.ts"

/** A public module: the package, the subpath a user imports, and the file (relative to the root). */
export interface PublicModule {
  /** `@hybrid/core` */
  readonly pkg: string
  /** `Gather`, or `index`/`worker` for entries that are not namespaces of the index */
  readonly name: string
  /** `packages/core/src/Gather.ts` */
  readonly file: string
}

/** Every public module of the publishable packages, sorted by file. */
export const publicModules = (): ReadonlyArray<PublicModule> =>
  publishable.flatMap(({ dir, extra }) => {
    const pkg = JSON.parse(fs.readFileSync(path.join(root, dir, "package.json"), "utf8")).name as string
    return entries(dir, extra).map((e) => ({
      pkg,
      name: e.subpath.slice(2),
      file: `${dir}/src/${e.file}.ts`
    }))
  })

/** One doc comment: where it ends, its text (without the `*` margin), and its `@example` code blocks. */
export interface DocComment {
  /** 1-based line of the `/**` */
  readonly start: number
  /** 1-based line of the `*\/` */
  readonly end: number
  readonly text: string
  readonly examples: ReadonlyArray<{ readonly code: string; readonly line: number }>
}

/** One export of a module: its name, kind, line, and the doc comment right above it (if any). */
export interface Export {
  readonly name: string
  readonly kind: string
  readonly line: number
  readonly doc: DocComment | undefined
  /** A re-export's origin: the module it comes from (as written) and its name there. */
  readonly from?: { readonly specifier: string; readonly name: string } | undefined
}

const margin = /^\s*\* ?/

/** The doc comments of a source text, in order. */
export const docComments = (source: string): ReadonlyArray<DocComment> => {
  const lines = source.split("\n")
  const out: Array<DocComment> = []
  for (let i = 0; i < lines.length; i++) {
    if (!/^\s*\/\*\*/.test(lines[i]!)) continue
    const start = i
    while (i < lines.length && !lines[i]!.includes("*/")) i++
    // inner lines, without the margin; `line` of each is its 1-based source line
    const inner = lines.slice(start, i + 1).map((text, k) => ({
      text: text.replace(/^\s*\/\*\*\s?/, "").replace(/\s*\*\/\s*$/, "").replace(margin, ""),
      line: start + k + 1
    }))
    const examples: Array<{ code: string; line: number }> = []
    let inExample = false
    for (let k = 0; k < inner.length; k++) {
      const t = inner[k]!.text
      if (/^@example\b/.test(t.trim())) inExample = true
      else if (/^@\w/.test(t.trim())) inExample = false
      if (!inExample || !/^```(ts|typescript)\b/.test(t.trim())) continue
      const from = k + 1
      let to = from
      while (to < inner.length && inner[to]!.text.trim() !== "```") to++
      examples.push({ code: inner.slice(from, to).map((l) => l.text).join("\n"), line: inner[from]?.line ?? inner[k]!.line })
      k = to
    }
    out.push({ start: start + 1, end: i + 1, text: inner.map((l) => l.text).join("\n"), examples })
  }
  return out
}

const declaration =
  /^export (?:declare )?(?:default )?(?:async )?(?:abstract )?(const|let|var|function\*?|class|interface|type|namespace|enum) (\w+)/
const namespaceExport = /^export \* as (\w+) from /
const inlineReexport = /^export (?:type )?\{([^}]*)\}/
const reexportOpen = /^export (?:type )?\{\s*$/
const reexportName = /^\s+(?:type )?(\w+)(?: as (\w+))?,?\s*$/

/** The exports of a source text, one per name (an overloaded function is one export: its first declaration). */
export const exportsOf = (source: string): ReadonlyArray<Export> => {
  const lines = source.split("\n")
  const comments = docComments(source)
  const byEnd = new Map(comments.map((c) => [c.end, c]))
  /** The doc comment whose `*\/` is the last non-blank line before `line` (1-based). */
  const docAbove = (line: number): DocComment | undefined => {
    let j = line - 1
    while (j >= 1 && lines[j - 1]!.trim() === "") j--
    return byEnd.get(j)
  }
  const out = new Map<string, Export>()
  const add = (name: string, kind: string, line: number, from?: Export["from"]) => {
    if (!out.has(name)) out.set(name, { name, kind, line, doc: docAbove(line), from })
  }
  const specifierOf = (text: string) => /from\s+"([^"]+)"/.exec(text)?.[1]
  for (let i = 0; i < lines.length; i++) {
    const text = lines[i]!
    const line = i + 1
    let m: RegExpExecArray | null
    if ((m = declaration.exec(text)) !== null) add(m[2]!, m[1]!.replace("*", ""), line)
    else if ((m = namespaceExport.exec(text)) !== null) add(m[1]!, "namespace", line)
    else if (reexportOpen.test(text)) {
      const names: Array<{ name: string; original: string; line: number }> = []
      for (i++; i < lines.length && !/^\}/.test(lines[i]!); i++) {
        const n = reexportName.exec(lines[i]!)
        if (n !== null && !lines[i]!.trim().startsWith("*")) names.push({ name: n[2] ?? n[1]!, original: n[1]!, line: i + 1 })
      }
      const specifier = specifierOf(lines[i] ?? "")
      for (const n of names) add(n.name, "re-export", n.line, specifier === undefined ? undefined : { specifier, name: n.original })
    } else if ((m = inlineReexport.exec(text)) !== null) {
      const specifier = specifierOf(text)
      for (const part of m[1]!.split(",")) {
        const n = /(?:type\s+)?(\w+)(?:\s+as\s+(\w+))?/.exec(part.trim())
        if (n !== null) add(n[2] ?? n[1]!, "re-export", line, specifier === undefined ? undefined : { specifier, name: n[1]! })
      }
    }
  }
  return [...out.values()]
}

/** A public export: the module it belongs to and the export itself. */
export interface PublicExport extends Export {
  readonly module: PublicModule
}

/** Every export of every public module (an `index.ts` of `export * as` lines is not one: its modules are). */
export const publicExports = (): ReadonlyArray<PublicExport> =>
  publicModules().flatMap((module) => {
    const list = exportsOf(fs.readFileSync(path.join(root, module.file), "utf8"))
    if (list.length === 0) throw new Error(`${module.file}: no export found (is the scan of apidoc.ts out of date?)`)
    // an `@internal` export is exported for the package's own modules, not for users
    return list.filter((e) => !/^@internal\b/m.test(e.doc?.text ?? "")).map((e) => ({ ...e, module }))
  })

/** The text of a doc comment before its first tag (empty when it has none). */
export const summary = (doc: DocComment | undefined): string =>
  (doc?.text ?? "").split(/^@/m)[0]!.trim()

/**
 * What an export says it is: its own comment's summary or, for a re-export whose specifier
 * has none, the summary of the declaration it re-exports (what TypeDoc and editors show).
 */
export const description = (e: PublicExport): string => {
  const own = summary(e.doc)
  if (own !== "" || e.from === undefined || !e.from.specifier.startsWith(".")) return own
  const file = path.join(root, path.dirname(e.module.file), e.from.specifier)
  if (!fs.existsSync(file)) return own
  const origin = exportsOf(fs.readFileSync(file, "utf8")).find((o) => o.name === e.from!.name)
  return summary(origin?.doc)
}

/** `Gather.all` — how messages name an export. */
export const label = (e: PublicExport): string => `${e.module.name}.${e.name}`

/**
 * Every `@example` block of the public modules' doc comments (the module's own comment,
 * the exports', and their members'), as snippets labelled with what they document.
 */
export const exampleSnippets = (): ReadonlyArray<Snippet> =>
  publicModules().flatMap((module) => {
    const source = fs.readFileSync(path.join(root, module.file), "utf8")
    const list = exportsOf(source)
    return docComments(source).flatMap((doc) => {
      // the export this comment documents: the first one declared after it (none: the module's comment)
      const next = list.find((e) => e.line > doc.end)
      const what = doc.start === 1 || next === undefined ? `${module.name} (module)` : `${module.name}.${next.name}`
      return doc.examples.map((example) => ({
        source: module.file,
        label: what,
        files: split(example.code, example.line)
      }))
    })
  })

if (import.meta.main) {
  // `--list`: name each export without an example
  const all = publicExports()
  const without = all.filter((e) => e.doc === undefined || e.doc.examples.length === 0)
  for (const module of publicModules()) {
    const mine = without.filter((e) => e.module.file === module.file)
    console.log(`${module.pkg}/${module.name}: ${all.filter((e) => e.module.file === module.file).length} exports, ${mine.length} without @example`)
    if (process.argv.includes("--list")) for (const e of mine) console.log(`  ${module.file}:${e.line} ${e.name}`)
  }
  console.log(`total: ${all.length} exports, ${without.length} without @example, ${exampleSnippets().length} examples`)
}
