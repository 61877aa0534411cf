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
import { Clock, Deferred, Effect, Exit, Schema } from "effect"
import type { Tracer } from "effect"
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

/** Metrics and span attributes of the scheduler's events; start-up as a `Deferred`. */
const makeObserver = (
  metrics: import("effect").Context.Context<never>,
  size: number,
  started: Deferred.Deferred<void, string>
): Scheduler.Observer => {
  let ready = 0
  return {
    queueDepth: (calls) => Core.queueDepth.updateUnsafe(calls, metrics),
    busyWorkers: (workers) => Core.busyWorkers.updateUnsafe(workers, metrics),
    started: (call, queueWaitMs) => {
      Core.queueWait.updateUnsafe(queueWaitMs, metrics)
      call.span?.attribute("queueWaitMs", queueWaitMs)
    },
    finished: (call, runMs) => {
      Core.runTime.updateUnsafe(runMs, metrics)
      call.span?.attribute("runMs", runMs)
    },
    workerReady: (slot) => {
      if (slot.workerId < size && ++ready === size) Deferred.doneUnsafe(started, Exit.void)
    },
    workerExited: (_slot, reason, wasReady) => {
      if (!wasReady) Deferred.doneUnsafe(started, Exit.fail(reason))
    }
  }
}

/** A call's way into the scheduler: one `Effect.callback` in the caller's fiber. */
const submit = (
  scheduler: Scheduler.Scheduler,
  fiber: { readonly getRef: <A>(ref: any) => A },
  span: Tracer.Span,
  task: Task.Any,
  codecs: Core.Codecs,
  payload: unknown,
  transfer: ReadonlyArray<WorkerThreads.TransferListItem> | undefined
): Effect.Effect<unknown, unknown> => {
  const deadline = fiber.getRef<number | undefined>(Deadline.Current)
  const clock = deadline === undefined ? undefined : fiber.getRef<Clock.Clock>(Clock.Clock)
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

/**
 * `Runner.run` on the pool: the payload encoded (validated) in the caller's fiber, then
 * submitted. `Effect.useSpan` rather than `Effect.fn`: the same `Runner.run` span, without
 * capturing a call-site stack trace on every call (the bulk of `Effect.fn`'s cost per call).
 */
const runOn = <T extends Task.Any>(group: Task.Group<T>, scheduler: Scheduler.Scheduler) =>
(task: Task.Any, payload: unknown): Effect.Effect<unknown, unknown> =>
  Effect.useSpan("Runner.run", (span) =>
    Effect.withFiber((fiber) => {
      span.attribute("task", task.name)
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
    }))

/**
 * Builds the pool in the current scope: workers started in parallel, ready when every one
 * of them is; `spawner` defaults to `worker_threads` threads of `options.worker`.
 */
export const make = Effect.fnUntraced(function*<T extends Task.Any>(
  group: Task.Group<T>,
  options: Options,
  spawner: Spawner.Spawner = Spawner.nodeSpawner(options.worker, options.workerOptions, options.concurrencyPerWorker)
) {
  const metrics = yield* Effect.context<never>()
  const started = Deferred.makeUnsafe<void, string>()
  const scheduler = new Scheduler.Scheduler(
    options,
    spawner,
    options.balancer,
    nodeEnv,
    makeObserver(metrics, options.size, started)
  )

  yield* Effect.addFinalizer(() =>
    Effect.suspend(() => {
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
