/**
 * What a benchmark scenario is: a name, and a run that measures Hybrid next to its peers
 * in one process run and returns the figures — never typed-in numbers.
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
 * @since 0.1.0
 * @category models
 */
export interface Scenario {
  readonly name: string
  readonly description: string
  readonly run: (options: { readonly quick: boolean }) => Effect.Effect<ScenarioReport, unknown>
}
