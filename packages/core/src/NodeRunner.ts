/**
 * Runs tasks on a pool of Node worker threads — every core, with Effect's guarantees
 * (interruption, typed errors, scoped lifetimes) kept across the thread boundary.
 *
 * Built on Effect's own protocols: each worker serves effect/rpc's worker protocol
 * (`Request` / `Interrupt` in, `Exit` back, encoded with effect/rpc's Schema codecs, inside
 * effect/workers' envelope) with a small server of its own — no fiber per call for a plain
 * handler — and the pool speaks it from one queue in the main thread. Two halves:
 *
 * - the worker file is one call, `serve(group, handlers)` from the thin entry
 *   `@hybrid/core/worker`; it imports only the task declarations and the handlers (never
 *   the pool, which `@hybrid/core` and `@hybrid/core/NodeRunner` load);
 * - the main thread provides `NodeRunner.layer(group, { worker: new URL(...) })` where it
 *   would provide `Runner.layerInProcess(group, handlers)`; calling code does not change.
 *
 * What the pool guarantees:
 * - Backpressure: a worker runs at most `concurrencyPerWorker` calls at once; calls wait
 *   in a FIFO queue in the main thread while every worker is busy; past `maxQueue` they
 *   fail with `RunnerQueueFull`.
 * - Each call goes to the least loaded worker that can take it (fewest calls running and
 *   waiting); `balancer: "round-robin"` or a function of your own chooses otherwise.
 * - Short calls are sent ahead: while a worker is busy, the pool may send it more calls
 *   that wait in the worker (first in, first out), so that it never sits idle waiting for
 *   the next message — only calls of tasks whose earlier calls took little time, behind
 *   such calls, up to `sendAhead` (default 2 ms) of estimated work and 1024 calls per worker.
 *   The calls for one worker leave in one message per turn of the event loop, and a worker
 *   answers a burst of them in one message (an answer waits at most 0.2 ms for the calls
 *   after it). This is what makes tiny tasks cheap. A long call is sent ahead alone, when
 *   the call its worker runs is expected (by its task's estimate) to end within
 *   `sendAhead` and a call stays queued for every other worker: the worker starts it
 *   without waiting a main-thread round trip (which grows when the main thread is busy,
 *   e.g. with a `Pipeline`'s other stages).
 * - A call starts when its worker takes it on: a worker runs the first
 *   `concurrencyPerWorker` calls it was sent and has not answered, so a call sent ahead
 *   starts when the answer of the call before it reaches the pool (a message's transit
 *   after the worker began it). `taskTimeout`, the `runMs` of its span and the run-time
 *   metric count from there; time spent waiting — in the main thread or in the worker — is
 *   queue wait and never counts towards `taskTimeout`.
 * - Cancellation: interrupting a call sends an `Interrupt` to its worker. A call still
 *   waiting in the worker is dropped there without running. An Effect handler stops where
 *   it yields; a handler stuck in synchronous code gets `cancelGrace` (default 1 s), then
 *   its worker is terminated and replaced. Either way the caller sees the interruption at
 *   once, and the pool keeps its size.
 * - The caller's remaining `Deadline` travels with the call: `Deadline.remaining` works in
 *   handlers (the caller's interruption enforces it).
 * - A worker that dies — it crashed (uncaught exception, `process.exit`, out of memory under
 *   `resourceLimits`) or was terminated after `cancelGrace` — fails only the calls it had
 *   taken on, with `WorkerCrashed`, and is replaced; a counter shared with the worker tells
 *   the pool exactly which those were. The calls that were waiting in it had not started:
 *   they go back to the front of the queue and run on another worker.
 * - `recycleAfter: { tasks, heapUsedMb }` replaces a worker after that many tasks or when
 *   its heap grows past the limit.
 * - Payloads and results with `Task.Transferable` schemas are moved, not copied.
 * - The pool is scoped: when its scope closes, every worker is terminated, and calls still
 *   running or queued are interrupted.
 *
 * Gotchas:
 * - The worker file and everything it imports must be erasable TypeScript with `.ts` import
 *   extensions (Node runs it directly), e.g. no enums and no parameter properties.
 * - Workers start in parallel when the layer is built; the layer is ready as soon as one of
 *   them is (calls queue for it, the others join as they get ready), and fails with
 *   `RunnerError` (`WorkerStartFailed`) if a worker dies before any is ready. A worker's start-up is mostly
 *   loading Effect's modules: a bootstrap turns on Node's compile cache (in `os.tmpdir()`;
 *   `NODE_DISABLE_COMPILE_CACHE=1` turns it off) and resolves Effect's internal imports
 *   directly — ≈ 510 M instructions per worker of the `cpu` benchmark against ≈ 960 M
 *   before (callgrind, from `new Worker` to its first result).
 * - With Effect's default tracer (no tracing backend installed) calls make no `Runner.run`
 *   span: nothing could observe it. Install a tracer and every call has one.
 * - A worker answers a burst of tiny calls in one message. An answer waits at most 0.2 ms
 *   for the calls after it, and never for a call whose task held the thread longer than
 *   that the last time it ran there (or has not run there yet): only a usually quick task's
 *   call that turns out long can hold back the answers before it. When a worker dies, the
 *   tiny calls it had answered but whose answers were still waiting (at most 0.2 ms of
 *   them) fail with `WorkerCrashed` too.
 * - A plain synchronous handler cannot be interrupted: with `concurrencyPerWorker > 1`,
 *   terminating a stuck worker also fails the other calls it had taken on (up to
 *   `concurrencyPerWorker`, begun or not — the pool cannot tell); only the calls waiting
 *   behind those run again elsewhere.
 * - A call that turns out longer than its task's estimate delays the calls sent ahead
 *   behind it in the same worker, even if another worker frees up (for a long call, only
 *   while the queue still holds a call for each other worker); `sendAhead: 0` turns
 *   sending ahead off.
 * - `taskTimeout` and `cancelGrace` are real time (Node timers), not Effect's `Clock`:
 *   the workers run in real time, even under a `TestClock`.
 * - A tiny call costs the calling thread ≈ 4.5–6 µs of CPU (the caller's own `forEach`
 *   fiber included) and each worker ≈ 2 µs when calls travel sent ahead in batches
 *   (measured on a 2-core VM at load 0.3: 20,000 calls of n + 1 on 2 workers at
 *   ≈ 105–150k calls/s, ≈ 5× piscina in the same run); a task of a few microseconds of work is still cheaper inline.
 *
 * @example
 * ```ts
 * // primes.worker.ts
 * import { serve } from "@hybrid/core/worker"
 * import { countPrimes, Tasks } from "./primes.ts"
 * serve(Tasks, { CountPrimes: ({ n }) => countPrimes(n) })
 *
 * // main.ts
 * import { Effect } from "effect"
 * import { NodeRunner, Runner } from "@hybrid/core"
 * import { CountPrimes, Tasks } from "./primes.ts"
 *
 * const program = Runner.forEach(CountPrimes, [{ n: 1e6 }, { n: 2e6 }])
 * Effect.runPromise(program.pipe(Effect.provide(
 *   NodeRunner.layer(Tasks, { worker: new URL("./primes.worker.ts", import.meta.url) })
 * )))
 * ```
 *
 * @since 0.1.0
 */
import type * as WorkerThreads from "node:worker_threads"
import type { Duration } from "effect"
import { Context, Effect, Layer } from "effect"
import * as os from "node:os"
import { InvalidOption } from "./InvalidOption.ts"
import * as options_ from "./internal/options.ts"
import * as Balancer_ from "./internal/poolBalancer.ts"
import * as PoolImpl from "./internal/runnerPool.ts"
import * as Serve from "./internal/runnerServe.ts"
import type { RunnerError } from "./internal/runnerCore.ts"
import { Runner } from "./Runner.ts"
import type * as Task from "./Task.ts"

/**
 * Options of `NodeRunner.layer`.
 *
 * @example
 * ```ts
 * import { NodeRunner } from "@hybrid/core"
 * import { Tasks } from "./primes.ts"
 *
 * const options: NodeRunner.Options = {
 *   worker: new URL("./primes.worker.ts", import.meta.url),
 *   size: 4,
 *   maxQueue: 1000,
 *   taskTimeout: "30 seconds",
 *   recycleAfter: { heapUsedMb: 512 }
 * }
 * const pool = NodeRunner.layer(Tasks, options)
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The worker entry file, which calls `NodeRunner.serve` with the same group. */
  readonly worker: URL | string
  /** Number of worker threads; defaults to `os.availableParallelism()`. */
  readonly size?: number | undefined
  /**
   * Calls a worker runs at once; defaults to 1 (one CPU-bound call per thread). Short calls
   * may also be sent ahead to wait in a busy worker (see above).
   */
  readonly concurrencyPerWorker?: number | undefined
  /**
   * Calls allowed to wait in the main thread for a worker; beyond it calls fail with
   * `RunnerQueueFull`. Unbounded by default. (Calls sent ahead to a worker are not counted.)
   */
  readonly maxQueue?: number | undefined
  /**
   * Per-call run-time limit, counted from when the call starts in its worker (not while it
   * waits); fails with `TaskTimeout`, and the call is cancelled in its worker.
   */
  readonly taskTimeout?: Duration.Input | undefined
  /** How long a cancelled call may keep its worker before the worker is terminated; default 1 second. */
  readonly cancelGrace?: Duration.Input | undefined
  /**
   * How much estimated work may wait in a busy worker: calls are sent ahead to it while the
   * estimated run times of its calls in flight add up to at most this (and at most 1024
   * calls wait), or one call when its running call is expected to end within this.
   * Default 2 milliseconds; 0 sends nothing ahead (every call waits in the
   * main thread until a worker has a free slot).
   */
  readonly sendAhead?: Duration.Input | undefined
  /**
   * How a call's worker is chosen among those that can take it: `"least-loaded"` (the
   * default: fewest calls running and waiting), `"round-robin"`, or a function. Sending
   * ahead's limits hold whatever the choice: only workers that can take the call are offered.
   */
  readonly balancer?: "least-loaded" | "round-robin" | Balancer | undefined
  /** Replace a worker after `tasks` calls, or when its used heap exceeds `heapUsedMb`. */
  readonly recycleAfter?: {
    readonly tasks?: number | undefined
    readonly heapUsedMb?: number | undefined
  } | undefined
  /** `worker_threads` resource limits, e.g. `{ maxOldGenerationSizeMb: 256 }`. */
  readonly resourceLimits?: WorkerThreads.ResourceLimits | undefined
  /** Environment of the workers (default: a copy of `process.env`). */
  readonly env?: Record<string, string> | undefined
  /** Extra `execArgv` of the workers. */
  readonly execArgv?: ReadonlyArray<string> | undefined
  /**
   * The nice value of each worker thread, 0 (the default: as the main thread) to 19 (the
   * lowest priority). Raised, the kernel runs the main thread first when both want a
   * core: its event loop (timers, I/O, a server's quick replies) is not kept waiting by
   * CPU-bound calls, which take the cores it leaves. Never below the thread's own nice
   * value. Linux only — there `os.setPriority(0, n)` in a thread renices that thread
   * alone; elsewhere it would renice the whole process, so the option is ignored.
   *
   * @example
   * ```ts
   * import { NodeRunner } from "@hybrid/core"
   *
   * const options: Partial<NodeRunner.Options> = { size: 2, niceness: 10 }
   * ```
   */
  readonly niceness?: number | undefined
}

/**
 * What a balancer sees of a worker that can take a call.
 *
 * @example
 * ```ts
 * import type { NodeRunner } from "@hybrid/core"
 *
 * const busiest = (workers: ReadonlyArray<NodeRunner.WorkerLoad>) =>
 *   Math.max(...workers.map((w) => w.running + w.waiting))
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface WorkerLoad {
  /** Position of the worker in the pool (0 … size − 1); a replacement keeps it. */
  readonly index: number
  /** The runner's id of the worker (a replacement gets a new one). */
  readonly workerId: number
  /** Calls it runs. */
  readonly running: number
  /** Calls sent ahead that wait in it. */
  readonly waiting: number
}

/**
 * A custom `balancer`: chooses a worker for a call of `task` among `workers` — the ones
 * that can take it, never empty, in pool order — or `undefined` to leave the call queued
 * until a worker frees up. Called once per call placed: keep it cheap.
 *
 * @example
 * ```ts
 * import type { NodeRunner } from "@hybrid/core"
 *
 * // the last worker that can take the call (leaves the first ones for other work)
 * const lastFree: NodeRunner.Balancer = (_task, workers) => workers[workers.length - 1]
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type Balancer = (task: { readonly name: string }, workers: ReadonlyArray<WorkerLoad>) => WorkerLoad | undefined

/**
 * Statistics of a running pool.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { NodeRunner } from "@hybrid/core"
 *
 * const describe = (s: NodeRunner.PoolStats) => `${s.workers.length} workers, ${s.queued} queued, ${s.spawned} spawned`
 * const stats = Effect.flatMap(NodeRunner.Pool, (pool) => pool.stats).pipe(Effect.map(describe))
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface PoolStats {
  /**
   * The current workers, one per slot: the runner's worker id, the thread id, the state
   * (`starting`, `ready`, `retiring`, `dying`), the calls it is running and the calls sent
   * ahead that wait in it.
   */
  readonly workers: ReadonlyArray<{
    readonly workerId: number
    readonly threadId: number
    readonly state: string
    readonly running: number
    readonly waiting: number
  }>
  /** Workers started since the pool was built (replacements included). */
  readonly spawned: number
  /** Calls waiting in the main thread for a worker. */
  readonly queued: number
}

/**
 * Introspection of the pool provided by `NodeRunner.layer`, next to `Runner`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { NodeRunner, Runner } from "@hybrid/core"
 * import { CountPrimes, Tasks } from "./primes.ts"
 *
 * const program = Effect.gen(function*() {
 *   yield* Runner.forEach(CountPrimes, [{ n: 1e5 }, { n: 2e5 }])
 *   const pool = yield* NodeRunner.Pool
 *   return yield* pool.stats // workers, their state and load, spawned, queued
 * }).pipe(Effect.provide(NodeRunner.layer(Tasks, { worker: new URL("./primes.worker.ts", import.meta.url), size: 2 })))
 * ```
 *
 * @since 0.1.0
 * @category services
 */
export class Pool extends Context.Service<Pool, {
  readonly stats: Effect.Effect<PoolStats>
}>()("@hybrid/core/NodeRunner/Pool") {}

const validate = (options: Options): PoolImpl.Options => {
  const where = "NodeRunner.layer"
  const size = options_.integer(where, "size", options.size ?? os.availableParallelism())
  const concurrencyPerWorker = options_.integer(where, "concurrencyPerWorker", options.concurrencyPerWorker ?? 1)
  const maxQueue = options.maxQueue === undefined ? undefined : options_.integer(where, "maxQueue", options.maxQueue, 0)
  const taskTimeout = options.taskTimeout === undefined
    ? undefined
    : options_.duration(where, "taskTimeout", options.taskTimeout, true)
  const cancelGrace = options_.duration(where, "cancelGrace", options.cancelGrace ?? "1 second")
  const sendAhead = options_.duration(where, "sendAhead", options.sendAhead ?? "2 millis")
  const recycleTasks = options.recycleAfter?.tasks === undefined
    ? undefined
    : options_.integer(where, "recycleAfter.tasks", options.recycleAfter.tasks)
  const heapUsedMb = options.recycleAfter?.heapUsedMb === undefined
    ? undefined
    : options_.finite(where, "recycleAfter.heapUsedMb", options.recycleAfter.heapUsedMb, Number.MIN_VALUE)
  const worker = typeof options.worker === "string" && URL.canParse(options.worker)
    ? new URL(options.worker)
    : options.worker
  if (!(worker instanceof URL)) {
    throw new InvalidOption({ where, option: "worker", value: String(options.worker), expected: "a URL (file: URL of the worker entry)" })
  }
  const balancer = options.balancer
  if (balancer !== undefined && balancer !== "least-loaded" && balancer !== "round-robin" && typeof balancer !== "function") {
    throw new InvalidOption({ where, option: "balancer", value: String(balancer).slice(0, 40), expected: '"least-loaded", "round-robin" or a function' })
  }
  const niceness = options.niceness ?? 0
  if (!(Number.isInteger(niceness) && niceness >= 0 && niceness <= 19)) options_.reject(where, "niceness", niceness, "an integer in [0, 19]")
  const workerOptions: WorkerThreads.WorkerOptions = {
    ...(options.resourceLimits === undefined ? {} : { resourceLimits: options.resourceLimits }),
    ...(options.env === undefined ? {} : { env: options.env }),
    ...(options.execArgv === undefined ? {} : { execArgv: [...options.execArgv] })
  }
  return {
    worker,
    size,
    concurrencyPerWorker,
    maxQueue,
    taskTimeout,
    cancelGrace,
    sendAhead,
    recycleTasks,
    recycleHeapBytes: heapUsedMb === undefined ? undefined : heapUsedMb * 1024 * 1024,
    workerOptions,
    balancer: Balancer_.fromOption(balancer),
    niceness: process.platform === "linux" ? niceness : 0
  }
}

/**
 * A `Runner` backed by a pool of worker threads running `options.worker`, plus the pool's
 * statistics (`NodeRunner.Pool`). The pool lives as long as the layer's scope; workers are
 * started (in parallel) when the layer is built. Bad options throw `InvalidOption` at once.
 *
 * @example
 * ```ts
 * import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
 * import { Effect } from "effect"
 * import { NodeRunner, Runner } from "@hybrid/core"
 * import { CountPrimes, Tasks } from "./primes.ts"
 *
 * // two worker threads run primes.worker.ts; the calls go to whichever is free
 * Runner.forEach(CountPrimes, [{ n: 2e6 }, { n: 3e6 }]).pipe(
 *   Effect.tap((counts) => Effect.log(counts)),
 *   Effect.provide(NodeRunner.layer(Tasks, { worker: new URL("./primes.worker.ts", import.meta.url), size: 2 })),
 *   NodeRuntime.runMain
 * )
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = <T extends Task.Any>(
  group: Task.Group<T>,
  options: Options
): Layer.Layer<Runner | Pool, RunnerError> => {
  const validated = validate(options)
  return Layer.effectContext(
    Effect.map(PoolImpl.make(group, validated), (pool) =>
      Context.make(Runner, pool.shape).pipe(
        Context.add(Pool, { stats: Effect.sync(pool.stats) })
      ))
  )
}

/**
 * Serves a group of tasks in the current worker thread — the whole body of a worker entry
 * file. Handlers are Effects or plain (synchronous) functions; a thrown exception is a
 * defect of that call only. Runs until the pool closes the worker.
 *
 * @example
 * ```ts
 * // primes.worker.ts
 * import { NodeRunner } from "@hybrid/core"
 * import { countPrimes, Tasks } from "./primes.ts"
 *
 * // prefer `serve` from "@hybrid/core/worker": same function, without the pool in the worker
 * NodeRunner.serve(Tasks, { CountPrimes: ({ n }) => countPrimes(n) })
 * ```
 *
 * @since 0.1.0
 * @category workers
 */
export const serve: <T extends Task.Any>(group: Task.Group<T>, handlers: NoInfer<Task.Handlers<T>>) => void =
  Serve.serve

/**
 * The worker side as a layer (what `serve` launches), to compose with other layers.
 *
 * @example
 * ```ts
 * import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
 * import { Layer } from "effect"
 * import { NodeRunner } from "@hybrid/core"
 * import { countPrimes, Tasks } from "./primes.ts"
 *
 * NodeRuntime.runMain(Layer.launch(NodeRunner.layerServer(Tasks, { CountPrimes: ({ n }) => countPrimes(n) })))
 * ```
 *
 * @since 0.1.0
 * @category workers
 */
export const layerServer: <T extends Task.Any>(
  group: Task.Group<T>,
  handlers: NoInfer<Task.Handlers<T>>
) => Layer.Layer<never> =
  Serve.layer
