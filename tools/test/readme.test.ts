import { describe, expect, it } from "vitest"
import { fromMarkdown, readmes, typecheck } from "../src/snippets.ts"

describe("README code", () => {
  it("every ```ts block of the READMEs compiles", () => {
    const snippets = readmes().flatMap(fromMarkdown)
    expect(snippets.length).toBeGreaterThan(10)
    // Each line: where the block's error is (file:line), and tsc's message.
    expect(typecheck("readme", snippets).map((p) => `${p.where}: ${p.message}`)).toEqual([])
  }, 120_000)
})
