/**
 * Terminal output fits 100 columns: a wide table is split into parts that repeat the
 * key columns, and notes wrap at word boundaries.
 */
import { assert, describe, it } from "@effect/vitest"
import { figure } from "../src/Scenario.ts"
import * as Table from "../src/table.ts"

describe("table", () => {
  it("a table wider than 100 columns is split, every part keeping n and variant", () => {
    const rows = [1_000, 100_000].flatMap((n) =>
      ["asyncio.Semaphore(N/10) (Python)", "Gather.all, concurrency N/10"].map((variant) => ({
        n,
        variant,
        "wall ms": figure("ms", [1012.3, 1010.1, 1030.9]),
        "overhead µs/task": figure("µs/task", [12.3, 10.1, 30.9]),
        "heap B/task": figure("B/task", [1712, 1700, 1750]),
        "RSS B/task": figure("B/task", [0, 0, 262], { flag: "below page granularity" })
      }))
    )
    const text = Table.render(rows)
    const lines = text.split("\n")
    assert.isTrue(lines.every((line) => line.length <= 100), lines.find((line) => line.length > 100))
    const headers = lines.filter((line) => line.startsWith("variant"))
    assert.isAbove(headers.length, 1)
    assert.isTrue(headers.every((header) => header.includes(" n ") || header.includes("  n")))
    assert.include(text, "1012 [1010–1031]")
    assert.include(text, "0 (below page granularity)")
  })

  it("notes wrap at word boundaries under an indented prefix", () => {
    const wrapped = Table.wrap("word ".repeat(60).trim(), "  note: ")
    const lines = wrapped.split("\n")
    assert.isAbove(lines.length, 1)
    assert.isTrue(lines.every((line) => line.length <= 100))
    assert.isTrue(lines.slice(1).every((line) => line.startsWith("        word")))
  })

  it("numbers print with the digits they need", () => {
    assert.deepStrictEqual([0.012345, 15.234, 1.5, 12345.6, 3].map(Table.formatNumber), ["0.0123", "15.2", "1.5", "12346", "3"])
  })
})

describe("markdown", () => {
  it("renders the run facts, every table with median [min–max], and the machine-limited guard", async () => {
    const Markdown = await import("../src/markdown.ts")
    const Fixtures = await import("./fixtures.ts")
    const text = Markdown.render(Fixtures.document([Fixtures.result(Fixtures.cpu()), Fixtures.result(Fixtures.resilience())]))
    assert.include(text, "Machine: 4 cores (Test CPU @ 3.0GHz)")
    assert.include(text, "effect 4.1.0")
    assert.include(text, "Commit 0123456789ab (dirty)")
    assert.include(text, "| variant | 8 tasks ms | speedup | tiny tasks/s |")
    assert.include(text, "| NodeRunner (4 workers) | 700 [690–710] | 3.4 [3.3–3.5] | 9000 [8900–9100] |")
    assert.include(text, "**machine-limited**")
  })
})
