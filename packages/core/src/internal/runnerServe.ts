/**
 * The worker side of `NodeRunner`: a small server of effect/rpc's worker protocol, written
 * against the pool's framing (`runnerFrames.ts`) — `Request` and `Interrupt` in, one `Exit`
 * out per call, encoded with the same Schema codecs as effect/rpc's (`Rpc.exitSchema` of
 * the task, as JSON, through structured clone) — with the task handlers run as plain
 * functions or Effects, and the caller's remaining `Deadline` visible to
 * `Deadline.remaining` in Effect handlers.
 *
 * Why not `RpcServer`: it costs a fiber, a scope and a semaphore per call, and loading it
 * a worker's start-up; a call of a plain (synchronous) handler here is a decode, a
 * function call, an encode and a `postMessage`, no fiber. Effect handlers run in a fiber
 * of their own (the layer's context), interrupted by an `Interrupt`.
 *
 * The server runs at most `concurrency` calls at once (the pool's `concurrencyPerWorker`,
 * passed in `workerData`), in the order they arrive; calls beyond it wait here, first in
 * first out, which is what lets the pool send calls ahead and know which calls a worker
 * runs. Each answer leaves at once, before the next call starts: when a worker dies, every
 * answer it gave has reached the pool before its `exit` event.
 *
 * Imported by worker entry files: it must never import the pool.
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import type * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as Transferable from "effect/workers/Transferable"
import * as WorkerThreads from "node:worker_threads"
import * as Deadline from "../Deadline.ts"
import type * as Task from "../Task.ts"
import * as Core from "./runnerCore.ts"
import * as Frames from "./runnerFrames.ts"

/** A task this worker serves. */
interface Served {
  readonly task: Task.Any
  readonly handler: (payload: unknown) => unknown
  readonly codecs: Core.Codecs
  /** How long (ms) this task's last call held the thread when it started; NaN before its first. */
  lastMs: number
}

/** A call received and not answered. */
interface Request {
  readonly id: unknown
  readonly served: Served | undefined
  readonly tag: string
  readonly payload: unknown
  /** The caller's remaining deadline (ms) when it arrived, or `Frames.noDeadline`. */
  readonly remaining: number
  readonly arrived: number
  /** Interrupted before it started: skipped. */
  dropped: boolean
}

/** What the pool tells a worker in `workerData` (see `poolSpawner.ts`). */
interface PoolData {
  readonly concurrency?: unknown
  readonly progress?: unknown
}

const poolData = (): PoolData | undefined =>
  (WorkerThreads.workerData as Record<string, PoolData | undefined> | undefined)?.[Core.workerDataKey]

/** The concurrency the pool asked for (`workerData`), 1 when run outside a pool. */
const concurrency = (): number => {
  const value = poolData()?.concurrency
  return typeof value === "number" && Number.isInteger(value) && value >= 1 ? value : 1
}

/** The pool's progress counter (`Frames.progressTaken`), if it gave one. */
const progress = (): Int32Array | undefined => {
  const value = poolData()?.progress
  return value instanceof SharedArrayBuffer ? new Int32Array(value) : undefined
}

/**
 * Answers wait in the outbox while the calls after them run, at most this long (ms): a
 * burst of tiny calls is answered in one message, and a call that takes longer than this
 * is answered before the next one starts. Nor do they wait for a call whose task held
 * the thread longer than this the last time (or has not run here yet): a quick call's
 * answer is not held back by a slow call behind it, unless that task was quick before.
 */
const flushAfter = 0.2

/** The defect of a result that does not fit its task's schema (see `runnerFrames.invalidResultName`). */
const invalidResult = (task: Task.Any, issue: unknown): Error => {
  const error = new Error(`the result of task ${task.name} does not fit its schema: ${String(issue)}`)
  error.name = Frames.invalidResultName
  return error
}

/** Runs a Schema codec's result to an `Exit`, collecting transferables (`Task.Transferable`). */
const runCodec = (
  result: Effect.Effect<unknown, Schema.SchemaError>,
  collector: Transferable.Collector["Service"] | undefined
): Exit.Exit<unknown, Schema.SchemaError> =>
  Exit.isExit(result)
    ? result as Exit.Exit<unknown, Schema.SchemaError>
    : Effect.runSyncExit(
      collector === undefined ? result : Effect.provideService(result, Transferable.Collector, collector)
    )

const issueOf = (cause: Cause.Cause<unknown>): unknown => {
  const error = Cause.squash(cause)
  return error instanceof Error ? error.message : error
}

/** One worker's calls: the queue, the calls running, their answers. */
class Server {
  private readonly queue: Array<Request> = []
  private head = 0
  private running = 0
  private pumping = false
  private readonly fibers = new Map<unknown, Fiber.Fiber<unknown, unknown>>()
  private readonly served: ReadonlyMap<string, Served>
  private readonly concurrency: number
  private readonly port: WorkerThreads.MessagePort
  private readonly runFork: <A, E>(effect: Effect.Effect<A, E>) => Fiber.Fiber<A, E>
  /** Calls taken off the queue (started or dropped), in arrival order; shared with the pool. */
  private taken = 0
  private readonly progress: Int32Array | undefined
  /** Answers not yet posted (`Frames.answerWidth` fields each), and their transferables. */
  private outbox: Array<unknown> = []
  private outTransfers: Array<WorkerThreads.TransferListItem> = []
  /** When the oldest answer in the outbox was made. */
  private outboxSince = 0
  private flushScheduled = false
  private readonly flushLater = () => {
    this.flushScheduled = false
    this.flush()
  }

  constructor(
    served: ReadonlyMap<string, Served>,
    concurrency: number,
    port: WorkerThreads.MessagePort,
    context: Context.Context<never>,
    progress: Int32Array | undefined
  ) {
    this.served = served
    this.concurrency = concurrency
    this.port = port
    this.runFork = Effect.runForkWith(context)
    this.progress = progress
  }

  /** A batch of the pool's messages (`runnerFrames.ts`). */
  receive(batch: ReadonlyArray<unknown>): void {
    const arrived = performance.now()
    for (let i = 0; i < batch.length;) {
      if (batch[i] === Frames.request) {
        const tag = batch[i + 2] as string
        this.queue.push({
          id: batch[i + 1],
          served: this.served.get(tag),
          tag,
          payload: batch[i + 3],
          remaining: batch[i + 4] as number,
          arrived,
          dropped: false
        })
        i += 5
      } else {
        this.interrupt(batch[i + 1])
        i += 2
      }
    }
    this.pump()
    this.flush()
  }

  /** Starts waiting calls while slots are free. */
  private pump(): void {
    if (this.pumping) return
    this.pumping = true
    while (this.running < this.concurrency && this.head < this.queue.length) {
      const request = this.queue[this.head]!
      this.queue[this.head++] = undefined!
      if (request.dropped) {
        this.take()
        continue
      }
      // answers leave before the next call starts if they are older than `flushAfter`, or
      // if that call may hold the thread longer (its task's last call did, or it never ran)
      const served = request.served
      const start = performance.now()
      if (
        this.outbox.length > 0 &&
        (start - this.outboxSince >= flushAfter || served === undefined || !(served.lastMs < flushAfter))
      ) this.flush()
      this.take()
      const t0 = performance.now()
      this.start(request)
      if (served !== undefined) served.lastMs = performance.now() - t0
    }
    if (this.head === this.queue.length) {
      this.queue.length = 0
      this.head = 0
    }
    this.pumping = false
  }

  /** Counts a call taken off the queue, where the pool can read it even if this thread dies. */
  private take(): void {
    this.taken++
    if (this.progress !== undefined) Atomics.store(this.progress, Frames.progressTaken, this.taken)
  }

  private interrupt(id: unknown): void {
    for (let i = this.head; i < this.queue.length; i++) {
      const request = this.queue[i]!
      if (request.id === id && !request.dropped) {
        // it never started: answered as interrupted, like RpcServer
        request.dropped = true
        this.running++
        this.answer(request, Exit.interrupt())
        return
      }
    }
    this.fibers.get(id)?.interruptUnsafe()
  }

  private start(request: Request): void {
    this.running++
    const served = request.served
    if (served === undefined) return this.answer(request, Exit.die(`Unknown request tag: ${request.tag}`))
    const decoded = runCodec(served.codecs.decodePayload(request.payload), undefined)
    if (Exit.isFailure(decoded)) return this.answer(request, Exit.die(String(issueOf(decoded.cause))))
    let result: unknown
    try {
      result = served.handler(decoded.value)
    } catch (defect) {
      return this.answer(request, Exit.die(defect))
    }
    if (!Effect.isEffect(result)) return this.answer(request, Exit.succeed(result))
    this.runEffect(request, result as Effect.Effect<unknown, unknown>)
  }

  private runEffect(request: Request, effect: Effect.Effect<unknown, unknown>): void {
    const remaining = request.remaining
    const program = remaining === Frames.noDeadline
      ? effect
      : Effect.flatMap(
        Clock.currentTimeMillis,
        // the caller enforces its deadline (its interruption arrives as an Interrupt);
        // here the handler only needs to see it, from when the call arrived
        (now) => Effect.provideService(effect, Deadline.Current, now + remaining - (performance.now() - request.arrived))
      )
    let done = false
    const fiber = this.runFork(program)
    fiber.addObserver((exit) => {
      done = true
      this.fibers.delete(request.id)
      this.answer(request, exit)
      this.pump()
    })
    if (!done) this.fibers.set(request.id, fiber)
  }

  /**
   * Encodes a call's `Exit` into the outbox. It leaves with the answers of the same burst
   * (`flush`): at the end of the message that brought the call, before a later call
   * starts if it is older than `flushAfter`, or at the end of this turn for an Effect
   * handler's answer.
   */
  private answer(request: Request, exit: Exit.Exit<unknown, unknown>): void {
    this.running--
    const codecs = request.served?.codecs
    const collector = Transferable.makeCollectorUnsafe()
    const outbox = this.outbox
    if (outbox.length === 0) this.outboxSince = performance.now()
    if (codecs === undefined) {
      outbox.push(request.id, Frames.answerExit, exitOfDefect(exit))
    } else if (Exit.isSuccess(exit)) {
      const encoded = runCodec(codecs.encodeSuccess(exit.value), collector)
      if (Exit.isSuccess(encoded)) outbox.push(request.id, Frames.answerSuccess, encoded.value)
      else {
        const defect = Exit.die(invalidResult(request.served!.task, issueOf(encoded.cause)))
        outbox.push(request.id, Frames.answerExit, this.encodeExit(request, defect, collector))
      }
    } else {
      outbox.push(request.id, Frames.answerExit, this.encodeExit(request, exit, collector))
    }
    const transfers = collector.readUnsafe()
    for (let i = 0; i < transfers.length; i++) this.outTransfers.push(transfers[i] as WorkerThreads.TransferListItem)
    if (!this.pumping && !this.flushScheduled) {
      this.flushScheduled = true
      queueMicrotask(this.flushLater)
    }
    this.pump()
  }

  /** Posts the answers in the outbox as one message. */
  private flush(): void {
    if (this.outbox.length === 0) return
    const outbox = this.outbox
    const transfers = this.outTransfers
    this.outbox = []
    this.outTransfers = []
    this.port.postMessage([1, outbox], transfers)
  }

  private encodeExit(request: Request, exit: Exit.Exit<unknown, unknown>, collector: Transferable.Collector["Service"]): unknown {
    const codecs = request.served!.codecs
    const encoded = runCodec(codecs.encodeExit(exit), collector)
    if (Exit.isSuccess(encoded)) return encoded.value
    // its error does not fit the task's error schema: a defect naming the task
    const fallback = runCodec(codecs.encodeExit(Exit.die(invalidResult(request.served!.task, issueOf(encoded.cause)))), undefined)
    return Exit.isSuccess(fallback) ? fallback.value : exitOfDefect(exit)
  }

  /** Interrupts every Effect handler still running (the layer's scope closes). */
  close(): void {
    for (const fiber of this.fibers.values()) fiber.interruptUnsafe()
    this.fibers.clear()
  }
}

const encodeDefectExit = Schema.encodeSync(Schema.toCodecJson(Schema.Exit(Schema.Never, Schema.Never, Schema.Defect())))

/** An encoded `Exit.die` for a call of a task this worker does not serve (or whose encoding failed twice). */
const exitOfDefect = (exit: Exit.Exit<unknown, unknown>): unknown =>
  encodeDefectExit(Exit.die(String(Exit.isFailure(exit) ? Cause.squash(exit.cause) : "no result")))

/** The worker side of a group as a layer: serves the pool on `parentPort` while it lives. */
export const layer = <T extends Task.Any>(
  group: Task.Group<T>,
  handlers: Task.Handlers<T>
): Layer.Layer<never> =>
  Layer.effectDiscard(Effect.gen(function*() {
    const port = WorkerThreads.parentPort
    if (port === null) return yield* Effect.die(new Error("NodeRunner.serve must run in a worker thread"))
    const table = handlers as unknown as Record<string, (payload: unknown) => unknown>
    const served = new Map<string, Served>()
    for (const task of group.tasks) {
      const handler = table[task.name]
      if (handler !== undefined) served.set(task.name, { task, handler, codecs: Core.codecs(task), lastMs: Number.NaN })
    }
    const server = new Server(served, concurrency(), port, yield* Effect.context<never>(), progress())
    const onMessage = (data: readonly [0, ReadonlyArray<unknown>] | readonly [1]) => {
      if (data[0] === 0) server.receive(data[1])
      else port.close() // effect/workers' close message
    }
    port.on("message", onMessage)
    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        port.off("message", onMessage)
        server.close()
      })
    )
    // effect/workers' ready message
    port.postMessage([0])
  }))

/** Serves a group in the current worker thread until the pool closes it. */
export const serve = <T extends Task.Any>(group: Task.Group<T>, handlers: NoInfer<Task.Handlers<T>>): void => {
  NodeRuntime.runMain(Layer.launch(layer(group, handlers)), { disableErrorReporting: false })
}
