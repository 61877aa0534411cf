/**
 * The engine of `Pipeline.run`: the source fiber, one set of workers per stage joined by
 * bounded queues, the sink fiber, and the accounting that makes every input end as exactly
 * one outcome. Typed loosely (`unknown`) inside; `Pipeline.ts` gives it its types.
 */
import { Cause, Clock, Effect, Exit, Fiber, Option, Queue, Schema, Scope, Stream } from "effect"
import type { PipelineReport, StageReport } from "../Pipeline.ts"

/** @internal */
export type Source =
  | { readonly _tag: "Iterable"; readonly iterable: Iterable<unknown> }
  | { readonly _tag: "Stream"; readonly stream: Stream.Stream<unknown, unknown, unknown> }
  | { readonly _tag: "Queue"; readonly queue: Queue.Dequeue<unknown, unknown> }

/** @internal */
export type StageDef =
  | {
    readonly _tag: "Stage"
    readonly name: string
    readonly concurrency: number
    readonly buffer: number
    readonly f: (a: unknown) => Effect.Effect<unknown, unknown, unknown>
  }
  | {
    readonly _tag: "Batch"
    readonly name: string
    readonly concurrency: number
    readonly buffer: number
    readonly size: number
    readonly within: number | undefined
    readonly f: (chunk: ReadonlyArray<unknown>) => Effect.Effect<ReadonlyArray<unknown>, unknown, unknown>
  }

/** @internal */
export type Outcome =
  | { readonly _tag: "Ok"; readonly index: number; readonly input: unknown; readonly value: unknown }
  | {
    readonly _tag: "Failed"
    readonly index: number
    readonly input: unknown
    readonly stage: string
    readonly error: unknown
  }
  | { readonly _tag: "Cancelled"; readonly index: number; readonly input: unknown; readonly stage: string }

/** A stage's function died (a defect, not a typed failure): the item fails with this. */
export class StageDefect extends Schema.TaggedError<StageDefect>()("StageDefect", {
  stage: Schema.String,
  defect: Schema.Unknown
}) {
  override get message(): string {
    return `stage "${this.stage}" died: ${String(this.defect)}`
  }
}

/** A batch function returned a different number of results than it was given items. */
export class BatchMismatch extends Schema.TaggedError<BatchMismatch>()("BatchMismatch", {
  stage: Schema.String,
  expected: Schema.Number,
  actual: Schema.Number
}) {
  override get message(): string {
    return `batch stage "${this.stage}" returned ${this.actual} results for ${this.expected} items`
  }
}

/** The run's accounting does not add up: a bug in Hybrid, raised as a defect. */
export class ConservationViolated extends Schema.TaggedError<ConservationViolated>()("ConservationViolated", {
  inputs: Schema.Number,
  ok: Schema.Number,
  failed: Schema.Number,
  cancelled: Schema.Number,
  detail: Schema.String
}) {
  override get message(): string {
    return `pipeline conservation violated (${this.detail}): inputs ${this.inputs} ≠ ok ${this.ok} + failed ${this.failed} + cancelled ${this.cancelled}`
  }
}

/** @internal */
export type Report = PipelineReport<unknown, unknown, unknown>

/** @internal */
export interface RunOptions {
  readonly ordered: boolean
  readonly sink: ((outcome: Outcome) => Effect.Effect<void, unknown, unknown>) | undefined
  readonly sinkBuffer: number
  readonly until: Effect.Effect<unknown, never, unknown> | undefined
}

interface Entry {
  readonly input: unknown
  stage: string
  outcome: Outcome | undefined
}

interface Envelope {
  readonly index: number
  readonly value: unknown
}

interface Stats {
  itemsIn: number
  itemsOut: number
  failures: number
  busyMs: number
  blockedMs: number
  depthArea: number
  depthAt: number
  depth: number
  maxDepth: number
}

const newStats = (now: number): Stats => ({
  itemsIn: 0,
  itemsOut: 0,
  failures: 0,
  busyMs: 0,
  blockedMs: 0,
  depthArea: 0,
  depthAt: now,
  depth: 0,
  maxDepth: 0
})

type AnyQueue = Queue.Queue<Envelope, Cause.Done>

/** The typed failure of a cause, a `StageDefect` for a defect, `undefined` for an interruption only. */
const errorOf = (stage: string, cause: Cause.Cause<unknown>): Option.Option<unknown> => {
  for (const reason of cause.reasons) if (Cause.isFailReason(reason)) return Option.some(reason.error)
  for (const reason of cause.reasons) {
    if (Cause.isDieReason(reason)) return Option.some(new StageDefect({ stage, defect: reason.defect }))
  }
  return Option.none()
}

/** A stage's effect interrupted itself (the run was not stopping): a failure of that item. */
const interrupted = (stage: string) => new StageDefect({ stage, defect: "interrupted" })

/** @internal */
export const run = (
  source: Source,
  stages: ReadonlyArray<StageDef>,
  options: RunOptions
): Effect.Effect<Report, unknown, unknown> =>
  Effect.uninterruptibleMask((restore) =>
    Effect.gen(function*() {
      const clock = yield* Clock.Clock
      const now = () => Number(clock.currentTimeNanosUnsafe()) / 1e6
      const startedAt = now()
      const entries = new Map<number, Entry>()
      const delivered = new Set<number>()
      const collected: Array<Outcome> = []
      let inputs = 0
      let sourceBlockedMs = 0
      let sourceError: Option.Option<unknown> = Option.none()
      const tally = { ok: 0, failed: 0, cancelled: 0 }
      let violation: string | undefined
      let stopping = false
      const stats = stages.map(() => newStats(startedAt))
      const queues: Array<AnyQueue> = []
      for (const stage of stages) queues.push(yield* Queue.bounded<Envelope, Cause.Done>(stage.buffer))
      const outcomes = yield* Queue.bounded<number, Cause.Done>(options.sinkBuffer)
      const firstStage = stages[0]?.name ?? "sink"

      /** Time-weighted queue depth, sampled at every take and offer. */
      const sample = (i: number) => {
        const s = stats[i]!
        const t = now()
        s.depthArea += s.depth * (t - s.depthAt)
        s.depthAt = t
        s.depth = Queue.sizeUnsafe(queues[i]!)
        if (s.depth > s.maxDepth) s.maxDepth = s.depth
      }

      /** Records an item's final outcome and hands it to the sink fiber. */
      const finish = (outcome: Outcome) =>
        Effect.suspend(() => {
          const entry = entries.get(outcome.index)
          if (entry === undefined || entry.outcome !== undefined) {
            violation ??= `item ${outcome.index} finished twice`
            return Effect.void
          }
          entry.outcome = outcome
          return Queue.offer(outcomes, outcome.index)
        })

      /** Offers an envelope to stage `i`'s queue, counting the time spent blocked. */
      const forward = (i: number, envelope: Envelope) =>
        Effect.suspend(() => {
          const entry = entries.get(envelope.index)
          if (entry !== undefined) entry.stage = stages[i]!.name
          const t = now()
          return Queue.offer(queues[i]!, envelope).pipe(
            Effect.map(() => {
              sample(i)
              return now() - t
            })
          )
        })

      const admit = (value: unknown) =>
        Effect.suspend(() => {
          const index = inputs++
          entries.set(index, { input: value, stage: firstStage, outcome: undefined })
          if (stages.length === 0) return finish({ _tag: "Ok", index, input: value, value })
          return Effect.map(forward(0, { index, value }), (ms) => {
            sourceBlockedMs += ms
          })
        })

      const pullSource: Effect.Effect<void, unknown, unknown> = (() => {
        switch (source._tag) {
          case "Iterable":
            return Effect.suspend(() => {
              const iterator = source.iterable[Symbol.iterator]()
              const loop: Effect.Effect<void> = Effect.suspend(() => {
                const next = iterator.next()
                return next.done ? Effect.void : Effect.flatMap(admit(next.value), () => loop)
              })
              return loop
            })
          case "Stream":
            return Stream.runForEach(source.stream, admit)
          case "Queue":
            // take and register atomically: an item taken from the caller's queue is never dropped
            return Effect.uninterruptibleMask((restoreTake) => {
              const loop: Effect.Effect<void, unknown> = Effect.flatMap(
                Effect.exit(restoreTake(Queue.take(source.queue))),
                (exit) => {
                  if (Exit.isSuccess(exit)) return Effect.flatMap(restoreTake(admit(exit.value)), () => loop)
                  if (Cause.hasInterrupts(exit.cause)) return Effect.failCause(exit.cause)
                  const error = Cause.findErrorOption(exit.cause)
                  if (Option.isSome(error) && Cause.isDone(error.value)) return Effect.void
                  return Effect.failCause(exit.cause)
                }
              )
              return loop
            })
        }
      })()

      const source$ = pullSource.pipe(
        Effect.catchCause((cause) => {
          if (Cause.hasInterruptsOnly(cause)) return Effect.failCause(cause)
          sourceError = Option.some(Cause.squash(cause))
          return Effect.void
        }),
        Effect.andThen(stages.length > 0 ? Queue.end(queues[0]!) : Queue.end(outcomes))
      )

      /** Passes one successful result on: to the next stage, or to the sink. */
      const passOn = (i: number, index: number, value: unknown) =>
        Effect.suspend(() => {
          const s = stats[i]!
          s.itemsOut++
          if (i + 1 < stages.length) {
            return Effect.map(forward(i + 1, { index, value }), (ms) => {
              s.blockedMs += ms
            })
          }
          const entry = entries.get(index)
          const t = now()
          return finish({ _tag: "Ok", index, input: entry?.input, value }).pipe(
            Effect.map(() => {
              s.blockedMs += now() - t
            })
          )
        })

      const fail = (i: number, index: number, error: unknown) =>
        Effect.suspend(() => {
          stats[i]!.failures++
          return finish({ _tag: "Failed", index, input: entries.get(index)?.input, stage: stages[i]!.name, error })
        })

      const stageWorkers = (i: number): Effect.Effect<void, never, unknown> => {
        const stage = stages[i]!
        const s = stats[i]!
        const queue = queues[i]!
        if (stage._tag === "Stage") {
          const step = (envelope: Envelope) =>
            Effect.gen(function*() {
              sample(i)
              s.itemsIn++
              const t = now()
              const exit = yield* Effect.exit(stage.f(envelope.value))
              s.busyMs += now() - t
              if (Exit.isSuccess(exit)) return yield* passOn(i, envelope.index, exit.value)
              const error = errorOf(stage.name, exit.cause)
              // the run is stopping: leave the item in flight (it becomes Cancelled)
              if (Option.isNone(error) && stopping) return yield* Effect.failCause(exit.cause as Cause.Cause<never>)
              return yield* fail(i, envelope.index, Option.getOrElse(error, () => interrupted(stage.name)))
            })
          const worker: Effect.Effect<void, never, unknown> = Queue.take(queue).pipe(
            Effect.matchEffect({
              onFailure: () => Effect.void,
              onSuccess: (envelope) => Effect.flatMap(step(envelope), () => worker)
            })
          )
          return Effect.forEach(Array.from({ length: stage.concurrency }), () => worker, {
            concurrency: stage.concurrency,
            discard: true
          })
        }
        const chunkStep = (chunk: ReadonlyArray<Envelope>) =>
          Effect.gen(function*() {
            sample(i)
            s.itemsIn += chunk.length
            const t = now()
            const exit = yield* Effect.exit(stage.f(chunk.map((e) => e.value)))
            s.busyMs += now() - t
            if (Exit.isSuccess(exit) && exit.value.length === chunk.length) {
              for (let k = 0; k < chunk.length; k++) yield* passOn(i, chunk[k]!.index, exit.value[k])
              return
            }
            const error = Exit.isSuccess(exit)
              ? Option.some<unknown>(
                new BatchMismatch({ stage: stage.name, expected: chunk.length, actual: exit.value.length })
              )
              : errorOf(stage.name, exit.cause)
            if (Option.isNone(error) && stopping && Exit.isFailure(exit)) {
              return yield* Effect.failCause(exit.cause as Cause.Cause<never>)
            }
            const reason = Option.getOrElse(error, () => interrupted(stage.name))
            for (const envelope of chunk) yield* fail(i, envelope.index, reason)
          })
        const items = Stream.fromQueue(queue)
        const groups = stage.within === undefined
          ? Stream.grouped(items, stage.size)
          : Stream.groupedWithin(items, stage.size, stage.within)
        return groups.pipe(
          Stream.mapEffect(chunkStep, { concurrency: stage.concurrency, unordered: true }),
          Stream.runDrain
        )
      }

      // the sink: delivers outcomes one at a time, in completion or input order
      let nextOrdered = 0
      const deliver = (outcome: Outcome) =>
        Effect.suspend(() => {
          if (delivered.has(outcome.index)) {
            violation ??= `item ${outcome.index} delivered twice`
            return Effect.void
          }
          const commit = Effect.sync(() => {
            delivered.add(outcome.index)
            entries.delete(outcome.index)
            if (outcome._tag === "Ok") tally.ok++
            else if (outcome._tag === "Failed") tally.failed++
            else tally.cancelled++
          })
          if (options.sink === undefined) {
            collected.push(outcome)
            return commit
          }
          // one delivery is atomic: a delivered outcome is never delivered again as Cancelled
          return Effect.uninterruptible(Effect.andThen(options.sink(outcome), commit))
        })
      const deliverReady = Effect.suspend(() => {
        const loop: Effect.Effect<void, unknown, unknown> = Effect.suspend(() => {
          const entry = entries.get(nextOrdered)
          if (entry?.outcome === undefined) return Effect.void
          nextOrdered++
          return Effect.flatMap(deliver(entry.outcome), () => loop)
        })
        return loop
      })
      const sinkLoop: Effect.Effect<void, unknown, unknown> = Queue.take(outcomes).pipe(
        Effect.matchEffect({
          onFailure: (e) => Cause.isDone(e) ? Effect.void : Effect.fail(e),
          onSuccess: (index) =>
            Effect.flatMap(
              options.ordered ? deliverReady : Effect.suspend(() => {
                const entry = entries.get(index)
                return entry?.outcome === undefined ? Effect.void : deliver(entry.outcome)
              }),
              () => sinkLoop
            )
        })
      )

      const scope = yield* Scope.make()
      const sourceFiber = yield* Effect.forkIn(source$, scope)
      const stageFibers: Array<Fiber.Fiber<void, never>> = []
      for (let i = 0; i < stages.length; i++) {
        const next = Effect.asVoid(i + 1 < stages.length ? Queue.end(queues[i + 1]!) : Queue.end(outcomes))
        stageFibers.push(yield* Effect.forkIn(Effect.andThen(stageWorkers(i), next), scope))
      }
      const sinkFiber = yield* Effect.forkIn(sinkLoop, scope)

      const done = Fiber.join(sinkFiber).pipe(Effect.as(false))
      const waited = yield* Effect.exit(
        restore(options.until === undefined ? done : Effect.raceFirst(done, Effect.as(options.until, true)))
      )
      const stopped = Exit.isSuccess(waited) && waited.value
      stopping = true
      // stop: interrupt whatever still runs, keep every result that finished
      yield* Fiber.interruptAll([sourceFiber, ...stageFibers])
      if (Exit.isSuccess(waited)) {
        yield* Queue.end(outcomes)
        yield* Fiber.await(sinkFiber)
      } else {
        yield* Fiber.interrupt(sinkFiber)
      }
      yield* Scope.close(scope, Exit.void)
      const sinkFailed = Exit.isFailure(waited) && !Cause.hasInterruptsOnly(waited.cause)
      if (!sinkFailed) {
        const rest = Array.from(entries.entries()).sort(([a], [b]) => a - b)
        for (const [index, entry] of rest) {
          yield* deliver(entry.outcome ?? { _tag: "Cancelled", index, input: entry.input, stage: entry.stage })
        }
        const total = tally.ok + tally.failed + tally.cancelled
        if (violation === undefined && (total !== inputs || entries.size > 0 || delivered.size !== inputs)) {
          violation = `${entries.size} items unaccounted for`
        }
        if (violation !== undefined) {
          return yield* Effect.die(new ConservationViolated({ inputs, ...tally, detail: violation }))
        }
      }
      if (Exit.isFailure(waited)) return yield* Effect.failCause(waited.cause)
      if (Option.isSome(sourceError)) return yield* Effect.fail(sourceError.value)

      const endedAt = now()
      const wallMs = endedAt - startedAt
      const reports: Array<StageReport> = stages.map((stage, i) => {
        const s = stats[i]!
        const area = s.depthArea + s.depth * (endedAt - s.depthAt)
        return {
          name: stage.name,
          kind: stage._tag === "Stage" ? "stage" : "batch",
          concurrency: stage.concurrency,
          buffer: stage.buffer,
          itemsIn: s.itemsIn,
          itemsOut: s.itemsOut,
          failures: s.failures,
          busyMs: s.busyMs,
          blockedMs: s.blockedMs,
          utilization: wallMs > 0 ? s.busyMs / (wallMs * stage.concurrency) : 0,
          avgQueueDepth: wallMs > 0 ? area / wallMs : 0,
          maxQueueDepth: s.maxDepth
        }
      })
      let bottleneck: StageReport | undefined
      for (const r of reports) {
        if (r.busyMs > 0 && (bottleneck === undefined || r.utilization > bottleneck.utilization)) bottleneck = r
      }
      return {
        inputs,
        ...tally,
        outcomes: collected,
        stages: reports,
        bottleneck: bottleneck?.name,
        sourceBlockedMs,
        wallMs,
        stopped
      } satisfies Report
    })
  )
