import { assert, describe, it } from "@effect/vitest"
import { Agent } from "@hybrid/agent"
import { fit, progress, wrap } from "../src/cli/demo.ts"

const settled = (name: string, status: Agent.SourceReport["status"]) =>
  Agent.SourceSettled.make({ report: new Agent.SourceReport({ name, status, ms: 1234.5 }) })

describe("demo output", () => {
  it("the live line: sources awaited then settled, processing, the LLM's pieces — within 79 columns, cut at a word", () => {
    const lines = progress("hybrid 1/1", ["weather", "news", "kb"])
    assert.strictEqual(lines.line(), "  hybrid 1/1: weather …, news …, kb …")
    assert.strictEqual(lines.line(settled("kb", "ok")), "  hybrid 1/1: weather …, news …, kb ok")
    lines.line(settled("news", "timeout"))
    assert.strictEqual(lines.line(settled("weather", "ok")), "  hybrid 1/1: weather ok, news timeout, kb ok")
    assert.strictEqual(lines.line(Agent.ContextDone.make({ ms: 10, ok: 2 })), "  hybrid 1/1: weather ok, news timeout, kb ok; processed, asking the LLM")
    lines.line(Agent.Token.make({ text: "a" }))
    assert.strictEqual(lines.line(Agent.Token.make({ text: "b" })), "  hybrid 1/1: weather ok, news timeout, kb ok; LLM writing (2 pieces)")
    assert.strictEqual(lines.plain(settled("kb", "ok")), "  hybrid 1/1: kb ok after 1.23 s")

    const many = progress("sequential 10/10", ["weather", "news", "kb", "docs", "tickets", "calendar", "wiki"])
    const line = many.line(settled("calendar", "circuit-open"))
    assert.isAtMost([...line].length, 79)
    assert.isTrue(line.endsWith("…"), line)
    assert.isTrue(line.startsWith("  sequential 10/10: weather …, news …"))
    assert.notMatch(line, /[,;:]…$/)
  })

  it("fit leaves short text alone and cuts long text at a space; wrap breaks only between words", () => {
    assert.strictEqual(fit("short"), "short")
    assert.strictEqual(fit("one two three four", 12), "one two…")
    assert.strictEqual(fit("abcdefghijklmnop", 8), "abcdefg…") // one long word: cut, still within the width
    const text = "The deadline is the earlier of the inherited one and now plus the duration; past it the effect is interrupted."
    const lines = wrap(text, "    ", 40)
    for (const line of lines) assert.isAtMost(line.length, 40)
    assert.strictEqual(lines.map((l) => l.trim()).join(" "), text)
  })
})
