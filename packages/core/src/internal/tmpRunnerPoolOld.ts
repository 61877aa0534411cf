/**
 * The main-thread side of `NodeRunner`: a fixed-size pool of worker threads, each running
 * an `effect/rpc` `RpcServer` (see `runnerServe.ts`), and a FIFO queue of waiting calls.
 *
 * The pool speaks effect/rpc's encoded messages to each worker itself — `Request` and
 * `Interrupt` out, `Exit` (and `Defect`) back, framed as effect/workers' platform messages
 * — instead of going through one `RpcClient` per worker: an `RpcClient` call costs a
 * fiber for the call and one for its send, and encodes the payload a second time after the
 * caller has validated it. Here a call is one `Effect.callback` in the caller's fiber: the
 * payload is encoded once (that is the validation), and the encoded `Exit` is decoded by
 * the caller when it resumes.
 *
 * The pool must act on one worker without touching the others — terminate and replace a
 * worker stuck in synchronous code, recycle it, fail only its own calls when it crashes —
 * so every worker is its own `worker_threads.Worker`, watched directly.
 *
 * Sending ahead. A worker runs at most `concurrencyPerWorker` calls at once (its server
 * has that concurrency; extra calls wait there, first in first out). When a worker is full
 * the pool may still send it more calls, so that it never sits idle between two calls
 * waiting for the next message — but only short ones behind short ones: every call in
 * flight on that worker and the new one must be of a task with a run-time estimate (a
 * moving average per task, so a task is never sent ahead before one of its calls has
 * finished), the estimates must add up to at most `sendAhead` (default 2 ms), and at most
 * `sendAheadMax` calls wait. The messages for one worker produced in the same turn of the
 * event loop go out as one `postMessage` (an array of messages): a `postMessage` that wakes
 * an idle thread costs tens of microseconds on small VMs, more than a tiny task.
 *
 * Because the server starts calls in the order they arrive, the pool knows which calls a
 * worker is running: the first `concurrencyPerWorker` of those it was sent and has not
 * answered. A call *starts* when it joins that set — when it is sent to a worker with a free
 * slot, or when the `Exit` of a call ahead of it arrives — and `taskTimeout`, the run-time
 * metric and the span's `runMs` count from there; time spent waiting in the worker counts
 * as queue wait.
 *
 * Life of a call: encoded in the caller's fiber → sent to the least loaded worker that can
 * take it, or queued → its `Exit` arrives (the worker's next call starts, the next queued
 * call is sent) → the caller resumes and decodes the `Exit`. If the caller goes away first
 * (interrupt, `taskTimeout`), an `Interrupt` is sent; a call that has started keeps its
 * place in the worker until the worker answers, or for `cancelGrace`, after which the
 * worker is terminated and replaced.
 *
 * When a worker dies (crash, or terminated after `cancelGrace`), the calls it was running
 * fail with `WorkerCrashed`; the calls that were only waiting in it never started, and go
 * back to the front of the queue for another worker. Node delivers every message a worker
 * sent before its `exit` event, so the pool's view of which calls had started is exact at
 * that point.
 */
import { Cause, Clock, Deferred, Effect, Exit, Schema } from "effect"
import type { Tracer } from "effect"
import type { FromClientEncoded, FromServerEncoded, ResponseExitEncoded } from "effect/rpc/RpcMessage"
import * as Transferable from "effect/workers/Transferable"
import * as WorkerThreads from "node:worker_threads"
import * as Deadline from "../Deadline.ts"
import type { PoolStats } from "../NodeRunner.ts"
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
  /** Estimated work (ms) allowed to wait in a busy worker; 0 sends nothing ahead. */
  readonly sendAhead: number
  readonly recycleTasks: number | undefined
  readonly recycleHeapBytes: number | undefined
  readonly workerOptions: WorkerThreads.WorkerOptions
}

/** At most this many calls wait in a worker behind the calls it runs. */
export const sendAheadMax = 32

type ExitEncoded = ResponseExitEncoded["exit"]

/** Shared by every request without headers (cloned once per message batch). */
const noHeaders: Array<[string, string]> = []

interface Call {
  readonly id: number
  readonly task: Task.Any
  readonly codecs: Core.Codecs
  readonly payload: unknown
  readonly transfer: ReadonlyArray<WorkerThreads.TransferListItem> | undefined
  /** The caller's deadline on the caller's clock, sent as a remaining duration. */
  readonly deadline: number | undefined
  readonly clock: Clock.Clock | undefined
  readonly span: Tracer.Span
  readonly queuedAt: number
  state: "new" | "queued" | "waiting" | "running" | "done"
  slot: Slot | undefined
  /** Its `Request` has left the main thread. */
  posted: boolean
  startedAt: number
  /** Its task's estimated run time when it was sent (ms; `Infinity` while unknown). */
  estimate: number
  /** The caller has gone (interrupted, or failed with `TaskTimeout`). */
  cancelled: boolean
  resume: ((effect: Effect.Effect<unknown, unknown>) => void) | undefined
  timer: ReturnType<typeof setTimeout> | undefined
}

interface Slot {
  readonly index: number
  readonly workerId: number
  readonly thread: WorkerThreads.Worker
  readonly ready: Deferred.Deferred<void, string>
  state: "starting" | "ready" | "retiring" | "dying" | "dead"
  /** Calls sent and not answered, in the order they were sent. */
  readonly inFlight: Map<number, Call>
  /** Calls sent that wait in the worker (calls that left that state are skipped). */
  readonly waiting: Fifo<Call>
  waitingCount: number
  running: number
  /** Estimated work in flight (ms): the sum of the known estimates of its calls. */
  backlog: number
  /** Calls in flight whose task has no estimate yet. */
  unknown: number
  completed: number
  outbox: Array<FromClientEncoded>
  outCalls: Array<Call | undefined>
  outTransfers: Array<ReadonlyArray<WorkerThreads.TransferListItem> | undefined>
  flushScheduled: boolean
  /** Why it is dying, when the pool knows better than the exit code. */
  failure: string | undefined
  heapCheckedAt: number
  heapChecking: boolean
}

/** A FIFO queue with O(1) push, peek and shift. */
class Fifo<A> {
  private items: Array<A | undefined> = []
  private head = 0
  push(a: A): void {
    this.items.push(a)
  }
  peek(): A | undefined {
    return this.head < this.items.length ? this.items[this.head] : undefined
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
  /** Puts `as` back in front, in their order. */
  unshiftAll(as: ReadonlyArray<A>): void {
    this.items = [...as, ...this.items.slice(this.head)]
    this.head = 0
  }
  drain(): Array<A> {
    const rest = this.items.slice(this.head) as Array<A>
    this.items = []
    this.head = 0
    return rest
  }
}

const isEncodeDefect = (defect: unknown): boolean =>
  Schema.isSchemaError(defect) ||
  (typeof defect === "string" && defect.startsWith("Failed to encode response for RPC"))

/** What the caller sees for the decoded `Exit` of its call. */
const mapExit = (task: Task.Any, exit: Exit.Exit<unknown, unknown>): Effect.Effect<unknown, unknown> => {
  if (Exit.isSuccess(exit)) return exit
  for (const reason of exit.cause.reasons) {
    if (reason._tag === "Die" && isEncodeDefect(reason.defect)) {
      return Effect.fail(Core.invalidResult(task, reason.defect))
    }
  }
  return exit
}

/** Decodes the encoded `Exit` of a call (in the caller's fiber). */
const decodeExit = (call: Call, encoded: ExitEncoded): Effect.Effect<unknown, unknown> => {
  const decoded = call.codecs.decodeExit(encoded)
  if (Exit.isExit(decoded) && Exit.isSuccess(decoded)) return mapExit(call.task, decoded.value as Exit.Exit<unknown>)
  return Effect.flatMap(
    Effect.mapError(decoded, (e) => Core.invalidResult(call.task, e)),
    (exit) => mapExit(call.task, exit)
  )
}

const protocolError = (task: Task.Any, message: string, cause: unknown) =>
  new Core.RunnerError({ task: task.name, reason: "Protocol", message, cause })

export const make = Effect.fnUntraced(function*<T extends Task.Any>(group: Task.Group<T>, options: Options) {
  const metricsContext = yield* Effect.context<never>()
  const perWorker = options.concurrencyPerWorker
  const slots: Array<Slot> = []
  /** Every slot whose thread has not exited yet (replaced ones included). */
  const live = new Set<Slot>()
  const queue = new Fifo<Call>()
  const respawns = new Set<ReturnType<typeof setTimeout>>()
  /** Moving average of each task's run time (ms). */
  const estimates = new Map<string, number>()
  /** Callers to resume and what with, in pairs (see `resumeSettled`). */
  let resumes: Array<unknown> = []
  let queued = 0
  let busy = 0
  let nextWorkerId = 0
  let nextRequestId = 0
  let closing = false

  const setQueued = (n: number) => {
    queued = n
    Core.queueDepth.updateUnsafe(n, metricsContext)
  }
  const setBusy = (delta: number) => {
    busy += delta
    Core.busyWorkers.updateUnsafe(busy, metricsContext)
  }

  // --- choosing a worker ------------------------------------------------------------------

  const canTake = (slot: Slot, task: Task.Any): boolean => {
    if (slot.state !== "ready") return false
    if (options.recycleTasks !== undefined && slot.completed + slot.inFlight.size >= options.recycleTasks) return false
    if (slot.running < perWorker) return true
    // sent ahead only behind calls known to be short, and only if it is known to be short
    const estimate = estimates.get(task.name)
    return estimate !== undefined && slot.unknown === 0 && slot.waitingCount < sendAheadMax &&
      slot.backlog + estimate <= options.sendAhead
  }

  const pick = (task: Task.Any): Slot | undefined => {
    let best: Slot | undefined
    let bestLoad = Infinity
    for (const slot of slots) {
      const load = slot.running + slot.waitingCount
      if (load >= bestLoad || !canTake(slot, task)) continue
      best = slot
      bestLoad = load
      if (load === 0) break
    }
    return best
  }

  // --- messages to a worker ---------------------------------------------------------------

  const flush = (slot: Slot) => {
    slot.flushScheduled = false
    const messages = slot.outbox
    if (messages.length === 0) return
    const calls = slot.outCalls
    const transfers = slot.outTransfers
    slot.outbox = []
    slot.outCalls = []
    slot.outTransfers = []
    // a dying worker gets nothing more: its unsent calls go back to the queue when it exits
    if (slot.state === "dying" || slot.state === "dead") return
    let transfer: Array<WorkerThreads.TransferListItem> = []
    for (const t of transfers) if (t !== undefined) transfer = transfer.concat(t)
    try {
      slot.thread.postMessage([0, messages.length === 1 ? messages[0] : messages], transfer)
      for (const call of calls) if (call !== undefined) call.posted = true
    } catch {
      // one of them cannot be cloned: send them one by one, failing only those
      for (let i = 0; i < messages.length; i++) {
        const call = calls[i]
        try {
          slot.thread.postMessage([0, messages[i]], transfers[i] ?? [])
          if (call !== undefined) call.posted = true
        } catch (error) {
          if (call !== undefined) {
            settle(slot, call, Effect.fail(protocolError(call.task, `could not send the call to its worker: ${String(error)}`, error)), false)
          }
        }
      }
      afterAnswers(slot)
    }
  }

  const post = (
    slot: Slot,
    message: FromClientEncoded,
    call: Call | undefined,
    transfer: ReadonlyArray<WorkerThreads.TransferListItem> | undefined
  ) => {
    slot.outbox.push(message)
    slot.outCalls.push(call)
    slot.outTransfers.push(transfer)
    if (!slot.flushScheduled) {
      slot.flushScheduled = true
      setImmediate(flush, slot)
    }
  }

  // --- a call's life ----------------------------------------------------------------------

  const start = (slot: Slot, call: Call) => {
    call.state = "running"
    call.startedAt = performance.now()
    if (slot.running++ === 0) setBusy(1)
    const queueWaitMs = call.startedAt - call.queuedAt
    Core.queueWait.updateUnsafe(queueWaitMs, metricsContext)
    call.span.attribute("queueWaitMs", queueWaitMs)
    if (call.cancelled) armGrace(call)
    else if (options.taskTimeout !== undefined) call.timer = setTimeout(onTimeout, options.taskTimeout, call)
  }

  const send = (slot: Slot, call: Call) => {
    call.slot = slot
    slot.inFlight.set(call.id, call)
    call.estimate = estimates.get(call.task.name) ?? Infinity
    if (call.estimate === Infinity) slot.unknown++
    else slot.backlog += call.estimate
    if (slot.running < perWorker) {
      start(slot, call)
    } else {
      call.state = "waiting"
      slot.waiting.push(call)
      slot.waitingCount++
    }
    const headers = call.deadline === undefined
      ? noHeaders
      : [[Core.deadlineHeader, String(Math.max(0, call.deadline - call.clock!.currentTimeMillisUnsafe()))] as [string, string]]
    post(slot, { _tag: "Request", id: call.id, tag: call.task.name, payload: call.payload, headers }, call, call.transfer)
  }

  /** Starts the calls waiting in a worker while it has free slots. */
  const promote = (slot: Slot) => {
    while (slot.running < perWorker && slot.waitingCount > 0) {
      const next = slot.waiting.shift()
      if (next === undefined) break
      if (next.state !== "waiting") continue
      slot.waitingCount--
      start(slot, next)
    }
  }

  /** Removes a call from its worker's books. */
  const detach = (slot: Slot, call: Call) => {
    if (call.state === "waiting") {
      slot.waitingCount--
    } else if (call.state === "running") {
      if (--slot.running === 0) setBusy(-1)
    }
    if (call.estimate === Infinity) slot.unknown--
    else slot.backlog -= call.estimate
    slot.inFlight.delete(call.id)
    if (slot.inFlight.size === 0) slot.backlog = 0 // no drift from float sums
    if (call.timer !== undefined) {
      clearTimeout(call.timer)
      call.timer = undefined
    }
  }

  /** The call is over in its worker: its caller (if still there) resumes with `result`. */
  const settle = (slot: Slot, call: Call, result: Effect.Effect<unknown, unknown>, answered: boolean) => {
    if (call.state === "done") return
    if (call.state === "running") {
      const runMs = performance.now() - call.startedAt
      Core.runTime.updateUnsafe(runMs, metricsContext)
      call.span.attribute("runMs", runMs)
      if (answered && !call.cancelled) {
        // a moving average; one sample can at most quadruple it, so that a pause of the
        // main thread (GC) does not make a short task look long for the next many calls
        const previous = estimates.get(call.task.name)
        estimates.set(
          call.task.name,
          previous === undefined ? runMs : previous + (Math.min(runMs, 4 * previous) - previous) / 4
        )
      }
    }
    detach(slot, call)
    call.state = "done"
    const resume = call.resume
    call.resume = undefined
    if (resume !== undefined) resumes.push(resume, result)
  }

  /**
   * Resumes the callers of settled calls — after the pool's books are up to date, since a
   * resumed caller runs at once and may make its next call right away.
   */
  const resumeSettled = () => {
    while (resumes.length > 0) {
      const pending = resumes
      resumes = []
      for (let i = 0; i < pending.length; i += 2) {
        ;(pending[i] as (effect: Effect.Effect<unknown, unknown>) => void)(pending[i + 1] as Effect.Effect<unknown, unknown>)
      }
    }
  }

  const submit = (call: Call) => {
    if (closing) return call.resume?.(Effect.interrupt)
    if (queued === 0) {
      const slot = pick(call.task)
      if (slot !== undefined) return send(slot, call)
    }
    if (options.maxQueue !== undefined && queued >= options.maxQueue) {
      return call.resume?.(Effect.fail(new Core.RunnerQueueFull({ task: call.task.name, maxQueue: options.maxQueue })))
    }
    call.state = "queued"
    queue.push(call)
    setQueued(queued + 1)
  }

  const dispatch = () => {
    while (queued > 0) {
      const call = queue.peek()
      if (call === undefined) return
      if (call.state !== "queued") {
        queue.shift()
        continue
      }
      const slot = pick(call.task)
      if (slot === undefined) return
      queue.shift()
      setQueued(queued - 1)
      send(slot, call)
    }
  }

  const armGrace = (call: Call) => {
    call.timer = setTimeout(() => {
      call.timer = undefined
      const slot = call.slot!
      if (call.state === "running" && (slot.state === "ready" || slot.state === "retiring")) {
        kill(
          slot,
          `a cancelled call of task ${call.task.name} did not stop within cancelGrace (${options.cancelGrace} ms)`
        )
      }
    }, options.cancelGrace)
  }

  /** The caller has gone: stop the call where it is. */
  const cancel = (call: Call) => {
    if (call.cancelled || call.state === "done") return
    call.cancelled = true
    call.resume = undefined
    switch (call.state) {
      case "new":
      case "queued": {
        if (call.state === "queued") setQueued(queued - 1)
        call.state = "done" // skipped when it reaches the head of the queue
        return
      }
      case "waiting": {
        post(call.slot!, { _tag: "Interrupt", requestId: call.id }, undefined, undefined)
        return
      }
      case "running": {
        if (call.timer !== undefined) clearTimeout(call.timer)
        post(call.slot!, { _tag: "Interrupt", requestId: call.id }, undefined, undefined)
        armGrace(call)
        return
      }
    }
  }

  const onTimeout = (call: Call) => {
    call.timer = undefined
    if (call.state !== "running" || call.cancelled) return
    const resume = call.resume
    cancel(call)
    resume?.(Effect.fail(new Core.TaskTimeout({ task: call.task.name, timeout: options.taskTimeout! })))
  }

  // --- answers from a worker --------------------------------------------------------------

  const onAnswer = (slot: Slot, message: FromServerEncoded) => {
    switch (message._tag) {
      case "Exit": {
        const call = slot.inFlight.get(message.requestId as number)
        if (call === undefined) return
        slot.completed++
        settle(slot, call, decodeExit(call, message.exit), true)
        return
      }
      case "Defect": {
        // a protocol-level defect of the server (handler defects are per call): every call
        // it was running dies with it, as with RpcClient
        for (const call of Array.from(slot.inFlight.values())) settle(slot, call, Effect.die(message.defect), false)
        return
      }
      case "ClientProtocolError": {
        for (const call of Array.from(slot.inFlight.values())) {
          settle(slot, call, Effect.fail(protocolError(call.task, String(message.error), message.error)), false)
        }
        return
      }
      default:
        return
    }
  }

  /** After answers: start what waits in the worker, recycle it if due, send it more. */
  const afterAnswers = (slot: Slot) => {
    // a dying worker still starts what waits in it until it stops: the books must follow
    if (slot.state !== "dead") promote(slot)
    if (slot.state === "ready" || slot.state === "retiring") {
      if (slot.state === "ready" && options.recycleTasks !== undefined && slot.completed >= options.recycleTasks) {
        slot.state = "retiring"
      }
      const limit = options.recycleHeapBytes
      if (
        limit !== undefined && slot.state === "ready" && !slot.heapChecking &&
        performance.now() - slot.heapCheckedAt >= 10
      ) {
        slot.heapChecking = true
        slot.heapCheckedAt = performance.now()
        slot.thread.getHeapStatistics().then(
          (heap) => {
            slot.heapChecking = false
            if (heap.used_heap_size > limit && slot.state === "ready") {
              slot.state = "retiring"
              if (slot.inFlight.size === 0) retire(slot)
            }
          },
          () => {
            slot.heapChecking = false
          }
        )
      }
      if (slot.state === "retiring" && slot.inFlight.size === 0) retire(slot)
    }
    dispatch()
    resumeSettled()
  }

  const onMessage = (slot: Slot, data: readonly [0] | readonly [1, unknown]) => {
    if (data[0] === 0) {
      if (slot.state !== "starting") return
      slot.state = "ready"
      Deferred.doneUnsafe(slot.ready, Exit.void)
      dispatch()
      return
    }
    const message = data[1]
    if (Array.isArray(message)) {
      for (const m of message) onAnswer(slot, m as FromServerEncoded)
    } else {
      onAnswer(slot, message as FromServerEncoded)
    }
    afterAnswers(slot)
  }

  // --- worker life ------------------------------------------------------------------------

  const spawn = (index: number): Slot => {
    const workerId = nextWorkerId++
    const thread = new WorkerThreads.Worker(options.worker, {
      ...options.workerOptions,
      name: `hybrid-runner-${workerId}`,
      workerData: { [Core.workerDataKey]: { concurrency: perWorker } }
    })
    const slot: Slot = {
      index,
      workerId,
      thread,
      ready: Deferred.makeUnsafe<void, string>(),
      state: "starting",
      inFlight: new Map(),
      waiting: new Fifo(),
      waitingCount: 0,
      running: 0,
      backlog: 0,
      unknown: 0,
      completed: 0,
      outbox: [],
      outCalls: [],
      outTransfers: [],
      flushScheduled: false,
      failure: undefined,
      heapCheckedAt: 0,
      heapChecking: false
    }
    slots[index] = slot
    live.add(slot)
    thread.on("message", (data) => onMessage(slot, data))
    thread.on("error", (error) => {
      // an uncaught exception (or out of memory): the thread exits next
      slot.failure ??= String(error)
      if (slot.state === "ready" || slot.state === "retiring") slot.state = "dying"
    })
    thread.on("messageerror", (error) => kill(slot, `a message from the worker could not be deserialized: ${String(error)}`))
    thread.on("exit", (code) => onExit(slot, code))
    return slot
  }

  /** Replaces a worker that has nothing in flight (recycling). */
  const retire = (slot: Slot) => {
    slot.state = "dying"
    slot.failure ??= "recycled"
    slot.thread.terminate().catch(() => {})
    if (!closing) spawn(slot.index)
  }

  /** Terminates a worker at once and replaces it; its calls are settled when it has exited. */
  const kill = (slot: Slot, reason: string) => {
    if (slot.state === "dying" || slot.state === "dead") return
    const replace = slot.state !== "starting"
    slot.state = "dying"
    slot.failure ??= reason
    slot.thread.terminate().catch(() => {})
    if (!closing && replace) spawn(slot.index)
  }

  const onExit = (slot: Slot, code: number) => {
    live.delete(slot)
    const wasReady = Deferred.isDoneUnsafe(slot.ready)
    const reason = slot.failure ?? `exited with code: ${code}`
    Deferred.doneUnsafe(slot.ready, Exit.fail(reason))
    slot.state = "dead"
    slot.outbox = []
    slot.outCalls = []
    slot.outTransfers = []
    const error = new Core.WorkerCrashed({ workerId: slot.workerId, cause: reason })
    const back: Array<Call> = []
    for (const call of Array.from(slot.inFlight.values())) {
      if (call.state === "running" && call.posted) {
        settle(slot, call, Effect.fail(error), false)
      } else {
        // it never started in that worker: it goes back to the queue
        detach(slot, call)
        call.slot = undefined
        call.posted = false
        if (call.cancelled) {
          call.state = "done"
        } else {
          call.state = "queued"
          back.push(call)
        }
      }
    }
    if (back.length > 0) {
      queue.unshiftAll(back)
      setQueued(queued + back.length)
    }
    if (!closing && slots[slot.index] === slot) {
      // a worker that dies before it is ready (a broken worker file) is not respawned in a hot loop
      if (wasReady) {
        spawn(slot.index)
      } else {
        const timer = setTimeout(() => {
          respawns.delete(timer)
          if (!closing && slots[slot.index] === slot) spawn(slot.index)
        }, 1000)
        respawns.add(timer)
      }
    }
    dispatch()
    resumeSettled()
  }

  // --- calls ------------------------------------------------------------------------------

  const submitting = (
    fiber: { readonly getRef: <A>(ref: any) => A },
    span: Tracer.Span,
    task: Task.Any,
    codecs: Core.Codecs,
    payload: unknown,
    transfer: ReadonlyArray<WorkerThreads.TransferListItem> | undefined
  ): Effect.Effect<unknown, unknown> => {
    const deadline = fiber.getRef<number | undefined>(Deadline.Current)
    const call: Call = {
      id: nextRequestId++,
      task,
      codecs,
      payload,
      transfer: transfer !== undefined && transfer.length > 0 ? transfer : undefined,
      deadline,
      clock: deadline === undefined ? undefined : fiber.getRef<Clock.Clock>(Clock.Clock),
      span,
      queuedAt: performance.now(),
      state: "new",
      slot: undefined,
      posted: false,
      startedAt: 0,
      estimate: 0,
      cancelled: false,
      resume: undefined,
      timer: undefined
    }
    return Effect.callback<unknown, unknown>((resume) => {
      call.resume = resume
      submit(call)
      return Effect.sync(() => cancel(call))
    })
  }

  // `Effect.useSpan` rather than `Effect.fn`: the same `Runner.run` span, without capturing
  // a call-site stack trace on every call (the bulk of `Effect.fn`'s cost per call).
  const run = (task: Task.Any, payload: unknown): Effect.Effect<unknown, unknown> =>
    Effect.useSpan("Runner.run", (span) =>
      Effect.withFiber((fiber) => {
        span.attribute("task", task.name)
        if (group.byName.get(task.name) !== task) return Effect.fail(Core.unknownTask(task))
        const codecs = Core.codecs(task)
        const encoding = codecs.encodePayload(payload)
        if (Exit.isExit(encoding)) {
          return Exit.isSuccess(encoding)
            ? submitting(fiber, span, task, codecs, encoding.value, undefined)
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
            submitting(fiber, span, task, codecs, encoded, collector.readUnsafe() as Array<WorkerThreads.TransferListItem>)
        )
      }))

  // --- start and stop ---------------------------------------------------------------------

  yield* Effect.addFinalizer(() =>
    Effect.suspend(() => {
      closing = true
      for (const timer of respawns) clearTimeout(timer)
      respawns.clear()
      const callers: Array<(effect: Effect.Effect<unknown, unknown>) => void> = []
      for (const slot of live) {
        slot.state = "dead"
        for (const call of slot.inFlight.values()) {
          if (call.timer !== undefined) clearTimeout(call.timer)
          call.state = "done"
          if (call.resume !== undefined) callers.push(call.resume)
        }
        slot.inFlight.clear()
      }
      for (const call of queue.drain()) {
        if (call.state === "queued" && call.resume !== undefined) callers.push(call.resume)
        call.state = "done"
      }
      setQueued(0)
      for (const resume of callers) resume(Effect.interrupt)
      const threads = Array.from(live, (slot) => slot.thread)
      return Effect.promise(() => Promise.all(threads.map((thread) => thread.terminate().catch(() => {}))))
    })
  )

  for (let i = 0; i < options.size; i++) spawn(i)
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

  const stats = (): PoolStats => ({
    workers: slots.map((slot) => ({
      workerId: slot.workerId,
      threadId: slot.thread.threadId,
      state: slot.state,
      running: slot.running,
      waiting: slot.waitingCount
    })),
    spawned: nextWorkerId,
    queued
  })

  const shape: Core.RunnerShape = {
    run: run as Core.RunnerShape["run"],
    capacity: options.size * perWorker,
    maxQueue: options.maxQueue
  }
  return { shape, stats, kill: (index: number) => Effect.sync(() => kill(slots[index]!, "killed")) }
})
