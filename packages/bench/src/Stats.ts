/**
 * The statistics of a bench figure: from the raw samples of its repetitions to the
 * median, min, max and a 95 % bootstrap interval of the median — computed with
 * `simple-statistics` (median, quantile, resampling), not hand-written percentile code.
 *
 * - **Interval**: percentile bootstrap of the median, 2,000 resamples drawn with a fixed
 *   seed, so the same samples always give the same interval (a report is reproducible
 *   from its JSON). With very few samples the interval is wide — at n = 3 it is close
 *   to [min, max] — which is the honest answer.
 * - **Ratios** are paired: repetition i of one variant against repetition i of the
 *   other (they ran next to each other, interleaved), so a drift of the machine moves
 *   both sides of a pair together and the ratio's interval stays narrow.
 * - **Changes** against a baseline are real only when the two intervals do not overlap.
 *
 * @example
 * ```ts
 * import * as Stats from "./Stats.ts"
 *
 * const s = Stats.summarize([10, 12, 11, 30, 11])
 * console.log(s.median, s.min, s.max, s.low, s.high) // 11 10 30 …
 * ```
 *
 * @since 0.1.0
 */
import * as ss from "simple-statistics"

/**
 * The spread of one figure over its repetitions.
 *
 * @since 0.1.0
 * @category models
 */
export interface Summary {
  /** Number of samples (repetitions). */
  readonly n: number
  readonly median: number
  readonly min: number
  readonly max: number
  /** Lower end of the 95 % bootstrap interval of the median. */
  readonly low: number
  /** Upper end of the 95 % bootstrap interval of the median. */
  readonly high: number
}

/** Resamples of the bootstrap: enough for stable 2.5 % / 97.5 % quantiles. */
const RESAMPLES = 2_000
/** The fixed seed of the bootstrap's random source. */
const SEED = 0x5eed_1234

/**
 * A seeded uniform random source in [0, 1) (mulberry32): `simple-statistics` takes the
 * random source as an argument, and a fixed one makes the interval reproducible.
 */
const seeded = (seed: number): () => number => {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296
  }
}

/**
 * The 95 % (or `level`) percentile-bootstrap interval of the median of `samples`.
 * A single sample gives the degenerate interval [x, x].
 *
 * @example
 * ```ts
 * import * as Stats from "./Stats.ts"
 *
 * const [low, high] = Stats.bootstrapMedian([1, 2, 3, 4, 5])
 * console.log(low <= 3 && 3 <= high) // true
 * ```
 *
 * @since 0.1.0
 * @category statistics
 */
export const bootstrapMedian = (samples: ReadonlyArray<number>, level = 0.95): readonly [number, number] => {
  const xs = [...samples]
  if (xs.length < 2) return [xs[0] ?? Number.NaN, xs[0] ?? Number.NaN]
  const random = seeded(SEED)
  const medians = Array.from({ length: RESAMPLES }, () => ss.median(ss.sampleWithReplacement(xs, xs.length, random)))
  const tail = (1 - level) / 2
  return [ss.quantile(medians, tail), ss.quantile(medians, 1 - tail)]
}

/**
 * Median, min, max and the bootstrap interval of a sample, over its finite values
 * (`n` counts them; with none, every statistic is `NaN`).
 *
 * @example
 * ```ts
 * import * as Stats from "./Stats.ts"
 *
 * console.log(Stats.summarize([3, 1, 2]).median) // 2
 * ```
 *
 * @since 0.1.0
 * @category statistics
 */
export const summarize = (samples: ReadonlyArray<number>): Summary => {
  // a sample that is not a finite number (a p99 of no successful call, a ratio over 0)
  // stays in the raw samples but does not count
  const xs = samples.filter(Number.isFinite)
  if (xs.length === 0) return { n: 0, median: Number.NaN, min: Number.NaN, max: Number.NaN, low: Number.NaN, high: Number.NaN }
  const [low, high] = bootstrapMedian(xs)
  return { n: xs.length, median: ss.median(xs), min: ss.min(xs), max: ss.max(xs), low, high }
}

/**
 * The `p`-quantile (0–1) of a sample, e.g. a p99 latency within one repetition
 * (`NaN` for an empty sample).
 *
 * @example
 * ```ts
 * import * as Stats from "./Stats.ts"
 *
 * console.log(Stats.quantile([1, 2, 3, 4], 0.5)) // 2.5
 * ```
 *
 * @since 0.1.0
 * @category statistics
 */
export const quantile = (samples: ReadonlyArray<number>, p: number): number =>
  samples.length === 0 ? Number.NaN : ss.quantile([...samples], p)

/**
 * The median of a sample (`NaN` for an empty one).
 *
 * @example
 * ```ts
 * import * as Stats from "./Stats.ts"
 *
 * console.log(Stats.median([4, 1, 3])) // 3
 * ```
 *
 * @since 0.1.0
 * @category statistics
 */
export const median = (samples: ReadonlyArray<number>): number => samples.length === 0 ? Number.NaN : ss.median([...samples])

/**
 * Paired ratios `a[i] / b[i]`, over the repetitions both sides have (the first
 * `min(a.length, b.length)`: repetitions are interleaved, so pair i ran side by side).
 *
 * @example
 * ```ts
 * import * as Stats from "./Stats.ts"
 *
 * console.log(Stats.pairedRatios([10, 20], [5, 5])) // [2, 4]
 * ```
 *
 * @since 0.1.0
 * @category statistics
 */
export const pairedRatios = (a: ReadonlyArray<number>, b: ReadonlyArray<number>): Array<number> =>
  Array.from({ length: Math.min(a.length, b.length) }, (_, i) => a[i]! / b[i]!)

/**
 * Whether two intervals `[low, high]` share a point: when they do, a difference between
 * the two medians is within noise.
 *
 * @example
 * ```ts
 * import * as Stats from "./Stats.ts"
 *
 * console.log(Stats.overlaps({ low: 1, high: 2 }, { low: 3, high: 4 })) // false
 * ```
 *
 * @since 0.1.0
 * @category statistics
 */
export const overlaps = (
  a: { readonly low: number; readonly high: number },
  b: { readonly low: number; readonly high: number }
): boolean => a.low <= b.high && b.low <= a.high
