/**
 * Runs CPU tasks — Python's `run_in_executor` / `to_thread` / `InterpreterPoolExecutor`
 * as an Effect service.
 *
 * CPU-bound work does not get faster with concurrency, only with parallelism: in Node that
 * means worker threads. `Runner` is the one service calling code uses; a layer decides
 * where tasks run, with no change to the calling code:
 *
 * - `Runner.layerInProcess(group, handlers)` — on the calling thread (tests, one-core
 *   machines). Payloads and results still go through their Schemas exactly as they would
 *   across a thread, so both layers give identical results and identical typed errors.
 * - `NodeRunner.layer(group, { worker })` — a pool of worker threads (see `NodeRunner`).
 *
 * `run(task, payload)` fails with the task's typed error, or with one of the runner's own
 * errors: `RunnerError` (bad payload, bad result, protocol), `RunnerQueueFull` (past
 * `maxQueue`), `WorkerCrashed` (its worker died) or `TaskTimeout` (past `taskTimeout`).
 * Interrupting a call — a timeout, a lost race, a failed sibling, a `Deadline` — cancels
 * it where it runs.
 *
 * Observability: every call is a `Runner.run` span (attributes `task`, `queueWaitMs`,
 * `runMs`; `NodeRunner` makes it only when a tracer is installed, since with Effect's
 * default in-memory tracer nothing could read it); metrics `hybrid_runner_queue_depth`, `hybrid_runner_busy_workers` (gauges),
 * `hybrid_runner_run_time_ms` and `hybrid_runner_queue_wait_ms` (histograms).
 *
 * Gotcha: `Runner.forEach` and `Effect.forEach` keep input order; with `maxQueue` set, a
 * caller-side concurrency above `capacity + maxQueue` turns into `RunnerQueueFull`.
 *
 * @example
 * ```ts
 * import { Effect, Schema } from "effect"
 * import { Runner, Task } from "@hybrid/core"
 *
 * const Square = Task.make("Square", { payload: Schema.Number, success: Schema.Number })
 * const Tasks = Task.group(Square)
 *
 * const program = Effect.gen(function*() {
 *   const runner = yield* Runner.Runner
 *   const one = yield* runner.run(Square, 3)                   // 9
 *   const many = yield* Runner.forEach(Square, [1, 2, 3])      // [1, 4, 9]
 *   return [one, many]
 * })
 * Effect.runPromise(program.pipe(
 *   Effect.provide(Runner.layerInProcess(Tasks, { Square: (n) => n * n }))
 * ))
 * ```
 *
 * @since 0.1.0
 */
import type { Duration } from "effect"
import { Context, Effect, Layer } from "effect"
import type { RunError, RunnerShape } from "./internal/runnerCore.ts"
import * as InProcess from "./internal/runnerInProcess.ts"
import * as options_ from "./internal/options.ts"
import type * as Task from "./Task.ts"

export {
  /**
   * @example
   * ```ts
   * import { Effect } from "effect"
   * import { Runner } from "@hybrid/core"
   * import { CountPrimes } from "./primes.ts"
   *
   * const count = Runner.run(CountPrimes, { n: 1e6 }).pipe(
   *   Effect.catchTag("RunnerError", (e) => Effect.logError(`${e.task}: ${e.reason}`).pipe(Effect.as(0)))
   * )
   * ```
   *
   * @since 0.1.0
   * @category errors
   */
  RunnerError,
  /**
   * @example
   * ```ts
   * import { Effect } from "effect"
   * import { Runner } from "@hybrid/core"
   * import { CountPrimes } from "./primes.ts"
   *
   * // shed load instead of queueing past maxQueue
   * const count = Runner.run(CountPrimes, { n: 1e6 }).pipe(
   *   Effect.catchTag("RunnerQueueFull", () => Effect.succeed(-1))
   * )
   * ```
   *
   * @since 0.1.0
   * @category errors
   */
  RunnerQueueFull,
  /**
   * @example
   * ```ts
   * import { Effect } from "effect"
   * import { Runner } from "@hybrid/core"
   * import { CountPrimes } from "./primes.ts"
   *
   * const count = Runner.run(CountPrimes, { n: 1e9 }).pipe(
   *   Effect.catchTag("TaskTimeout", (e) => Effect.logWarning(`${e.task} over ${e.timeout} ms`).pipe(Effect.as(0)))
   * )
   * ```
   *
   * @since 0.1.0
   * @category errors
   */
  TaskTimeout,
  /**
   * @example
   * ```ts
   * import { Effect, Schedule } from "effect"
   * import { Runner } from "@hybrid/core"
   * import { CountPrimes } from "./primes.ts"
   *
   * // the crashed worker is replaced: retrying the call is safe
   * const count = Runner.run(CountPrimes, { n: 1e6 }).pipe(
   *   Effect.retry({ while: (e) => e._tag === "WorkerCrashed", schedule: Schedule.recurs(2) })
   * )
   * ```
   *
   * @since 0.1.0
   * @category errors
   */
  WorkerCrashed,
  /**
   * @example
   * ```ts
   * import { Effect, Metric } from "effect"
   * import { Runner } from "@hybrid/core"
   *
   * const busy = Metric.value(Runner.busyWorkers).pipe(Effect.map((state) => state.value))
   * ```
   *
   * @since 0.1.0
   * @category metrics
   */
  busyWorkers,
  /**
   * @example
   * ```ts
   * import { Effect, Metric } from "effect"
   * import { Runner } from "@hybrid/core"
   *
   * const waiting = Metric.value(Runner.queueDepth).pipe(Effect.map((state) => state.value))
   * ```
   *
   * @since 0.1.0
   * @category metrics
   */
  queueDepth,
  /**
   * @example
   * ```ts
   * import { Effect, Metric } from "effect"
   * import { Runner } from "@hybrid/core"
   *
   * const waits = Metric.value(Runner.queueWait).pipe(Effect.map((state) => `${state.count} calls waited`))
   * ```
   *
   * @since 0.1.0
   * @category metrics
   */
  queueWait,
  /**
   * @example
   * ```ts
   * import { Effect, Metric } from "effect"
   * import { Runner } from "@hybrid/core"
   *
   * const runs = Metric.value(Runner.runTime).pipe(Effect.map((state) => `max ${state.max} ms`))
   * ```
   *
   * @since 0.1.0
   * @category metrics
   */
  runTime
} from "./internal/runnerCore.ts"
export type {
  /**
   * @example
   * ```ts
   * import { Effect } from "effect"
   * import { Runner } from "@hybrid/core"
   * import { CountPrimes } from "./primes.ts"
   *
   * const describe = (e: Runner.RunError): string => `${e._tag}: ${e.message}`
   * const count = Runner.run(CountPrimes, { n: 10 }).pipe(Effect.tapError((e) => Effect.logError(describe(e))))
   * ```
   *
   * @since 0.1.0
   * @category errors
   */
  RunError,
  /**
   * @example
   * ```ts
   * import { Effect } from "effect"
   * import { Runner } from "@hybrid/core"
   *
   * // what the runner in context can take at once
   * const capacity = Effect.map(Runner.Runner, (runner: Runner.RunnerShape) => runner.capacity)
   * ```
   *
   * @since 0.1.0
   * @category models
   */
  RunnerShape
} from "./internal/runnerCore.ts"

/**
 * The service that runs tasks. Provide it with `Runner.layerInProcess` or
 * `NodeRunner.layer`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Runner } from "@hybrid/core"
 * import { CountPrimes } from "./primes.ts"
 *
 * const program = Effect.gen(function*() {
 *   const runner = yield* Runner.Runner
 *   return yield* runner.run(CountPrimes, { n: 1000 })
 * })
 * ```
 *
 * @since 0.1.0
 * @category services
 */
export class Runner extends Context.Service<Runner, RunnerShape>()("@hybrid/core/Runner") {}

/**
 * Runs one task on the current `Runner`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Runner } from "@hybrid/core"
 * import { CountPrimes, countPrimes, Tasks } from "./primes.ts"
 *
 * const program = Runner.run(CountPrimes, { n: 100_000 }) // 9592
 * Effect.runPromise(program.pipe(
 *   Effect.provide(Runner.layerInProcess(Tasks, { CountPrimes: ({ n }) => countPrimes(n) }))
 * ))
 * ```
 *
 * @since 0.1.0
 * @category accessors
 */
export const run = <T extends Task.Any>(
  task: T,
  payload: Task.Payload<T>
): Effect.Effect<Task.Success<T>, Task.Error<T> | RunError, Runner> =>
  Runner.use((runner) => runner.run(task, payload))

/**
 * Runs a task for every payload and returns the results in input order, keeping every
 * worker busy. Fails fast (the rest are interrupted) like `Effect.forEach`.
 *
 * `concurrency` defaults to as many calls as the runner can hold (running plus
 * `maxQueue`), or all of them when there is no `maxQueue`: waiting calls sit in the
 * runner's queue, which is what keeps the workers busy.
 *
 * @example
 * ```ts
 * import { Runner } from "@hybrid/core"
 * import { CountPrimes } from "./primes.ts"
 *
 * // as many at once as the runner takes (workers × calls per worker, plus its queue)
 * const counts = Runner.forEach(CountPrimes, [{ n: 1e5 }, { n: 2e5 }, { n: 3e5 }])
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const forEach: <T extends Task.Any>(
  task: T,
  payloads: Iterable<Task.Payload<T>>,
  options?: { readonly concurrency?: number | "unbounded" | undefined } | undefined
) => Effect.Effect<Array<Task.Success<T>>, Task.Error<T> | RunError, Runner> = Effect.fn("Runner.forEach")(
  function*<T extends Task.Any>(
    task: T,
    payloads: Iterable<Task.Payload<T>>,
    options?: { readonly concurrency?: number | "unbounded" | undefined } | undefined
  ) {
    const runner = yield* Runner
    const concurrency = options?.concurrency ??
      (runner.maxQueue === undefined || runner.capacity === "unbounded"
        ? "unbounded"
        : runner.capacity + runner.maxQueue)
    if (typeof concurrency === "number") options_.integer("Runner.forEach", "concurrency", concurrency)
    return yield* Effect.forEach(payloads, (payload) => runner.run(task, payload), { concurrency })
  }
)

/**
 * Options of `Runner.layerInProcess`.
 *
 * @example
 * ```ts
 * import { Runner } from "@hybrid/core"
 * import { countPrimes, Tasks } from "./primes.ts"
 *
 * const options: Runner.InProcessOptions = { taskTimeout: "2 seconds" }
 * const layer = Runner.layerInProcess(Tasks, { CountPrimes: ({ n }) => countPrimes(n) }, options)
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface InProcessOptions {
  /** Fail a call with `TaskTimeout` when it runs longer (cooperative: a synchronous handler is not stopped). */
  readonly taskTimeout?: Duration.Input | undefined
}

/**
 * A runner that runs every task on the calling thread — for tests and one-core machines.
 * Payloads, results and typed errors make the same Schema round trip as across a worker
 * thread, so switching to `NodeRunner.layer` changes where, not what.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Runner } from "@hybrid/core"
 * import { CountPrimes, countPrimes, Tasks } from "./primes.ts"
 *
 * // the same program, without workers: for tests, or where threads are not worth it
 * const test = Runner.forEach(CountPrimes, [{ n: 10 }, { n: 20 }]).pipe(
 *   Effect.provide(Runner.layerInProcess(Tasks, { CountPrimes: ({ n }) => countPrimes(n) }))
 * )
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerInProcess = <T extends Task.Any>(
  group: Task.Group<T>,
  handlers: NoInfer<Task.Handlers<T>>,
  options?: InProcessOptions | undefined
): Layer.Layer<Runner> => {
  const taskTimeout = options?.taskTimeout === undefined
    ? undefined
    : options_.duration("Runner.layerInProcess", "taskTimeout", options.taskTimeout, true)
  return Layer.succeed(Runner, InProcess.make(group, handlers, { taskTimeout }))
}
