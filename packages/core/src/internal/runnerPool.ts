/**
 * The main-thread side of `NodeRunner`: a pool of worker threads, each serving effect/rpc's
 * worker protocol (see `runnerServe.ts`), scheduled by `poolScheduler.ts`.
 *
 * The pool speaks effect/rpc's encoded messages to each worker itself — `Request` and
 * `Interrupt` out, `Exit` (and `Defect`) back, packed flat (`runnerFrames.ts`) inside
 * effect/workers' platform envelope — instead of going through one `RpcClient` per worker:
 * an `RpcClient` call costs a fiber for the call and one for its send, and encodes the
 * payload a second time after the caller has validated it. Here a call is one
 * `Effect.callback` in the caller's fiber: the payload is encoded once (that is the
 * validation), and the encoded answer is decoded by the caller when it resumes.
 *
 * The pool must act on one worker without touching the others — terminate and replace a
 * worker stuck in synchronous code, recycle it, fail only its own calls when it crashes —
 * so every worker is its own `worker_threads.Worker`, watched directly (`poolSpawner.ts`).
 *
 * This module is the Effect boundary: spans, metrics, codecs, the layer's scope. The
 * scheduling itself (queue, sending ahead, cancelling, crashes, recycling) is in
 * `poolScheduler.ts`, which knows neither threads nor Effect.
 */
import { Clock, Context, Deferred, Effect, Exit, Metric, Schema, Tracer } from "effect"
import type { Fiber } from "effect"
import * as Transferable from "effect/workers/Transferable"
import type * as WorkerThreads from "node:worker_threads"
import * as Deadline from "../Deadline.ts"
import type * as Task from "../Task.ts"
import * as Balancer from "./poolBalancer.ts"
import type * as CallState from "./poolCall.ts"
import * as Scheduler from "./poolScheduler.ts"
import * as Spawner from "./poolSpawner.ts"
import * as Core from "./runnerCore.ts"
import * as Frames from "./runnerFrames.ts"

export { sendAheadMax } from "./poolSlot.ts"

/** Validated options of `NodeRunner.layer`. */
export interface Options extends Scheduler.Settings {
  readonly worker: URL
  readonly workerOptions: WorkerThreads.WorkerOptions
  readonly balancer: Balancer.Balancer
  /** The workers' nice value (0: unchanged); applied by the worker bootstrap, Linux only. */
  readonly niceness?: number | undefined
}

/** Real time and timers. */
const nodeEnv: Scheduler.Env = {
  now: () => performance.now(),
  setTimer: (f, ms) => setTimeout(f, ms),
  clearTimer: (timer) => clearTimeout(timer as ReturnType<typeof setTimeout>),
  defer: (f) => {
    setImmediate(f)
  }
}

/** Whether a defect is the worker's "result does not fit its schema" (by its name, see `runnerFrames`). */
const isInvalidResult = (defect: unknown): boolean =>
  typeof defect === "object" && defect !== null && (defect as { readonly name?: unknown }).name === Frames.invalidResultName

/** What the caller sees for the decoded `Exit` of its call. */
const mapExit = (task: Task.Any, exit: Exit.Exit<unknown, unknown>): Effect.Effect<unknown, unknown> => {
  if (Exit.isSuccess(exit)) return exit
  for (const reason of exit.cause.reasons) {
    if (reason._tag === "Die" && isInvalidResult(reason.defect)) {
      return Effect.fail(Core.invalidResult(task, reason.defect))
    }
  }
  return exit
}

/** Decodes an answer (in the caller's fiber). */
const decodeAnswer = (task: Task.Any, codecs: Core.Codecs, answer: CallState.Answer): Effect.Effect<unknown, unknown> => {
  if (answer.kind === Frames.answerSuccess) {
    const decoded = codecs.decodeSuccess(answer.value)
    if (Exit.isExit(decoded) && Exit.isSuccess(decoded)) return decoded
    return Effect.mapError(decoded, (e) => Core.invalidResult(task, e))
  }
  const decoded = codecs.decodeExit(answer.value)
  if (Exit.isExit(decoded) && Exit.isSuccess(decoded)) return mapExit(task, decoded.value as Exit.Exit<unknown>)
  return Effect.flatMap(
    Effect.mapError(decoded, (e) => Core.invalidResult(task, e)),
    (exit) => mapExit(task, exit)
  )
}

/** What the caller resumes with. */
const toEffect = (task: Task.Any, codecs: Core.Codecs, outcome: CallState.Outcome): Effect.Effect<unknown, unknown> => {
  switch (outcome._tag) {
    case "Answer":
      return decodeAnswer(task, codecs, outcome)
    case "Fail":
      return Effect.fail(outcome.error)
    case "Die":
      return Effect.die(outcome.defect)
    case "Interrupt":
      return Effect.interrupt
  }
}

/**
 * The pool's gauges, read when metrics are read (`Metric.registerUnsafe`) rather than
 * pushed on every change: the queue depth changes twice per call in a burst. One series
 * per metric registry sums over the live pools that report to it.
 */
class Gauges {
  private static readonly byRegistry = new WeakMap<object, Gauges>()
  private readonly pools = new Set<Scheduler.Scheduler>()
  private registrations: ReadonlyArray<Metric.Registration> = []

  /** Adds a pool to the gauges of `context`'s registry; removed when `release` is called. */
  static add(context: Context.Context<never>, scheduler: Scheduler.Scheduler): () => void {
    const registry = Context.get(context, Metric.MetricRegistry)
    let gauges = Gauges.byRegistry.get(registry)
    if (gauges === undefined) {
      gauges = new Gauges()
      Gauges.byRegistry.set(registry, gauges)
    }
    gauges.add(context, scheduler)
    return () => gauges.remove(scheduler)
  }

  private add(context: Context.Context<never>, scheduler: Scheduler.Scheduler): void {
    this.pools.add(scheduler)
    if (this.pools.size > 1) return
    const sum = (of: (scheduler: Scheduler.Scheduler) => number) => () => {
      let value = 0
      for (const pool of this.pools) value += of(pool)
      return { value }
    }
    this.registrations = [
      Metric.registerUnsafe(Core.queueDepth, context, { get: sum((pool) => pool.queued), update: noop, modify: noop }),
      Metric.registerUnsafe(Core.busyWorkers, context, { get: sum((pool) => pool.busyWorkers), update: noop, modify: noop })
    ]
  }

  private remove(scheduler: Scheduler.Scheduler): void {
    if (!this.pools.delete(scheduler) || this.pools.size > 0) return
    for (const registration of this.registrations) registration.remove()
    this.registrations = []
  }
}

const noop = (): void => {}

/** Histograms and span attributes of the scheduler's events; start-up as a `Deferred`. */
const makeObserver = (
  metrics: Context.Context<never>,
  started: Deferred.Deferred<void, string>
): Scheduler.Observer => {
  return {
    queueDepth: noop,
    busyWorkers: noop,
    started: (call, queueWaitMs) => {
      Core.queueWait.updateUnsafe(queueWaitMs, metrics)
      call.span?.attribute("queueWaitMs", queueWaitMs)
    },
    finished: (call, runMs) => {
      Core.runTime.updateUnsafe(runMs, metrics)
      call.span?.attribute("runMs", runMs)
    },
    workerReady: () => {
      // the pool serves as soon as one worker does: calls queue until the others are ready
      Deferred.doneUnsafe(started, Exit.void)
    },
    workerExited: (_slot, reason, wasReady) => {
      if (!wasReady) Deferred.doneUnsafe(started, Exit.fail(reason))
    }
  }
}

/** A call's way into the scheduler: one `Effect.callback` in the caller's fiber. */
const submit = (
  scheduler: Scheduler.Scheduler,
  fiber: Fiber.Fiber<unknown, unknown>,
  span: Tracer.Span | undefined,
  task: Task.Any,
  codecs: Core.Codecs,
  payload: unknown,
  transfer: ReadonlyArray<WorkerThreads.TransferListItem> | undefined
): Effect.Effect<unknown, unknown> => {
  const deadline = fiber.getRef(Deadline.Current)
  const clock = deadline === undefined ? undefined : fiber.getRef(Clock.Clock)
  const remaining = clock === undefined ? undefined : () => deadline! - clock.currentTimeMillisUnsafe()
  return Effect.callback<unknown, unknown>((resume) => {
    const call = scheduler.submit(
      task,
      payload,
      transfer !== undefined && transfer.length > 0 ? transfer : undefined,
      remaining,
      span,
      (outcome) => resume(toEffect(task, codecs, outcome))
    )
    return Effect.sync(() => scheduler.cancel(call))
  })
}

/** Validates (encodes) the payload in the caller's fiber, then submits the call. */
const encodeAndSubmit = (
  group: Task.Group<Task.Any>,
  scheduler: Scheduler.Scheduler,
  fiber: Fiber.Fiber<unknown, unknown>,
  span: Tracer.Span | undefined,
  task: Task.Any,
  payload: unknown
): Effect.Effect<unknown, unknown> => {
  if (group.byName.get(task.name) !== task) return Effect.fail(Core.unknownTask(task))
  const codecs = Core.codecs(task)
  const encoding = codecs.encodePayload(payload)
  if (Exit.isExit(encoding)) {
    return Exit.isSuccess(encoding)
      ? submit(scheduler, fiber, span, task, codecs, encoding.value, undefined)
      : Effect.mapError(encoding as Exit.Exit<unknown, Schema.SchemaError>, (e) => Core.invalidPayload(task, e))
  }
  // a schema that collects transferables (`Task.Transferable`) encodes as an Effect
  const collector = Transferable.makeCollectorUnsafe()
  return Effect.flatMap(
    Effect.mapError(
      Effect.provideService(encoding, Transferable.Collector, collector),
      (e) => Core.invalidPayload(task, e)
    ),
    (encoded) =>
      submit(scheduler, fiber, span, task, codecs, encoded, collector.readUnsafe() as Array<WorkerThreads.TransferListItem>)
  )
}

/**
 * `Runner.run` on the pool, in a `Runner.run` span when a tracing backend is installed.
 * With Effect's default in-memory tracer (`Tracer.nativeTracer`) nothing could observe
 * the span — no code runs inside it in the caller's thread — so none is made: its clock
 * reads, its attributes and its end cost more than a tiny task (Effect's HTTP server
 * skips its request spans the same way). `Effect.useSpan` rather than `Effect.fn`: the
 * same span without capturing a call-site stack trace on every call.
 */
const runOn = <T extends Task.Any>(group: Task.Group<T>, scheduler: Scheduler.Scheduler) => {
  const tasks = group as unknown as Task.Group<Task.Any>
  return (task: Task.Any, payload: unknown): Effect.Effect<unknown, unknown> =>
    Effect.withFiber((fiber) => {
      if (fiber.getRef(Tracer.Tracer) === Tracer.nativeTracer) {
        return encodeAndSubmit(tasks, scheduler, fiber, undefined, task, payload)
      }
      return Effect.useSpan("Runner.run", (span) => {
        span.attribute("task", task.name)
        return encodeAndSubmit(tasks, scheduler, fiber, span, task, payload)
      })
    })
}

/**
 * Builds the pool in the current scope: workers started in parallel, ready when the first
 * of them is (fails if one dies before); `spawner` defaults to `worker_threads` threads of
 * `options.worker`.
 */
export const make = Effect.fnUntraced(function*<T extends Task.Any>(
  group: Task.Group<T>,
  options: Options,
  spawner: Spawner.Spawner = Spawner.nodeSpawner(options.worker, options.workerOptions, options.concurrencyPerWorker, options.niceness ?? 0)
) {
  const metrics = yield* Effect.context<never>()
  const started = Deferred.makeUnsafe<void, string>()
  const scheduler = new Scheduler.Scheduler(
    options,
    spawner,
    options.balancer,
    nodeEnv,
    makeObserver(metrics, started)
  )

  const releaseGauges = Gauges.add(metrics, scheduler)
  yield* Effect.addFinalizer(() =>
    Effect.suspend(() => {
      releaseGauges()
      const workers = scheduler.close()
      return Effect.promise(() => Promise.all(workers.map((worker) => worker.terminate())))
    })
  )

  scheduler.start()
  const ready = yield* Effect.exit(Deferred.await(started))
  if (Exit.isFailure(ready)) {
    scheduler.closing = true
    const reason = ready.cause.reasons.find((r) => r._tag === "Fail")
    const why = reason?._tag === "Fail" ? reason.error : "interrupted"
    return yield* new Core.RunnerError({
      task: "*",
      reason: "WorkerStartFailed",
      message: `a worker of ${options.worker.href} died before it was ready: ${why}`,
      cause: why
    })
  }

  const shape: Core.RunnerShape = {
    run: runOn(group, scheduler) as Core.RunnerShape["run"],
    capacity: options.size * options.concurrencyPerWorker,
    maxQueue: options.maxQueue
  }
  return { shape, stats: () => scheduler.stats() }
})
