/**
 * What both runner layers share: the runner's errors, its metrics, the service shape and
 * the handler / codec helpers. Imported by worker entry files too (through
 * `NodeRunner.serve`), so it must stay erasable TS and must not import the pool.
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as Schema from "effect/Schema"
import * as Rpc from "effect/rpc/Rpc"
import type * as Task from "../Task.ts"

/**
 * The runner could not run the call: its payload or its result does not fit the task's
 * Schema, the task is not served by this runner, or the transport failed.
 *
 * @since 0.1.0
 * @category errors
 */
export class RunnerError extends Schema.TaggedError<RunnerError>()("RunnerError", {
  /** The task's name. */
  task: Schema.String,
  reason: Schema.Literals([
    "InvalidPayload",
    "InvalidResult",
    "UnknownTask",
    "Protocol",
    "WorkerStartFailed",
    /** A remote runner (`@hybrid/cluster`) could not take or finish the call. */
    "RunnerUnavailable"
  ]),
  message: Schema.String,
  /** The remote runner concerned, when the runner is a cluster (`host:port`). */
  runner: Schema.optional(Schema.String),
  /** The underlying error, e.g. the `Schema.SchemaError` of an invalid payload. */
  cause: Schema.optional(Schema.Defect())
}) {}

/**
 * All workers were busy and `maxQueue` calls were already waiting.
 *
 * @since 0.1.0
 * @category errors
 */
export class RunnerQueueFull extends Schema.TaggedError<RunnerQueueFull>()("RunnerQueueFull", {
  task: Schema.String,
  maxQueue: Schema.Number
}) {
  override get message(): string {
    return `runner queue full (${this.maxQueue} calls waiting), task ${this.task} rejected`
  }
}

/**
 * The worker running the call died (uncaught exception, `process.exit`, out of memory, or
 * terminated because a cancelled call did not stop within `cancelGrace`). It has been
 * replaced; the call may be retried.
 *
 * @since 0.1.0
 * @category errors
 */
export class WorkerCrashed extends Schema.TaggedError<WorkerCrashed>()("WorkerCrashed", {
  /** The runner's id of the dead worker (not the thread id). */
  workerId: Schema.Number,
  /** What happened, e.g. `"exited with code: 3"` or the uncaught error. */
  cause: Schema.String
}) {
  override get message(): string {
    return `worker ${this.workerId} crashed: ${this.cause}`
  }
}

/**
 * The call ran longer than `taskTimeout`, counted from when it started running (not from
 * when it was queued). It has been cancelled in its worker.
 *
 * @since 0.1.0
 * @category errors
 */
export class TaskTimeout extends Schema.TaggedError<TaskTimeout>()("TaskTimeout", {
  task: Schema.String,
  /** The timeout, in milliseconds. */
  timeout: Schema.Number
}) {
  override get message(): string {
    return `task ${this.task} ran longer than ${this.timeout} ms`
  }
}

/**
 * The runner's own failures, added to every task's typed error.
 *
 * @since 0.1.0
 * @category errors
 */
export type RunError = RunnerError | RunnerQueueFull | WorkerCrashed | TaskTimeout

/**
 * What a `Runner` does: run one task call, and how many calls it takes at once
 * (`capacity`) and may queue (`maxQueue`).
 *
 * @since 0.1.0
 * @category models
 */
export interface RunnerShape {
  /** Runs one task; fails with the task's typed error or a `RunError`. */
  readonly run: <T extends Task.Any>(
    task: T,
    payload: Task.Payload<T>
  ) => Effect.Effect<Task.Success<T>, Task.Error<T> | RunError>
  /** How many calls run at once (workers × calls per worker); `"unbounded"` in process. */
  readonly capacity: number | "unbounded"
  /** `maxQueue`, if set. */
  readonly maxQueue: number | undefined
}

/**
 * Calls waiting for a free worker.
 *
 * @since 0.1.0
 * @category metrics
 */
export const queueDepth = Metric.gauge("hybrid_runner_queue_depth", {
  description: "calls waiting in the main thread for a free worker"
})

/**
 * Workers running at least one call.
 *
 * @since 0.1.0
 * @category metrics
 */
export const busyWorkers = Metric.gauge("hybrid_runner_busy_workers", {
  description: "workers running at least one call"
})

/**
 * Run time of calls, in milliseconds, from start in a worker to result.
 *
 * @since 0.1.0
 * @category metrics
 */
export const runTime = Metric.histogram("hybrid_runner_run_time_ms", {
  description: "run time of calls (ms), from start in a worker to result",
  boundaries: Metric.exponentialBoundaries({ start: 0.1, factor: 2, count: 20 })
})

/**
 * Time calls spent waiting before they started, in milliseconds: in the main thread's
 * queue, or in their worker when they were sent ahead.
 *
 * @since 0.1.0
 * @category metrics
 */
export const queueWait = Metric.histogram("hybrid_runner_queue_wait_ms", {
  description: "time calls waited before starting (ms), in the queue or in their worker",
  boundaries: Metric.exponentialBoundaries({ start: 0.1, factor: 2, count: 20 })
})

/**
 * The request header that carries the caller's remaining `Deadline` (milliseconds) to the
 * worker. A duration, not an instant: the caller's `Clock` may be a `TestClock`.
 */
export const deadlineHeader = "x-hybrid-deadline-ms"

/** The `workerData` key under which the pool tells a worker its settings (`{ concurrency }`). */
export const workerDataKey = "@hybrid/core/NodeRunner"

/** Runs a handler, plain function or Effect, as an Effect; a throw is a defect. */
export const handlerEffect = <A, E>(
  handler: (payload: any) => Effect.Effect<A, E> | A,
  payload: unknown
): Effect.Effect<A, E> =>
  Effect.suspend(() => {
    let result: Effect.Effect<A, E> | A
    try {
      result = handler(payload)
    } catch (defect) {
      return Effect.die(defect)
    }
    return Effect.isEffect(result) ? result : Effect.succeed(result)
  })

/** The Schema codecs of a task, as the worker protocol uses them (JSON codec + structured clone). */
export interface Codecs {
  readonly encodePayload: (payload: unknown) => Effect.Effect<unknown, Schema.SchemaError>
  readonly decodePayload: (encoded: unknown) => Effect.Effect<unknown, Schema.SchemaError>
  readonly encodeExit: (exit: unknown) => Effect.Effect<unknown, Schema.SchemaError>
  readonly decodeExit: (encoded: unknown) => Effect.Effect<any, Schema.SchemaError>
  /** Decodes the value of a successful `Exit` (the pool's answers carry it alone). */
  readonly decodeSuccess: (encoded: unknown) => Effect.Effect<unknown, Schema.SchemaError>
  /** Encodes the value of a successful `Exit` (the worker's answers carry it alone). */
  readonly encodeSuccess: (value: unknown) => Effect.Effect<unknown, Schema.SchemaError>
}

const codecsCache = new WeakMap<Task.Any, Codecs>()

/** Compiles (once per task) the codecs the worker protocol applies to a task. */
export const codecs = (task: Task.Any): Codecs => {
  let entry = codecsCache.get(task)
  if (entry) return entry
  const payload = Schema.toCodecJson(task.payload as Schema.Codec<unknown, unknown>)
  const success = Schema.toCodecJson(task.success as Schema.Codec<unknown, unknown>)
  const exit = Schema.toCodecJson(Rpc.exitSchema(task.rpc as Rpc.AnyWithProps) as unknown as Schema.Codec<unknown, unknown>)
  entry = {
    encodePayload: Schema.encodeUnknownEffect(payload),
    decodePayload: Schema.decodeUnknownEffect(payload),
    encodeExit: Schema.encodeUnknownEffect(exit),
    decodeExit: Schema.decodeUnknownEffect(exit),
    decodeSuccess: Schema.decodeUnknownEffect(success),
    encodeSuccess: Schema.encodeUnknownEffect(success)
  }
  codecsCache.set(task, entry)
  return entry
}

/** The `RunnerError` of a payload that does not fit its Schema. */
export const invalidPayload = (task: Task.Any, error: Schema.SchemaError): RunnerError =>
  new RunnerError({
    task: task.name,
    reason: "InvalidPayload",
    message: `payload of task ${task.name} does not fit its Schema: ${error.message}`,
    cause: error
  })

/** The `RunnerError` of a result that does not fit its Schema. */
export const invalidResult = (task: Task.Any, error: unknown): RunnerError =>
  new RunnerError({
    task: task.name,
    reason: "InvalidResult",
    message: `result of task ${task.name} does not fit its Schema: ${
      error instanceof Error ? error.message : String(error)
    }`,
    cause: error
  })

/** The `RunnerError` of a task this runner does not serve. */
export const unknownTask = (task: Task.Any): RunnerError =>
  new RunnerError({
    task: task.name,
    reason: "UnknownTask",
    message: `task ${task.name} is not in this runner's group`
  })

/** Milliseconds of a validated duration. */
export const millis = (d: Duration.Input): number => Duration.toMillis(d)
