/**
 * Stages joined by bounded queues — the asyncio producer/consumer pipeline as an Effect
 * value, with an account of every item.
 *
 * While item N is being fetched, item N−1 is processed and item N−2 stored: each stage
 * runs its own workers (`concurrency`) and takes its input from a bounded queue
 * (`buffer`), so a slow stage makes the stages before it wait (backpressure) instead of
 * piling items up in memory. A stage's function is any `(a) => Effect` — an HTTP call, a
 * `Runner` task on a worker thread (CPU), a database write.
 *
 * What `run` guarantees:
 * - **Conservation**: every input read from the source ends as exactly one `Outcome` —
 *   `Ok`, `Failed` (naming the stage and the error) or, when the run is stopped,
 *   `Cancelled` (naming the stage it was in or waiting for) — delivered to the `sink`, or
 *   collected in the report. The totals are checked when the run ends
 *   (`inputs = ok + failed + cancelled`, no item twice); a mismatch is a defect
 *   (`ConservationViolated`), never silent.
 * - A failed item leaves the pipeline at its stage; the other items carry on.
 * - Interrupting the run (or `until` completing) interrupts every stage; results that had
 *   already finished are still delivered, and the items that never finished are delivered
 *   as `Cancelled`. With `until` the run then succeeds with its report (`stopped: true`);
 *   an interrupted run delivers the same outcomes to the sink, then is interrupted.
 * - `ordered: true` delivers outcomes in input order (out-of-order results wait in a
 *   reorder buffer); the default is completion order.
 *
 * The report gives, per stage: items in and out, failures, busy time, time blocked on the
 * downstream queue, utilization (busy / (wall × concurrency)), average and peak queue
 * depth; and names the bottleneck — the stage with the highest utilization.
 *
 * Underneath: Effect's bounded `Queue`s (ended with `Cause.Done`), `Stream` for the
 * source and for batching (`Stream.groupedWithin`), fibers in a `Scope`. Written by hand,
 * because Effect has no equivalent: the per-item accounting, the reorder buffer, the
 * timing of stages, and the report.
 *
 * Gotchas:
 * - `inputs` counts the items read from the source. A stopped run does not read the rest,
 *   and a `Queue` source keeps what was not taken.
 * - The sink is called one outcome at a time, uninterruptibly (so an outcome is delivered
 *   once or not at all): keep it short, and give it its own buffer (`sinkBuffer`).
 * - With `ordered: true`, one slow item holds back everything behind it in the reorder
 *   buffer: memory grows with the spread of completion times.
 * - A defect in a stage fails that item with `StageDefect`; it does not stop the run.
 * - A source `Stream` that fails: items already read still finish, then `run` fails with
 *   the source's error.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Pipeline } from "@hybrid/core"
 *
 * declare const fetchPage: (url: string) => Effect.Effect<string, Error>
 * declare const parse: (html: string) => Effect.Effect<ReadonlyArray<string>>
 * declare const store: (rows: ReadonlyArray<ReadonlyArray<string>>) => Effect.Effect<ReadonlyArray<number>>
 * declare const urls: ReadonlyArray<string>
 *
 * const program = Pipeline.from(urls)
 *   .stage("fetch", fetchPage, { concurrency: 16, buffer: 32 })
 *   .stage("parse", parse, { concurrency: 2 })
 *   .batch("store", store, { size: 100, within: "1 second" })
 *   .run()
 *   .pipe(Effect.tap((report) => Effect.log(`${report.ok}/${report.inputs}, bottleneck ${report.bottleneck}`)))
 * ```
 *
 * @since 0.1.0
 */
import type { Cause } from "effect"
import { Duration, Effect, Queue, Stream } from "effect"
import { InvalidOption } from "./InvalidOption.ts"
import * as options from "./internal/options.ts"
import * as internal from "./internal/pipeline.ts"

export {
  /**
   * A batch function returned a different number of results than it was given items:
   * every item of that batch fails with it.
   *
   * @example
   * ```ts
   * import { Effect } from "effect"
   * import { Pipeline } from "@hybrid/core"
   *
   * // a batch function must return one result per item: this one drops one, so every item fails
   * const report = Pipeline.from([1, 2, 3])
   *   .batch("store", (rows) => Effect.succeed(rows.slice(1)), { size: 3 })
   *   .run()
   *   .pipe(Effect.map((r) => r.outcomes.map((o) => o._tag === "Failed" ? String(o.error) : o._tag)))
   * ```
   *
   * @since 0.1.0
   * @category errors
   */
  BatchMismatch,
  /**
   * The run's totals do not add up — raised as a defect, since it is a bug.
   *
   * @example
   * ```ts
   * import { Effect } from "effect"
   * import { Pipeline } from "@hybrid/core"
   *
   * // never expected: it is a defect (a bug in the pipeline), visible in the cause
   * const program = Pipeline.from([1, 2]).stage("double", (n) => Effect.succeed(n * 2)).run().pipe(
   *   Effect.catchDefect((defect) =>
   *     defect instanceof Pipeline.ConservationViolated ? Effect.die(`pipeline bug: ${defect.detail}`) : Effect.die(defect))
   * )
   * ```
   *
   * @since 0.1.0
   * @category errors
   */
  ConservationViolated,
  /**
   * A stage's effect died (or interrupted itself): the item fails with this.
   *
   * @example
   * ```ts
   * import { Effect } from "effect"
   * import { Pipeline } from "@hybrid/core"
   *
   * const report = Pipeline.from(["1", "x"])
   *   .stage("parse", (s) => Effect.sync(() => { if (s === "x") throw new Error("not a number"); return Number(s) }))
   *   .run()
   *   .pipe(Effect.map((r) => r.outcomes.flatMap((o) => o._tag === "Failed" && o.error instanceof Pipeline.StageDefect ? [o.input] : [])))
   * ```
   *
   * @since 0.1.0
   * @category errors
   */
  StageDefect
} from "./internal/pipeline.ts"

/**
 * An item that went through every stage. `index` is its position in the source.
 *
 * @example
 * ```ts
 * import { Pipeline } from "@hybrid/core"
 *
 * const show = (o: Pipeline.Ok<string, number>) => `#${o.index} ${o.input} → ${o.value}`
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Ok<In, Out> {
  readonly _tag: "Ok"
  readonly index: number
  readonly input: In
  readonly value: Out
}

/**
 * An item that failed at `stage`.
 *
 * @example
 * ```ts
 * import { Pipeline } from "@hybrid/core"
 *
 * const show = (o: Pipeline.Failed<string, Error>) => `#${o.index} ${o.input} failed in ${o.stage}: ${String(o.error)}`
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Failed<In, E> {
  readonly _tag: "Failed"
  readonly index: number
  readonly input: In
  readonly stage: string
  readonly error: E | internal.StageDefect
}

/**
 * An item that was still in `stage` (running, or waiting in its queue) when the run was
 * stopped.
 *
 * @example
 * ```ts
 * import { Pipeline } from "@hybrid/core"
 *
 * const show = (o: Pipeline.Cancelled<string>) => `#${o.index} ${o.input} cancelled before ${o.stage} finished`
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Cancelled<In> {
  readonly _tag: "Cancelled"
  readonly index: number
  readonly input: In
  readonly stage: string
}

/**
 * How one input ended: exactly one per input.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Pipeline } from "@hybrid/core"
 *
 * const line = (o: Pipeline.Outcome<string, number, Error>): string =>
 *   o._tag === "Ok" ? `${o.input}: ${o.value}` : o._tag === "Failed" ? `${o.input}: error in ${o.stage}` : `${o.input}: cancelled`
 * const program = Pipeline.from(["a", "bb"])
 *   .stage("length", (s) => Effect.succeed(s.length))
 *   .run({ sink: (o) => Effect.log(line(o)) })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type Outcome<In, Out, E> = Ok<In, Out> | Failed<In, E> | Cancelled<In>

/**
 * What one stage did in a run: items in and out, failures, busy and blocked time,
 * utilization and queue depth.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Pipeline } from "@hybrid/core"
 *
 * const busiest = (stages: ReadonlyArray<Pipeline.StageReport>) =>
 *   stages.map((s) => `${s.name}: ${(s.utilization * 100).toFixed(0)} % busy, queue ≤ ${s.maxQueueDepth}`)
 * const program = Pipeline.from([1, 2, 3]).stage("inc", (n) => Effect.succeed(n + 1)).run().pipe(
 *   Effect.map((report) => busiest(report.stages))
 * )
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface StageReport {
  readonly name: string
  readonly kind: "stage" | "batch"
  readonly concurrency: number
  readonly buffer: number
  /** Items the stage took from its queue. */
  readonly itemsIn: number
  /** Items the stage passed on successfully. */
  readonly itemsOut: number
  readonly failures: number
  /** Time spent inside the stage's function, summed over its workers (ms). */
  readonly busyMs: number
  /** Time spent waiting for room in the downstream queue, summed over its workers (ms). */
  readonly blockedMs: number
  /** `busyMs / (wallMs × concurrency)`: 1 means every worker was always busy. */
  readonly utilization: number
  /** Time-weighted average number of items waiting in the stage's input queue. */
  readonly avgQueueDepth: number
  readonly maxQueueDepth: number
}

/**
 * What a run did: counts of inputs and outcomes, each stage's report, the bottleneck, and
 * the wall time.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Pipeline } from "@hybrid/core"
 *
 * const summary = (r: Pipeline.PipelineReport<unknown, unknown, unknown>) =>
 *   `${r.ok}/${r.inputs} ok, ${r.failed} failed in ${r.wallMs} ms; bottleneck: ${r.bottleneck ?? "none"}`
 * const program = Pipeline.from([1, 2, 3]).stage("inc", (n) => Effect.succeed(n + 1)).run().pipe(Effect.map(summary))
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface PipelineReport<In, Out, E> {
  /** Items read from the source. */
  readonly inputs: number
  readonly ok: number
  readonly failed: number
  readonly cancelled: number
  /** Every outcome, when the run had no sink (empty otherwise). */
  readonly outcomes: ReadonlyArray<Outcome<In, Out, E>>
  readonly stages: ReadonlyArray<StageReport>
  /** The stage with the highest utilization; `undefined` when no stage did any work. */
  readonly bottleneck: string | undefined
  /** Time the source spent waiting for room in the first stage's queue (ms). */
  readonly sourceBlockedMs: number
  readonly wallMs: number
  /** Whether `until` stopped the run before the source was exhausted. */
  readonly stopped: boolean
}

/**
 * The options of a stage: its workers and the capacity of its input queue.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Pipeline } from "@hybrid/core"
 *
 * declare const fetchPage: (url: string) => Effect.Effect<string>
 * const io: Pipeline.StageOptions = { concurrency: 32, buffer: 64 } // many requests in flight
 * const pages = Pipeline.from(["https://example.com"]).stage("fetch", fetchPage, io)
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface StageOptions {
  /** Workers of this stage. Default 1. */
  readonly concurrency?: number | undefined
  /** Capacity of the stage's input queue. Default 16. */
  readonly buffer?: number | undefined
}

/**
 * The options of a batching stage: a stage's options plus the batch size and how long a
 * batch may wait to fill.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Pipeline } from "@hybrid/core"
 *
 * declare const insertRows: (rows: ReadonlyArray<string>) => Effect.Effect<ReadonlyArray<number>>
 * // 500 rows per insert, or what arrived within 200 ms
 * const options: Pipeline.BatchOptions = { size: 500, within: "200 millis" }
 * const stored = Pipeline.from(["a", "b"]).batch("insert", insertRows, options)
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface BatchOptions extends StageOptions {
  /** Items per call, at most. */
  readonly size: number
  /** Emit a smaller batch when this much time passed since its first item. Default: wait for `size` (or the end). */
  readonly within?: Duration.Input | undefined
}

/**
 * The options of `run`: the order of outcomes, a sink receiving each one, and a signal
 * that stops the run.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Pipeline } from "@hybrid/core"
 *
 * // outcomes in input order, each written as it arrives; stop after 10 s
 * const program = Pipeline.from([1, 2, 3])
 *   .stage("square", (n) => Effect.succeed(n * n))
 *   .run({ ordered: true, sink: (o) => Effect.log(o._tag), until: Effect.sleep("10 seconds") })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface RunOptions<In, Out, E, E2, R2, R3> {
  /** Deliver outcomes in input order. Default `false` (completion order). */
  readonly ordered?: boolean | undefined
  /** Receives every outcome, one at a time. Without it, outcomes are collected in the report. */
  readonly sink?: ((outcome: Outcome<In, Out, E>) => Effect.Effect<void, E2, R2>) | undefined
  /** Capacity of the queue in front of the sink. Default 16. */
  readonly sinkBuffer?: number | undefined
  /** Stop the run when this completes: unfinished items end as `Cancelled`, and `run` returns the report. */
  readonly until?: Effect.Effect<unknown, never, R3> | undefined
}

/**
 * A pipeline under construction: a source and its stages. Immutable: each `stage` /
 * `batch` returns a new pipeline. Nothing runs until `run`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Pipeline } from "@hybrid/core"
 *
 * // a reusable pipeline shape: a value, built once, run on many sources
 * const enrich = (words: Iterable<string>): Pipeline.Pipeline<string, number> =>
 *   Pipeline.from(words).stage("length", (w) => Effect.succeed(w.length))
 * const report = enrich(["a", "bb"]).run()
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Pipeline<In, Out, E = never, R = never, SE = never> {
  readonly stageNames: ReadonlyArray<string>
  /** Adds a stage: `f` runs on each item, on `concurrency` workers fed by a queue of `buffer`. */
  stage<B, E2, R2>(
    name: string,
    f: (a: Out) => Effect.Effect<B, E2, R2>,
    options?: StageOptions
  ): Pipeline<In, B, E | E2, R | R2, SE>
  /**
   * Adds a batching stage: `f` receives up to `size` items (fewer after `within`, or at
   * the end) and returns one result per item, in the same order.
   */
  batch<B, E2, R2>(
    name: string,
    f: (chunk: ReadonlyArray<Out>) => Effect.Effect<ReadonlyArray<B>, E2, R2>,
    options: BatchOptions
  ): Pipeline<In, B, E | E2 | internal.BatchMismatch, R | R2, SE>
  /** Runs the pipeline to the end of the source (or until stopped) and reports. */
  run<E2 = never, R2 = never, R3 = never>(
    options?: RunOptions<In, Out, E, E2, R2, R3>
  ): Effect.Effect<PipelineReport<In, Out, E>, SE | E2, R | R2 | R3>
}

/**
 * What a pipeline reads: an iterable, a `Stream`, or a `Queue` (read until it is ended).
 *
 * @example
 * ```ts
 * import { Stream } from "effect"
 * import { Pipeline } from "@hybrid/core"
 *
 * const fromArray: Pipeline.Source<number> = [1, 2, 3]
 * const fromStream: Pipeline.Source<number> = Stream.range(1, 100)
 * const pipeline = Pipeline.from(fromStream)
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type Source<A, E = never, R = never> =
  | Iterable<A>
  | Stream.Stream<A, E, R>
  | Queue.Dequeue<A, E | Cause.Done>

const make = <In, Out, E, R, SE>(
  source: internal.Source,
  stages: ReadonlyArray<internal.StageDef>
): Pipeline<In, Out, E, R, SE> => {
  const check = (where: string, name: string) => {
    if (typeof name !== "string" || name.length === 0 || stages.some((s) => s.name === name)) {
      throw new InvalidOption({ where, option: "name", value: JSON.stringify(name), expected: "a non-empty name no other stage has" })
    }
  }
  const common = (where: string, opts: StageOptions | undefined) => ({
    concurrency: options.integer(where, "concurrency", opts?.concurrency ?? 1),
    buffer: options.integer(where, "buffer", opts?.buffer ?? 16)
  })
  return {
    stageNames: stages.map((s) => s.name),
    stage(name, f, opts) {
      check("Pipeline.stage", name)
      const def: internal.StageDef = {
        _tag: "Stage",
        name,
        ...common("Pipeline.stage", opts),
        f: f as internal.StageDef["f"] & ((a: unknown) => Effect.Effect<unknown, unknown, unknown>)
      }
      return make(source, [...stages, def])
    },
    batch(name, f, opts) {
      const where = "Pipeline.batch"
      check(where, name)
      const def: internal.StageDef = {
        _tag: "Batch",
        name,
        ...common(where, opts),
        size: options.integer(where, "size", opts.size),
        within: opts.within === undefined ? undefined : options.duration(where, "within", opts.within, true),
        f: f as (chunk: ReadonlyArray<unknown>) => Effect.Effect<ReadonlyArray<unknown>, unknown, unknown>
      }
      return make(source, [...stages, def])
    },
    run(opts) {
      const sinkBuffer = options.integer("Pipeline.run", "sinkBuffer", opts?.sinkBuffer ?? 16)
      return runTraced(source, stages, {
        ordered: opts?.ordered ?? false,
        sink: opts?.sink as internal.RunOptions["sink"],
        sinkBuffer,
        until: opts?.until
      }) as Effect.Effect<never>
    }
  }
}

const runTraced = Effect.fn("Pipeline.run")(function*(
  source: internal.Source,
  stages: ReadonlyArray<internal.StageDef>,
  opts: internal.RunOptions
) {
  yield* Effect.annotateCurrentSpan({ stages: stages.map((s) => s.name).join(" → ") })
  return yield* internal.run(source, stages, opts)
})

/**
 * Starts a pipeline from a source: an iterable (read lazily, one item at a time), a
 * `Stream`, or a `Queue` (read until it is ended; an item taken is never dropped).
 *
 * @example
 * ```ts
 * import { Effect, Stream } from "effect"
 * import { Pipeline } from "@hybrid/core"
 *
 * // from a Stream: lines of input, each parsed and checked
 * const lines = Stream.make("1", "2", "three")
 * const report = Pipeline.from(lines)
 *   .stage("parse", (s) => Number.isNaN(Number(s)) ? Effect.fail(`not a number: ${s}`) : Effect.succeed(Number(s)))
 *   .run()
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const from = <A, SE = never, R = never>(source: Source<A, SE, R>): Pipeline<A, A, never, R, SE> => {
  const def: internal.Source = Stream.isStream(source)
    ? { _tag: "Stream", stream: source as Stream.Stream<unknown, unknown, unknown> }
    : Queue.isDequeue(source)
    ? { _tag: "Queue", queue: source as Queue.Dequeue<unknown, unknown> }
    : { _tag: "Iterable", iterable: source as Iterable<unknown> }
  return make(def, [])
}
