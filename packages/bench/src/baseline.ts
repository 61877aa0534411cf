/**
 * A run against an earlier one (`--baseline old.json`): every figure present in both,
 * its change (new median / old median − 1) with an interval, and a verdict. A change is
 * real only when the two 95 % intervals of the median do not overlap; otherwise it is
 * within noise. A figure measured once (no interval) gets no verdict either. A parallel figure of a machine-limited scenario (either run) gets no
 * verdict: the machine, not the code, set it.
 *
 * `--save-baseline` writes the run to `bench-results/baseline.json`, the file a later
 * `--baseline bench-results/baseline.json` reads.
 *
 * @example
 * ```ts
 * import * as Baseline from "./baseline.ts"
 *
 * console.log(Baseline.verdictOf({ unit: "ms", samples: [], n: 5, median: 10, min: 9, max: 11, low: 9.5, high: 10.5, better: "lower" },
 *   { unit: "ms", samples: [], n: 5, median: 20, min: 19, max: 21, low: 19.5, high: 20.5, better: "lower" }, false)) // "worse"
 * ```
 *
 * @since 0.1.0
 */
import { Effect, Schema } from "effect"
import { readFileSync } from "node:fs"
import type { Figure, Results } from "./Results.ts"
import { ResultsJson } from "./Results.ts"
import * as Stats from "./Stats.ts"

/**
 * What a comparison concluded about one figure.
 *
 * @since 0.1.0
 * @category models
 */
export type Verdict = "better" | "worse" | "higher" | "lower" | "within noise" | "machine-limited" | "single sample"

/**
 * One figure against its baseline.
 *
 * @since 0.1.0
 * @category models
 */
export interface Change {
  readonly scenario: string
  readonly key: string
  readonly unit: string
  readonly before: Figure
  readonly after: Figure
  /** after.median / before.median − 1. */
  readonly change: number
  /** The change's range from the two intervals: after.low / before.high − 1 … after.high / before.low − 1. */
  readonly changeLow: number
  readonly changeHigh: number
  readonly verdict: Verdict
}

/**
 * A baseline file that is not a bench document of this format.
 *
 * @since 0.1.0
 * @category errors
 */
export class BaselineUnreadable extends Schema.TaggedError<BaselineUnreadable>()("BaselineUnreadable", {
  path: Schema.String,
  /** The first problem, at most 300 characters of it. */
  problem: Schema.String
}) {}

/**
 * The verdict on one figure: within noise when the intervals overlap; else better /
 * worse when the figure says which direction is better, higher / lower when not.
 *
 * @since 0.1.0
 * @category comparing
 */
export const verdictOf = (before: Figure, after: Figure, machineLimited: boolean): Verdict => {
  // one sample has no interval: nothing can be said about its change
  if (before.n < 2 || after.n < 2) return "single sample"
  if (machineLimited && (before.parallel === true || after.parallel === true)) return "machine-limited"
  if (Stats.overlaps(before, after)) return "within noise"
  const up = after.median > before.median
  const better = after.better ?? before.better
  if (better === undefined) return up ? "higher" : "lower"
  return (better === "higher") === up ? "better" : "worse"
}

/**
 * Every figure of `current` that `baseline` has too, scenario by scenario.
 *
 * @since 0.1.0
 * @category comparing
 */
export const compare = (baseline: Results, current: Results): ReadonlyArray<Change> =>
  current.reports.flatMap((report) => {
    const old = baseline.reports.find((r) => r.scenario === report.scenario)
    if (old === undefined) return []
    const limited = report.machineLimited === true || old.machineLimited === true
    return Object.entries(report.figures).flatMap(([key, after]): Array<Change> => {
      const before = old.figures[key]
      if (before === undefined || before.flag !== undefined || after.flag !== undefined) return []
      return [{
        scenario: report.scenario,
        key,
        unit: after.unit,
        before,
        after,
        change: after.median / before.median - 1,
        changeLow: after.low / before.high - 1,
        changeHigh: after.high / before.low - 1,
        verdict: verdictOf(before, after, limited)
      }]
    })
  })

/**
 * Reads and decodes a baseline document.
 *
 * @since 0.1.0
 * @category io
 */
export const read = Effect.fn("baseline.read")(function*(path: string) {
  const text = yield* Effect.try({
    try: () => readFileSync(path, "utf8"),
    catch: (cause) => new BaselineUnreadable({ path, problem: String(cause).slice(0, 300) })
  })
  return yield* Schema.decodeUnknownEffect(ResultsJson)(text).pipe(
    Effect.mapError((error) => new BaselineUnreadable({ path, problem: error.message.slice(0, 300) }))
  )
})

/**
 * The changes as terminal lines (≤ 100 columns), the real ones first.
 *
 * @since 0.1.0
 * @category formatting
 */
export const describe = (changes: ReadonlyArray<Change>): ReadonlyArray<string> => {
  const pct = (x: number) => `${x >= 0 ? "+" : ""}${(x * 100).toFixed(1)}%`
  const real = changes.filter((c) => c.verdict !== "within noise" && c.verdict !== "machine-limited" && c.verdict !== "single sample")
  const noise = changes.length - real.length
  const keyWidth = Math.min(48, Math.max(6, ...real.map((c) => c.key.length)))
  return [
    `${real.length} of ${changes.length} figures changed beyond noise; ${noise} within noise, machine-limited or measured once`,
    ...real.map((c) =>
      `  ${c.key.slice(0, keyWidth).padEnd(keyWidth)} ${pct(c.change).padStart(8)} [${pct(c.changeLow)} … ${pct(c.changeHigh)}] ${c.verdict}`
    )
  ]
}
