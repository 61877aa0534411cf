/**
 * One bench run: the chosen scenarios one after the other, each turned into a
 * `ScenarioResult` (its report plus duration, load before and after, the machine-limited
 * guard), with the whole document saved after every scenario.
 *
 * What a run keeps when it does not finish:
 * - stopped (Ctrl-C, SIGTERM, a crash of the process): the last document saved holds every
 *   scenario finished so far, its `pending` naming the ones that were still to run;
 * - a scenario that fails: its error goes under `failed` (a short, one-line message) and
 *   the run goes on with the next one; the CLI exits non-zero at the end.
 *
 * The CLI (`main.ts`) gives the terminal output, the progress bars and where to save;
 * tests give fake scenarios and an in-memory `save`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import * as Facts from "./facts.ts"
 * import * as Run from "./Run.ts"
 * import type { Scenario } from "./Scenario.ts"
 *
 * const noop: Scenario = {
 *   name: "noop",
 *   description: "does nothing",
 *   run: () => Effect.succeed({ scenario: "noop", figures: {}, rows: [], notes: [] })
 * }
 * const results = Run.run({
 *   scenarios: [noop],
 *   quick: true,
 *   repetitions: 3,
 *   facts: Facts.runFacts({ quick: true, repetitions: 3 }),
 *   save: () => Effect.void
 * })
 * ```
 *
 * @since 0.1.0
 */
import { Cause, Effect, type Scope } from "effect"
import { isMachineLimited } from "./Control.ts"
import * as Facts from "./facts.ts"
import { FORMAT, type Results, type RunFacts, type ScenarioResult } from "./Results.ts"
import { type Progress, type Scenario, silent } from "./Scenario.ts"

/**
 * What a run needs: the scenarios and their settings, the run facts, and the hooks the
 * CLI fills in (a test leaves the optional ones out).
 *
 * @since 0.1.0
 * @category models
 */
export interface Plan {
  readonly scenarios: ReadonlyArray<Scenario>
  readonly quick: boolean
  readonly repetitions: number
  readonly facts: RunFacts
  /** The earlier run compared against, recorded in the document. */
  readonly baseline?: Results["baseline"] | undefined
  /** Saves the document so far: called after every scenario and once at the end. */
  readonly save: (document: Results) => Effect.Effect<void>
  /** A progress bar for one scenario, for as long as it runs. */
  readonly progress?: ((scenario: Scenario) => Effect.Effect<Progress & { readonly finish: () => void }, never, Scope.Scope>) | undefined
  /** Called before a scenario starts, and with its result or its failure. */
  readonly onStart?: ((scenario: Scenario) => Effect.Effect<void>) | undefined
  readonly onResult?: ((result: ScenarioResult) => Effect.Effect<void>) | undefined
  readonly onFailure?: ((failure: Failure) => Effect.Effect<void>) | undefined
}

/**
 * A scenario that failed: its name and the first line of its error (at most 300
 * characters).
 *
 * @since 0.1.0
 * @category models
 */
export interface Failure {
  readonly scenario: string
  readonly error: string
}

const firstLine = (cause: Cause.Cause<unknown>): string => {
  const error = Cause.squash(cause)
  const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error)
  return (text.split("\n")[0] ?? "").slice(0, 300)
}

/**
 * Runs every scenario of `plan` in order and returns the complete document (also given
 * to `plan.save` last). An interruption stops at once; what was saved before stays.
 *
 * @since 0.1.0
 * @category running
 */
export const run = Effect.fn("Run.run")(function*(plan: Plan) {
  const started = performance.now()
  const reports: Array<ScenarioResult> = []
  const failed: Array<Failure> = []
  const document = (pending: ReadonlyArray<string>): Results => ({
    format: FORMAT,
    facts: { ...plan.facts, loadAfter: Facts.loadAverage() },
    durationMs: performance.now() - started,
    reports: [...reports],
    ...(pending.length === 0 ? {} : { pending }),
    ...(failed.length === 0 ? {} : { failed: [...failed] }),
    ...(plan.baseline === undefined ? {} : { baseline: plan.baseline })
  })
  for (const [index, scenario] of plan.scenarios.entries()) {
    if (plan.onStart !== undefined) yield* plan.onStart(scenario)
    const loadBefore = Facts.loadAverage()
    const t0 = performance.now()
    const outcome = yield* Effect.exit(Effect.scoped(Effect.gen(function*() {
      const bar = plan.progress === undefined ? { ...silent, finish: () => {} } : yield* plan.progress(scenario)
      const report = yield* scenario.run({ quick: plan.quick, repetitions: plan.repetitions, progress: bar })
      bar.finish()
      return report
    })))
    if (outcome._tag === "Failure") {
      if (Cause.hasInterruptsOnly(outcome.cause)) return yield* Effect.failCause(outcome.cause)
      const failure = { scenario: scenario.name, error: firstLine(outcome.cause) }
      failed.push(failure)
      if (plan.onFailure !== undefined) yield* plan.onFailure(failure)
    } else {
      const report = outcome.value
      const result: ScenarioResult = {
        ...report,
        description: scenario.description,
        durationMs: performance.now() - t0,
        loadBefore,
        loadAfter: Facts.loadAverage(),
        ...(isMachineLimited(report.control) ? { machineLimited: true } : {})
      }
      reports.push(result)
      if (plan.onResult !== undefined) yield* plan.onResult(result)
    }
    // every finished scenario is saved at once: a run stopped later keeps what it measured
    const pending = plan.scenarios.slice(index + 1).map((s) => s.name)
    if (pending.length > 0) yield* plan.save(document(pending))
  }
  const results = document([])
  yield* plan.save(results)
  return results
})
