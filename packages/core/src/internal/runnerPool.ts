/**
 * The main-thread side of `NodeRunner`: a fixed-size pool of worker threads, each one an
 * `effect/rpc` `RpcClient` over its own single-worker protocol (`effect/workers` +
 * `@effect/platform-node` `NodeWorker`), plus a FIFO queue of waiting calls.
 *
 * Why one client per worker instead of `RpcClient.layerProtocolWorker({ size })`: the pool
 * must act on one worker without touching the others — terminate and replace a worker
 * stuck in synchronous code, recycle it, fail only its own calls when it crashes (Effect's
 * pooled protocol fails every in-flight call of the client and respawns after 1 s) — and
 * it must know when a cancelled call has really stopped in its worker (the `Exit` the
 * server sends after an `Interrupt`) before giving the worker another call.
 *
 * Life of a call: `acquire` (a free slot, or a place in the queue) → the call runs on the
 * slot's `RpcClient` in a child fiber → the worker's `Exit` settles it (the slot is free
 * again at once and the next waiter is dispatched) → the caller resumes with the decoded
 * result. If the caller goes away first (interrupt, `taskTimeout`), `RpcClient` sends an
 * `Interrupt`; the slot stays busy until the worker answers, or for `cancelGrace`, after
 * which the worker is terminated and replaced. A worker that dies fails only its own calls
 * with `WorkerCrashed` — their callers are resumed directly, so no call can hang on a dead
 * worker.
 */
import * as NodeWorker from "@effect/platform-node/NodeWorker"
import { Cause, Clock, Context, Deferred, Effect, Exit, Fiber, Metric, Schema, Scope } from "effect"
import { RpcClient } from "effect/rpc"
import type { FromClientEncoded, FromServerEncoded } from "effect/rpc/RpcMessage"
import type * as RpcSerialization from "effect/rpc/RpcSerialization"
import * as Worker from "effect/workers/Worker"
import * as WorkerThreads from "node:worker_threads"
import * as Deadline from "../Deadline.ts"
import type * as Task from "../Task.ts"
import * as Core from "./runnerCore.ts"

/** Validated options of `NodeRunner.layer`. */
export interface Options {
  readonly worker: URL
  readonly size: number
  readonly concurrencyPerWorker: number
  readonly maxQueue: number | undefined
  readonly taskTimeout: number | undefined
  readonly cancelGrace: number
  readonly recycleTasks: number | undefined
  readonly recycleHeapBytes: number | undefined
  readonly workerOptions: WorkerThreads.WorkerOptions
}

/** Statistics of a pool, for tests and benchmarks. */
export interface Stats {
  readonly workers: ReadonlyArray<{ readonly workerId: number; readonly threadId: number; readonly state: string }>
  readonly spawned: number
  readonly queued: number
}

interface Call {
  readonly slot: Slot
  readonly task: Task.Any
  readonly startedAt: number
  requestId: string | number | undefined
  settled: boolean
  released: boolean
  resume: ((effect: Effect.Effect<unknown, unknown>) => void) | undefined
}

interface Slot {
  readonly index: number
  readonly workerId: number
  readonly thread: WorkerThreads.Worker
  readonly scope: Scope.Closeable
  readonly ready: Deferred.Deferred<void, string>
  state: "starting" | "ready" | "retiring" | "dead"
  active: number
  completed: number
  clientId: number
  client: ((tag: string, payload: unknown, options: { readonly headers?: Record<string, string> }) => Effect.Effect<unknown, unknown>) | undefined
  write: ((clientId: number, response: FromServerEncoded) => Effect.Effect<void>) | undefined
  readonly inFlight: Map<string | number, Call>
  readonly calls: Set<Call>
  heapCheckedAt: number
  heapChecking: boolean
}

interface Waiter {
  readonly task: Task.Any
  readonly resume: (effect: Effect.Effect<Slot, Core.RunnerQueueFull>) => void
  slot: Slot | undefined
  cancelled: boolean
}

const CurrentCall = Context.Reference<Call | undefined>("@hybrid/core/NodeRunner/CurrentCall", {
  defaultValue: () => undefined
})

/** A FIFO queue with O(1) push and shift. */
class Fifo<A> {
  private items: Array<A | undefined> = []
  private head = 0
  get length(): number {
    return this.items.length - this.head
  }
  push(a: A): void {
    this.items.push(a)
  }
  shift(): A | undefined {
    if (this.head >= this.items.length) return undefined
    const a = this.items[this.head]
    this.items[this.head++] = undefined
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head)
      this.head = 0
    }
    return a
  }
}

const describeCause = (cause: Cause.Cause<unknown>): string => {
  const error = Cause.squash(cause) as any
  const reason = error?.reason
  if (reason && typeof reason.message === "string") {
    return reason.cause === undefined ? reason.message : `${reason.message}: ${String(reason.cause)}`
  }
  return String(error)
}

const isEncodeDefect = (defect: unknown): boolean =>
  Schema.isSchemaError(defect) ||
  (typeof defect === "string" && defect.startsWith("Failed to encode response for RPC"))

/** Maps what a call's `RpcClient` fiber ended with to what the caller sees. */
const mapExit = (task: Task.Any, exit: Exit.Exit<unknown, unknown>): Effect.Effect<unknown, unknown> => {
  if (Exit.isSuccess(exit)) return exit
  for (const reason of exit.cause.reasons) {
    if (reason._tag === "Die" && isEncodeDefect(reason.defect)) {
      return Effect.fail(Core.invalidResult(task, reason.defect))
    }
    if (reason._tag === "Fail" && (reason.error as any)?._tag === "RpcClientError") {
      return Effect.fail(
        new Core.RunnerError({
          task: task.name,
          reason: "Protocol",
          message: String((reason.error as any).message ?? reason.error),
          cause: reason.error
        })
      )
    }
  }
  return exit
}

export const make = Effect.fnUntraced(function*<T extends Task.Any>(group: Task.Group<T>, options: Options) {
  const poolScope = yield* Effect.scope
  const platform = yield* Worker.WorkerPlatform
  const metricsContext = yield* Effect.context<never>()
  const slots: Array<Slot> = []
  const waiters = new Fifo<Waiter>()
  let queued = 0
  let busy = 0
  let nextWorkerId = 0
  let closing = false
  const capacity = options.size * options.concurrencyPerWorker

  const setQueued = (n: number) => {
    queued = n
    Core.queueDepth.updateUnsafe(n, metricsContext)
  }
  const setBusy = (delta: number) => {
    busy += delta
    Core.busyWorkers.updateUnsafe(busy, metricsContext)
  }

  // --- dispatch -------------------------------------------------------------------------

  const pick = (): Slot | undefined => {
    let best: Slot | undefined
    for (const slot of slots) {
      if (slot.state !== "ready" || slot.active >= options.concurrencyPerWorker) continue
      if (best === undefined || slot.active < best.active) best = slot
      if (slot.active === 0) break
    }
    return best
  }

  const reserve = (slot: Slot) => {
    if (slot.active++ === 0) setBusy(1)
  }

  const dispatch = () => {
    while (queued > 0) {
      const slot = pick()
      if (slot === undefined) return
      const waiter = waiters.shift()
      if (waiter === undefined) return
      if (waiter.cancelled) continue
      setQueued(queued - 1)
      reserve(slot)
      waiter.slot = slot
      waiter.resume(Effect.succeed(slot))
    }
  }

  const acquire = (task: Task.Any): Effect.Effect<Slot, Core.RunnerQueueFull> =>
    Effect.callback<Slot, Core.RunnerQueueFull>((resume) => {
      const free = queued === 0 ? pick() : undefined
      if (free !== undefined) {
        reserve(free)
        resume(Effect.succeed(free))
        return
      }
      if (options.maxQueue !== undefined && queued >= options.maxQueue) {
        resume(Effect.fail(new Core.RunnerQueueFull({ task: task.name, maxQueue: options.maxQueue })))
        return
      }
      const waiter: Waiter = { task, resume, slot: undefined, cancelled: false }
      waiters.push(waiter)
      setQueued(queued + 1)
      return Effect.sync(() => {
        if (waiter.slot !== undefined) {
          unreserve(waiter.slot)
        } else if (!waiter.cancelled) {
          waiter.cancelled = true
          setQueued(queued - 1)
        }
      })
    })

  const unreserve = (slot: Slot) => {
    if (--slot.active === 0) {
      setBusy(-1)
      if (slot.state === "retiring") retire(slot, "recycled")
    }
    dispatch()
  }

  const release = (call: Call) => {
    if (call.released) return
    call.released = true
    const slot = call.slot
    slot.calls.delete(call)
    if (call.requestId !== undefined) slot.inFlight.delete(call.requestId)
    if (slot.state !== "dead") unreserve(slot)
  }

  // --- worker life ----------------------------------------------------------------------

  const retire = (slot: Slot, reason: string, crashed = false) => {
    if (slot.state === "dead") return
    const wasReady = Deferred.isDoneUnsafe(slot.ready)
    slot.state = "dead"
    if (slot.active > 0) setBusy(-1)
    slot.active = 0
    Deferred.doneUnsafe(slot.ready, Exit.fail(reason))
    const error = new Core.WorkerCrashed({ workerId: slot.workerId, cause: reason })
    for (const call of Array.from(slot.calls)) {
      call.released = true
      if (crashed) call.resume?.(Effect.fail(error))
    }
    slot.calls.clear()
    slot.inFlight.clear()
    Effect.runFork(Scope.close(slot.scope, Exit.void))
    if (!closing) {
      // a worker that dies before it is ready (a broken worker file) is not respawned in a hot loop
      Effect.runForkWith(metricsContext)(
        Effect.sleep(wasReady ? 0 : 1000).pipe(
          Effect.andThen(Effect.suspend(() => (closing ? Effect.void : spawn(slot.index)))),
          Effect.forkIn(poolScope)
        )
      )
    }
    dispatch()
  }

  const onSettled = (slot: Slot, call: Call) => {
    call.settled = true
    slot.completed++
    Core.runTime.updateUnsafe(performance.now() - call.startedAt, metricsContext)
    release(call)
    if (slot.state !== "ready") return
    if (options.recycleTasks !== undefined && slot.completed >= options.recycleTasks) {
      slot.state = "retiring"
      if (slot.active === 0) retire(slot, "recycled")
      return
    }
    const limit = options.recycleHeapBytes
    if (limit !== undefined && !slot.heapChecking && performance.now() - slot.heapCheckedAt >= 10) {
      slot.heapChecking = true
      slot.heapCheckedAt = performance.now()
      slot.thread.getHeapStatistics().then(
        (heap) => {
          slot.heapChecking = false
          if (heap.used_heap_size > limit && slot.state === "ready") {
            slot.state = "retiring"
            if (slot.active === 0) retire(slot, "recycled")
          }
        },
        () => {
          slot.heapChecking = false
        }
      )
    }
  }

  const onResponse = (slot: Slot, response: FromServerEncoded): Effect.Effect<void> => {
    if (response._tag === "Exit") {
      const call = slot.inFlight.get(response.requestId)
      if (call !== undefined) onSettled(slot, call)
    }
    return slot.write === undefined ? Effect.void : slot.write(slot.clientId, response)
  }

  const send = (
    slot: Slot,
    backing: Worker.Worker<FromServerEncoded, FromClientEncoded>,
    clientId: number,
    request: FromClientEncoded,
    transferables?: ReadonlyArray<unknown>
  ): Effect.Effect<void> =>
    Effect.withFiber((fiber) => {
      slot.clientId = clientId
      if (request._tag === "Request") {
        const call = fiber.getRef(CurrentCall)
        if (call !== undefined && !call.released) {
          call.requestId = request.id
          slot.inFlight.set(request.id, call)
        }
      } else if (request._tag === "Interrupt" && !slot.inFlight.has(request.requestId)) {
        return Effect.void
      }
      return Effect.orDie(backing.send(request, transferables))
    })

  const spawn = (index: number): Effect.Effect<Slot> =>
    Effect.gen(function*() {
      const workerId = nextWorkerId++
      const scope = yield* Scope.fork(poolScope, "sequential")
      const thread = new WorkerThreads.Worker(options.worker, {
        ...options.workerOptions,
        name: `hybrid-runner-${workerId}`
      })
      const slot: Slot = {
        index,
        workerId,
        thread,
        scope,
        ready: Deferred.makeUnsafe<void, string>(),
        state: "starting",
        active: 0,
        completed: 0,
        clientId: 0,
        client: undefined,
        write: undefined,
        inFlight: new Map(),
        calls: new Set(),
        heapCheckedAt: 0,
        heapChecking: false
      }
      slots[index] = slot
      const backing = yield* platform.spawn<FromServerEncoded, FromClientEncoded>(workerId).pipe(
        Effect.provideService(Worker.Spawner, () => thread),
        Effect.orDie
      )
      const protocol = yield* RpcClient.Protocol.make(Effect.fnUntraced(function*(write) {
        slot.write = write
        return {
          send: (clientId, request, transferables) => send(slot, backing, clientId, request, transferables),
          supportsAck: true,
          supportsTransferables: true,
          codecFor: Schema.toCodecJson as RpcSerialization.CodecFor
        }
      }))
      slot.client = (yield* RpcClient.make(group.rpcs, { flatten: true, disableTracing: true }).pipe(
        Effect.provideService(RpcClient.Protocol, protocol),
        Scope.provide(scope)
      )) as unknown as Slot["client"]
      yield* backing.run((response) => onResponse(slot, response), {
        onSpawn: Effect.sync(() => {
          if (slot.state !== "starting") return
          slot.state = "ready"
          Deferred.doneUnsafe(slot.ready, Exit.void)
          dispatch()
        })
      }).pipe(
        Effect.catchCause((cause) =>
          Effect.sync(() => {
            if (!Cause.hasInterruptsOnly(cause)) retire(slot, describeCause(cause), true)
          })
        ),
        Effect.forkIn(scope)
      )
      // Registered last, so it runs first when the slot's scope closes: terminate at once
      // (NodeWorker's own finalizer would ask politely and wait up to 5 s).
      yield* Scope.addFinalizer(
        scope,
        Effect.suspend(() => {
          slot.state = "dead"
          return Effect.promise(() => thread.terminate())
        }).pipe(Effect.asVoid)
      )
      return slot
    })

  const kill = (slot: Slot, reason: string) => retire(slot, reason, true)

  // --- calls ----------------------------------------------------------------------------

  const headersFor = Effect.gen(function*() {
    const deadline = yield* Deadline.Current
    if (deadline === undefined) return undefined
    const now = yield* Clock.currentTimeMillis
    return { [Core.deadlineHeader]: String(Math.max(0, deadline - now)) }
  })

  const runOn = (slot: Slot, task: Task.Any, payload: unknown, headers: Record<string, string> | undefined) =>
    Effect.withFiber((parent) => {
      const call: Call = {
        slot,
        task,
        startedAt: performance.now(),
        requestId: undefined,
        settled: false,
        released: false,
        resume: undefined
      }
      slot.calls.add(call)
      const body = Effect.callback<unknown, unknown>((resume) => {
        call.resume = resume
        const fiber = Effect.runForkWith(Context.add(parent.context, CurrentCall, call))(
          slot.client!(task.name, payload, headers === undefined ? {} : { headers })
        )
        fiber.addObserver((exit) => resume(mapExit(task, exit)))
        return Effect.suspend(() => {
          call.resume = undefined
          return Fiber.interrupt(fiber)
        })
      })
      const timed = options.taskTimeout === undefined ? body : Effect.timeoutOrElse(body, {
        duration: options.taskTimeout,
        orElse: () => Effect.fail(new Core.TaskTimeout({ task: task.name, timeout: options.taskTimeout! }))
      })
      return Effect.onExit(timed, () =>
        Effect.sync(() => {
          const runMs = performance.now() - call.startedAt
          if (call.released) return runMs
          if (call.requestId === undefined || call.settled || slot.state === "dead") {
            release(call)
            return runMs
          }
          // cancelled while running in the worker: it has cancelGrace to stop
          Effect.runForkWith(metricsContext)(
            Effect.sleep(options.cancelGrace).pipe(
              Effect.andThen(Effect.sync(() => {
                if (!call.released && call.slot.state !== "dead") {
                  kill(slot, `a cancelled call of task ${task.name} did not stop within cancelGrace (${options.cancelGrace} ms)`)
                }
              })),
              Effect.forkIn(poolScope)
            )
          )
          return runMs
        }))
    })

  const run = Effect.fn("Runner.run")(function*(task: Task.Any, payload: unknown) {
    yield* Effect.annotateCurrentSpan("task", task.name)
    if (group.byName.get(task.name) !== task) return yield* Core.unknownTask(task)
    yield* Effect.mapError(Core.codecs(task).encodePayload(payload), (e) => Core.invalidPayload(task, e))
    const queuedAt = performance.now()
    let slot = yield* acquire(task)
    while (slot.state === "dead") slot = yield* acquire(task)
    const queueWaitMs = performance.now() - queuedAt
    Core.queueWait.updateUnsafe(queueWaitMs, metricsContext)
    yield* Effect.annotateCurrentSpan("queueWaitMs", queueWaitMs)
    const headers = yield* headersFor
    const startedAt = performance.now()
    return yield* runOn(slot, task, payload, headers).pipe(
      Effect.ensuring(Effect.suspend(() => Effect.annotateCurrentSpan("runMs", performance.now() - startedAt)))
    )
  })

  // --- start ----------------------------------------------------------------------------

  for (let i = 0; i < options.size; i++) yield* spawn(i)
  // Registered after the first workers, so it runs before their scopes close: no respawns
  // while the pool shuts down, and every thread is terminated in parallel.
  yield* Scope.addFinalizer(
    poolScope,
    Effect.suspend(() => {
      closing = true
      for (const slot of slots) slot.state = "dead"
      return Effect.promise(() => Promise.all(slots.map((slot) => slot.thread.terminate())))
    })
  )
  const started = yield* Effect.exit(Effect.forEach(slots, (slot) => Deferred.await(slot.ready), { discard: true }))
  if (Exit.isFailure(started)) {
    closing = true
    const reason = Cause.squash(started.cause)
    return yield* new Core.RunnerError({
      task: "*",
      reason: "WorkerStartFailed",
      message: `a worker of ${options.worker.href} died before it was ready: ${String(reason)}`,
      cause: reason
    })
  }

  const stats = (): Stats => ({
    workers: slots.map((slot) => ({ workerId: slot.workerId, threadId: slot.thread.threadId, state: slot.state })),
    spawned: nextWorkerId,
    queued
  })

  const shape: Core.RunnerShape = {
    run: run as Core.RunnerShape["run"],
    capacity,
    maxQueue: options.maxQueue
  }
  return { shape, stats, kill: (index: number) => Effect.sync(() => kill(slots[index]!, "killed")) }
}, (effect) => Effect.provide(effect, NodeWorker.layerPlatform))
