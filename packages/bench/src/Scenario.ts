/**
 * What a benchmark scenario is: a name, and a run that measures Hybrid next to its peers
 * in one process run and returns the figures — never typed-in numbers.
 *
 * A scenario reports how far along it is through an optional `Progress` (the CLI draws a
 * bar from it); a scenario that never calls it still runs, and the CLI shows elapsed time.
 *
 * @since 0.1.0
 */
import type { Effect } from "effect"

/** One row of a scenario's terminal table. */
export type Row = Readonly<Record<string, string | number>>

/**
 * @since 0.1.0
 * @category models
 */
export interface ScenarioReport {
  readonly scenario: string
  /** Named figures (ratios, rates, times in ms), the ones a closing note or a chart quotes. */
  readonly figures: Readonly<Record<string, number>>
  /** The table printed in the terminal, one row per measured variant. */
  readonly rows: ReadonlyArray<Row>
  /** Anything a reader needs to interpret the figures (skipped peers, noise). */
  readonly notes: ReadonlyArray<string>
}

/**
 * How a scenario says how far it has come: `total(n)` announces (or revises) the number
 * of steps, `tick()` marks one done. Plain synchronous callbacks, so a scenario can call
 * them from Promise code as well as from inside an `Effect.gen`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Progress {
  readonly total: (steps: number) => void
  readonly tick: (steps?: number) => void
}

/**
 * A `Progress` that ignores everything: what a scenario uses when none is given.
 *
 * @since 0.1.0
 * @category constructors
 */
export const silent: Progress = { total: () => {}, tick: () => {} }

/**
 * @since 0.1.0
 * @category models
 */
export interface RunOptions {
  /** A short run (CI, a first look): fewer sizes and repetitions. */
  readonly quick: boolean
  readonly progress?: Progress | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Scenario {
  readonly name: string
  readonly description: string
  readonly run: (options: RunOptions) => Effect.Effect<ScenarioReport, unknown>
}

/**
 * The median of a non-empty sample (`NaN` for an empty one).
 *
 * @since 0.1.0
 * @category utils
 */
export const median = (xs: ReadonlyArray<number>): number => {
  if (xs.length === 0) return Number.NaN
  const sorted = [...xs].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

/**
 * The `p`-th percentile (0–100) of a sample, nearest-rank (`NaN` for an empty one).
 *
 * @since 0.1.0
 * @category utils
 */
export const percentile = (xs: ReadonlyArray<number>, p: number): number => {
  if (xs.length === 0) return Number.NaN
  const sorted = [...xs].sort((a, b) => a - b)
  const rank = Math.ceil((p / 100) * sorted.length)
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!
}
