import * as fs from "node:fs"
import { describe, expect, it } from "vitest"
import { description, exampleSnippets, label, publicExports } from "../src/apidoc.ts"
import { typecheck } from "../src/snippets.ts"

/**
 * Exports that had no `@example` when this check was written, one `file Module.export` a
 * line. The list may only shrink: an export not in it must have an example, and an entry
 * that has one now (or no longer exists) must be removed. When it is empty, delete it.
 */
const baselineFile = new URL("./examples-missing.txt", import.meta.url)
const baseline = fs.existsSync(baselineFile)
  ? fs.readFileSync(baselineFile, "utf8").split("\n").filter((l) => l.trim() !== "" && !l.startsWith("#"))
  : []

describe("API reference", () => {
  it("every export of every public module has a doc comment with an @example", () => {
    const exports = publicExports()
    expect(exports.length).toBeGreaterThan(300)
    const without = exports.filter((e) => e.doc === undefined || e.doc.examples.length === 0)
    const key = (e: (typeof exports)[number]) => `${e.module.file} ${label(e)}`
    // Each line: where the export is, its name as a user writes it, and what is missing.
    const missing = without
      .filter((e) => !baseline.includes(key(e)))
      .map((e) => `${e.module.file}:${e.line} ${label(e)}: ${e.doc === undefined ? "no doc comment" : "no @example"}`)
    expect(missing).toEqual([])
    // Each line: an entry of examples-missing.txt to remove (it has an example now, or is gone).
    const stale = baseline.filter((entry) => !without.some((e) => key(e) === entry))
    expect(stale).toEqual([])
  })

  it("every export of every public module says what it is (a re-export may say it where it is declared)", () => {
    // Each line: where the export is, and its name as a user writes it.
    const undescribed = publicExports()
      .filter((e) => description(e) === "")
      .map((e) => `${e.module.file}:${e.line} ${label(e)}: its doc comment has tags but no description`)
    expect(undescribed).toEqual([])
  })

  it("every @example of the public modules compiles", () => {
    const snippets = exampleSnippets()
    expect(snippets.length).toBeGreaterThan(100)
    // Each line: file:line (Module.export) of the example's error, and tsc's message.
    expect(typecheck("examples", snippets).map((p) => `${p.where}: ${p.message}`)).toEqual([])
  }, 120_000)
})
