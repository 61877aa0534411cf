/**
 * The statistics every figure is reported with, on known samples: median, min/max, the
 * bootstrap interval of the median (deterministic, inside [min, max], narrow for a large
 * tight sample), paired ratios and the figure constructors built on them.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Scenario from "../src/Scenario.ts"
import * as Stats from "../src/Stats.ts"

describe("Stats", () => {
  it("summarize: median, min and max of known samples", () => {
    const odd = Stats.summarize([5, 1, 4, 2, 3])
    assert.deepStrictEqual([odd.n, odd.median, odd.min, odd.max], [5, 3, 1, 5])
    const even = Stats.summarize([10, 40, 20, 30])
    assert.deepStrictEqual([even.n, even.median, even.min, even.max], [4, 25, 10, 40])
  })

  it("the interval of the median contains the median and lies within [min, max]", () => {
    for (const xs of [[5, 1, 4, 2, 3], [10, 12, 11, 30, 11], [100, 101, 99], [1, 1000, 2, 3, 999, 4, 5]]) {
      const s = Stats.summarize(xs)
      assert.isTrue(s.min <= s.low && s.low <= s.median && s.median <= s.high && s.high <= s.max, JSON.stringify(s))
    }
  })

  it("the interval is reproducible: the same samples give the same interval", () => {
    const xs = [10.2, 11.9, 10.8, 13.1, 10.1, 12.2, 10.9]
    assert.deepStrictEqual(Stats.bootstrapMedian(xs), Stats.bootstrapMedian(xs))
  })

  it("a constant or single sample has a degenerate interval", () => {
    assert.deepStrictEqual(Stats.bootstrapMedian([7, 7, 7, 7, 7]), [7, 7])
    assert.deepStrictEqual(Stats.bootstrapMedian([7]), [7, 7])
  })

  it("an outlier widens the interval only on its side", () => {
    // 30 is one sample of five: the median stays 11 and the lower end 10
    const s = Stats.summarize([10, 12, 11, 30, 11])
    assert.strictEqual(s.median, 11)
    assert.strictEqual(s.low, 10)
  })

  it("a large, tight sample has a narrow interval around its median", () => {
    const xs = Array.from({ length: 201 }, (_, i) => 100 + (i % 21) - 10) // 90 … 110, median 100
    const [low, high] = Stats.bootstrapMedian(xs)
    assert.strictEqual(Stats.median(xs), 100)
    assert.isTrue(low >= 98 && high <= 102, `[${low}, ${high}]`)
  })

  it("samples that are not finite numbers do not count", () => {
    const s = Stats.summarize([1, Number.NaN, 3, Number.POSITIVE_INFINITY, 2])
    assert.deepStrictEqual([s.n, s.median, s.min, s.max], [3, 2, 1, 3])
    assert.isNaN(Stats.summarize([Number.NaN]).median)
  })

  it("quantile: p50 and p99 within one repetition", () => {
    const xs = Array.from({ length: 100 }, (_, i) => i + 1) // 1 … 100
    assert.strictEqual(Stats.quantile(xs, 0.5), 50.5)
    assert.closeTo(Stats.quantile(xs, 0.99), 99.01, 1e-9) // interpolated between the 99th and 100th
    assert.isNaN(Stats.quantile([], 0.5))
  })

  it("paired ratios pair repetition i with repetition i, over the repetitions both have", () => {
    assert.deepStrictEqual(Stats.pairedRatios([10, 20, 30], [5, 10]), [2, 2])
  })

  it("overlaps: touching intervals overlap, separate ones do not", () => {
    assert.isTrue(Stats.overlaps({ low: 1, high: 2 }, { low: 2, high: 3 }))
    assert.isFalse(Stats.overlaps({ low: 1, high: 2 }, { low: 2.5, high: 3 }))
  })

  it("Scenario.ratio is paired: a drift that moves both sides leaves the ratio tight", () => {
    // both variants slow down 3× over the run; each pair's ratio stays exactly 2
    const a = Scenario.figure("ms", [20, 40, 60])
    const b = Scenario.figure("ms", [10, 20, 30])
    const r = Scenario.ratio(a, b)
    assert.deepStrictEqual([r.unit, r.median, r.min, r.max, r.low, r.high], ["×", 2, 2, 2, 2, 2])
  })

  it("Scenario.interleave runs repetition-major and rotates the order", () => {
    const order: Array<string> = []
    const out = Effect.runSync(
      Scenario.interleave({ repetitions: 3, variants: ["a", "b", "c"] }, (v, rep) => Effect.sync(() => (order.push(v), rep)))
    )
    assert.deepStrictEqual(order, ["a", "b", "c", "b", "c", "a", "c", "a", "b"])
    assert.deepStrictEqual(out, { a: [0, 1, 2], b: [0, 1, 2], c: [0, 1, 2] })
  })

  it("repetitions: 5 in a full run, 3 when quick, never fewer than 3", () => {
    assert.strictEqual(Scenario.repetitions({ quick: false }), 5)
    assert.strictEqual(Scenario.repetitions({ quick: true }), 3)
    assert.strictEqual(Scenario.repetitions({ quick: true, repetitions: 1 }), 3)
    assert.strictEqual(Scenario.repetitions({ quick: false, repetitions: 9 }), 9)
  })
})
