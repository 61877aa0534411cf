/**
 * The scheduling logic of `NodeRunner`'s pool, free of threads and of Effect: a FIFO
 * queue of calls in the main thread, the workers' books (`poolSlot.ts`), the calls'
 * states (`poolCall.ts`), the choice of a worker (`poolBalancer.ts`), and the workers'
 * lives through a `Spawner` (`poolSpawner.ts`). Time, timers and "later in this turn"
 * come from an `Env`, so tests drive it deterministically with fake workers.
 *
 * Sending ahead. A worker runs at most `concurrencyPerWorker` calls at once (its server
 * has that concurrency; extra calls wait there, first in first out). When a worker is full
 * the pool may still send it more calls, so that it never sits idle between two calls
 * waiting for the next message — but only short ones behind short ones: every call in
 * flight on that worker and the new one must be of a task with a run-time estimate (a
 * moving average per task, so a task is never sent ahead before one of its calls has
 * finished), the estimates must add up to at most `sendAhead`, and at most
 * `sendAheadMax` calls wait. A long call is sent ahead too, one at a time, when the call
 * its worker runs is expected to end within `sendAhead` (its start plus its task's
 * estimate, not overdue; a timer wakes the pool then) and a call stays queued for every
 * other worker (so that a worker freeing up first finds work rather than idling while
 * that call waits behind a call running late): without it a worker waits
 * one main-thread round trip for its next call after every long call — a round trip that
 * grows when the main thread has other work (a `Pipeline`'s stages). Either way the work
 * expected ahead of a call sent ahead is at most `sendAhead`. The messages for one worker
 * produced in the same turn of the event loop go out as one message (`runnerFrames.ts`):
 * a `postMessage` that wakes an idle thread costs tens of microseconds on small VMs, more
 * than a tiny task.
 *
 * Because the server starts calls in the order they arrive, the pool knows which calls a
 * worker is running: the first `concurrencyPerWorker` of those it was sent and has not
 * answered. A call *starts* when it joins that set — when it is sent to a worker with a
 * free slot, or when the answer of a call ahead of it arrives — and `taskTimeout` and the
 * run time count from there.
 *
 * Cancelling. A call whose caller goes away (interrupt, `taskTimeout`) is sent an
 * `Interrupt`; once it has started it keeps its place in the worker until the worker
 * answers, or for `cancelGrace`, after which the worker is terminated and replaced.
 *
 * When a worker dies (crash, or terminated after `cancelGrace`), the calls it was running
 * fail with `WorkerCrashed`; the calls that were only waiting in it never started, and go
 * back to the front of the queue for another worker. Node delivers every message a worker
 * sent before its `exit` event, so the pool's view of which calls had started is exact at
 * that point.
 */
import type * as WorkerThreads from "node:worker_threads"
import type { PoolStats } from "../NodeRunner.ts"
import type * as Balancer from "./poolBalancer.ts"
import * as CallState from "./poolCall.ts"
import { type Call, Fifo, sendAheadMax, Slot } from "./poolSlot.ts"
import type * as Spawner from "./poolSpawner.ts"
import * as Core from "./runnerCore.ts"
import * as Frames from "./runnerFrames.ts"

/** The scheduler's settings (validated `NodeRunner.layer` options, durations in ms). */
export interface Settings {
  readonly size: number
  readonly concurrencyPerWorker: number
  readonly maxQueue: number | undefined
  readonly taskTimeout: number | undefined
  readonly cancelGrace: number
  /** Estimated work (ms) allowed to wait in a busy worker; 0 sends nothing ahead. */
  readonly sendAhead: number
  readonly recycleTasks: number | undefined
  readonly recycleHeapBytes: number | undefined
}

/** Time and timers (real ones in the pool, virtual ones in tests). */
export interface Env {
  /** Milliseconds, monotonic. */
  readonly now: () => number
  readonly setTimer: (f: () => void, ms: number) => unknown
  readonly clearTimer: (timer: unknown) => void
  /** Runs `f` later in this turn of the event loop, after the current callbacks (`setImmediate`). */
  readonly defer: (f: () => void) => void
}

/** What the scheduler reports (metrics, spans, start-up). */
export interface Observer {
  readonly queueDepth: (calls: number) => void
  readonly busyWorkers: (workers: number) => void
  /**
   * A call started in its worker after waiting `queueWaitMs` — reported once its request
   * has left the main thread: a call placed on a worker that dies before the end of the
   * turn goes back to the queue and starts (once) elsewhere.
   */
  readonly started: (call: Call, queueWaitMs: number) => void
  /** A call that had started (and been reported so) is over after `runMs`. */
  readonly finished: (call: Call, runMs: number) => void
  readonly workerReady: (slot: Slot) => void
  /** A worker exited; `wasReady` is false for one that died while starting. */
  readonly workerExited: (slot: Slot, reason: string, wasReady: boolean) => void
}

/** A worker that died while starting is replaced after this long (no hot respawn loop). */
export const respawnDelay = 1000
/** Least time between two heap checks of one worker (ms). */
const heapCheckInterval = 10

type InSlot = CallState.SentAhead<Slot> | CallState.Running<Slot> | CallState.Cancelling<Slot>

const protocolError = (task: CallState.TaskRef, message: string, cause: unknown) =>
  new Core.RunnerError({ task: task.name, reason: "Protocol", message, cause })

const interrupted: CallState.Outcome = { _tag: "Interrupt" }

/** The pool's queue, workers and calls. */
export class Scheduler {
  readonly slots: Array<Slot> = []
  /** Every slot whose worker has not exited yet (replaced ones included). */
  readonly live = new Set<Slot>()
  private readonly queue = new Fifo<Call>()
  /** Calls in `queue` still `Queued` (the others are skipped when they reach its head). */
  queued = 0
  private busy = 0
  spawned = 0
  closing = false
  private nextRequestId = 0
  private readonly respawns = new Set<unknown>()
  /** Moving average of each task's run time (ms). */
  private readonly estimates = new Map<string, number>()
  /** Callers to resume and what with, in pairs (see `resumeSettled`). */
  private resumes: Array<unknown> = []
  /** The timer that retries the queue when a worker's running call is about to end (`armWake`). */
  private wake: unknown = undefined
  private wakeAt = Infinity
  /** The workers that can take the call being placed (reused: no allocation per call). */
  private readonly candidates: Array<Slot> = []
  private readonly perWorker: number

  readonly settings: Settings
  private readonly spawner: Spawner.Spawner
  private readonly balancer: Balancer.Balancer
  private readonly env: Env
  private readonly observer: Observer

  constructor(settings: Settings, spawner: Spawner.Spawner, balancer: Balancer.Balancer, env: Env, observer: Observer) {
    this.settings = settings
    this.spawner = spawner
    this.balancer = balancer
    this.env = env
    this.observer = observer
    this.perWorker = settings.concurrencyPerWorker
  }

  /** Starts the workers (in parallel: each `spawn` returns at once). */
  start(): void {
    for (let i = 0; i < this.settings.size; i++) this.spawn(i)
  }

  // --- calls ------------------------------------------------------------------------------

  /** A new call: placed on a worker, queued, or refused (`resume` is told). */
  submit(
    task: CallState.TaskRef,
    payload: unknown,
    transfer: ReadonlyArray<WorkerThreads.TransferListItem> | undefined,
    remaining: (() => number) | undefined,
    span: CallState.SpanLike | undefined,
    resume: (outcome: CallState.Outcome) => void
  ): Call {
    const call: Call = new CallState.Call(this.nextRequestId++, task, payload, transfer, remaining, span, this.env.now(), resume)
    if (this.closing) {
      this.finish(call, interrupted)
    } else if (this.queued === 0 && this.place(call, 0)) {
      // sent
    } else if (this.settings.maxQueue !== undefined && this.queued >= this.settings.maxQueue) {
      this.finish(call, { _tag: "Fail", error: new Core.RunnerQueueFull({ task: task.name, maxQueue: this.settings.maxQueue }) })
    } else {
      this.queue.push(call)
      this.setQueued(this.queued + 1)
      // (later, every `dispatch` that leaves calls queued re-arms it)
      if (this.queued === this.slots.length) this.armWake()
    }
    return call
  }

  /** The caller has gone: stop the call where it is. */
  cancel(call: Call): void {
    call.resume = undefined
    const state = call.state
    switch (state._tag) {
      case "Queued": {
        this.setQueued(this.queued - 1)
        call.state = CallState.done // skipped when it reaches the head of the queue
        return
      }
      case "SentAhead": {
        call.state = { _tag: "Cancelling", slot: state.slot, estimate: state.estimate, posted: state.posted, startedAt: undefined, timer: undefined }
        this.post(state.slot, state.slot.pushInterrupt(call))
        return
      }
      case "Running": {
        if (state.timer !== undefined) this.env.clearTimer(state.timer)
        const cancelling: CallState.Cancelling<Slot> = {
          _tag: "Cancelling", slot: state.slot, estimate: state.estimate, posted: state.posted, startedAt: state.startedAt, timer: undefined
        }
        call.state = cancelling
        this.post(state.slot, state.slot.pushInterrupt(call))
        cancelling.timer = this.armGrace(call)
        return
      }
    }
  }

  private finish(call: Call, outcome: CallState.Outcome): void {
    call.state = CallState.done
    const resume = call.resume
    call.resume = undefined
    resume?.(outcome)
  }

  private setQueued(n: number): void {
    this.queued = n
    this.observer.queueDepth(n)
  }

  /** Workers running at least one call. */
  get busyWorkers(): number {
    return this.busy
  }

  private setBusy(delta: number): void {
    this.busy += delta
    this.observer.busyWorkers(this.busy)
  }

  // --- choosing a worker ------------------------------------------------------------------

  /** Whether `slot` takes no more calls: closing, or due for recycling once those it has end. */
  private closed(slot: Slot): boolean {
    const recycleTasks = this.settings.recycleTasks
    return !slot.accepting || (recycleTasks !== undefined && slot.completed + slot.inFlight.size >= recycleTasks)
  }

  /**
   * From when a long call may be sent ahead, alone, to `slot`: `sendAhead` before the
   * expected end of its running call, if it is full, has nothing waiting and knows every
   * estimate; `Infinity` otherwise. The one rule of `canTake` and `armWake`.
   */
  private aheadFrom(slot: Slot): number {
    if (this.closed(slot) || slot.running < this.perWorker) return Infinity
    if (this.settings.sendAhead === 0 || slot.waiting > 0 || slot.unknown > 0) return Infinity
    return slot.soonestEnd() - this.settings.sendAhead
  }

  /** Whether `slot` can take a call of `task` now, `behind` calls staying queued after it. */
  private canTake(slot: Slot, task: CallState.TaskRef, behind: number): boolean {
    if (this.closed(slot)) return false
    if (slot.running < this.perWorker) return true
    // sent ahead only behind calls known to be short, and only if it is known to be short;
    // or alone behind a call expected to end within `sendAhead`
    const estimate = this.estimates.get(task.name)
    if (estimate === undefined || slot.unknown > 0) return false
    if (slot.waiting < sendAheadMax && slot.backlog + estimate <= this.settings.sendAhead) return true
    // a long call waits in one worker only while the queue keeps a call for each other
    // worker: one that frees up first is not left idle while this one waits
    if (behind < this.slots.length - 1) return false
    // not before `aheadFrom` (give or take the timer's own rounding), and not behind a call
    // already running over its estimate: how much longer it runs is not known
    const now = this.env.now()
    return now >= this.aheadFrom(slot) - 1e-9 && now <= slot.soonestEnd()
  }

  /**
   * While calls are queued, a timer for when a full worker's running call is expected to be
   * `sendAhead` from its end (the queue's head may then be sent ahead to it, see `canTake`).
   * Only for later times and for calls with an estimate: the timer never fires in a loop.
   */
  private armWake(): void {
    if (this.queued < this.slots.length || this.closing || this.settings.sendAhead === 0) return
    const head = this.queue.peek()
    if (head === undefined || !this.estimates.has(head.task.name)) return
    const now = this.env.now()
    let at = Infinity
    for (const slot of this.slots) {
      const due = this.aheadFrom(slot)
      if (due > now && due < at) at = due
    }
    if (at === Infinity || at >= this.wakeAt) return
    if (this.wake !== undefined) this.env.clearTimer(this.wake)
    this.wakeAt = at
    this.wake = this.env.setTimer(() => {
      this.wake = undefined
      this.wakeAt = Infinity
      this.dispatch()
    }, at - now)
  }

  /** Sends a call to the worker the balancer picks among those that can take it; whether it did. */
  private place(call: Call, behind: number): boolean {
    const candidates = this.candidates
    candidates.length = 0
    for (const slot of this.slots) if (this.canTake(slot, call.task, behind)) candidates.push(slot)
    if (candidates.length === 0) return false
    const chosen = candidates.length === 1 ? candidates[0] : this.balancer(call.task, candidates)
    candidates.length = 0
    if (chosen === undefined || !(chosen instanceof Slot) || !this.canTake(chosen, call.task, behind)) return false
    this.send(chosen, call)
    return true
  }

  private dispatch(): void {
    while (this.queued > 0) {
      const call = this.queue.peek()
      if (call === undefined) return
      if (call.state._tag !== "Queued") {
        this.queue.shift()
        continue
      }
      if (!this.place(call, this.queued - 1)) return this.armWake()
      this.queue.shift()
      this.setQueued(this.queued - 1)
    }
  }

  // --- a call in a worker -----------------------------------------------------------------

  private send(slot: Slot, call: Call): void {
    const estimate = this.estimates.get(call.task.name) ?? Infinity
    const idle = slot.running === 0
    if (slot.admit(call, estimate, this.perWorker)) {
      if (idle) this.setBusy(1)
      this.begin(call, slot, estimate, false)
    } else {
      call.state = { _tag: "SentAhead", slot, estimate, posted: false }
    }
    const remaining = call.remaining === undefined ? Frames.noDeadline : Math.max(0, call.remaining())
    this.post(slot, slot.pushRequest(call, remaining))
  }

  /** The call has started in its worker (its slot has counted it as running). */
  private begin(call: Call, slot: Slot, estimate: number, posted: boolean): void {
    const now = this.env.now()
    if (posted) this.observer.started(call, now - call.queuedAt)
    const state = call.state
    if (state._tag === "Cancelling") {
      state.startedAt = now
      state.timer = this.armGrace(call)
      return
    }
    const timeout = this.settings.taskTimeout
    call.state = {
      _tag: "Running",
      slot,
      estimate,
      posted,
      startedAt: now,
      timer: timeout === undefined ? undefined : this.env.setTimer(() => this.onTimeout(call), timeout)
    }
  }

  /** Starts the calls waiting in a worker while it has free slots. */
  private promote(slot: Slot): void {
    for (let idle = slot.running === 0, next = slot.startNext(this.perWorker); next !== undefined; next = slot.startNext(this.perWorker)) {
      if (idle) this.setBusy(1)
      idle = false
      const state = next.state as InSlot
      this.begin(next, slot, state.estimate, state.posted)
    }
  }

  /** Takes a call off its worker's books (timers cleared). */
  private detach(slot: Slot, call: Call, state: InSlot): void {
    if (state._tag !== "SentAhead" && state.timer !== undefined) this.env.clearTimer(state.timer)
    const started = CallState.hasStarted(state)
    slot.release(call, state.estimate, started)
    if (started && slot.running === 0) this.setBusy(-1)
  }

  /**
   * The call is over in its worker: its caller (if still there) resumes with `outcome`.
   * `learnMs`, for an answered call, is its share of its worker's time (see `onAnswers`).
   */
  private settle(slot: Slot, call: Call, outcome: CallState.Outcome, learnMs?: number): void {
    const state = call.state
    if (CallState.slotOf(state) !== slot) return
    const inSlot = state as InSlot
    if (inSlot._tag !== "SentAhead" && inSlot.startedAt !== undefined && inSlot.posted) {
      this.observer.finished(call, this.env.now() - inSlot.startedAt)
      if (learnMs !== undefined && inSlot._tag === "Running") this.learn(call.task.name, learnMs)
    }
    this.detach(slot, call, inSlot)
    call.state = CallState.done
    const resume = call.resume
    call.resume = undefined
    if (resume !== undefined) this.resumes.push(resume, outcome)
  }

  /**
   * A moving average of the task's run time; one sample can at most quadruple it, so that
   * a pause of the main thread (GC) does not make a short task look long for many calls.
   */
  private learn(name: string, runMs: number): void {
    const previous = this.estimates.get(name)
    this.estimates.set(name, previous === undefined ? runMs : previous + (Math.min(runMs, 4 * previous) - previous) / 4)
  }

  /**
   * Resumes the callers of settled calls — after the pool's books are up to date, since a
   * resumed caller runs at once and may make its next call right away.
   */
  private resumeSettled(): void {
    while (this.resumes.length > 0) {
      const pending = this.resumes
      this.resumes = []
      for (let i = 0; i < pending.length; i += 2) {
        ;(pending[i] as (outcome: CallState.Outcome) => void)(pending[i + 1] as CallState.Outcome)
      }
    }
  }

  private armGrace(call: Call): unknown {
    return this.env.setTimer(() => {
      const state = call.state
      if (state._tag !== "Cancelling" || state.startedAt === undefined) return
      state.timer = undefined
      if (state.slot.serving) {
        this.kill(
          state.slot,
          `a cancelled call of task ${call.task.name} did not stop within cancelGrace (${this.settings.cancelGrace} ms)`
        )
      }
    }, this.settings.cancelGrace)
  }

  private onTimeout(call: Call): void {
    const state = call.state
    if (state._tag !== "Running") return
    state.timer = undefined
    const resume = call.resume
    this.cancel(call)
    resume?.({ _tag: "Fail", error: new Core.TaskTimeout({ task: call.task.name, timeout: this.settings.taskTimeout! }) })
  }

  // --- messages to a worker ---------------------------------------------------------------

  private post(slot: Slot, schedule: boolean): void {
    if (schedule) this.env.defer(() => this.flush(slot))
  }

  private flush(slot: Slot): void {
    const { calls, frames, transfers } = slot.takeOutbox()
    // a dying worker gets nothing more: its unsent calls go back to the queue when it exits
    if (frames.length === 0 || !slot.serving) return
    try {
      slot.worker.post([0, frames], transfers)
      for (const call of calls) this.posted(slot, call)
    } catch {
      this.postOneByOne(slot, frames, calls)
      this.afterAnswers(slot)
    }
  }

  /** One of the messages cannot be cloned: send them one by one, failing only those calls. */
  private postOneByOne(slot: Slot, frames: ReadonlyArray<unknown>, calls: ReadonlyArray<Call>): void {
    let next = 0
    for (let i = 0; i < frames.length;) {
      const width = frames[i] === Frames.request ? 5 : 2
      const call = width === 5 ? calls[next++] : undefined
      try {
        slot.worker.post([0, frames.slice(i, i + width)], call?.transfer ?? [])
        if (call !== undefined) this.posted(slot, call)
      } catch (error) {
        if (call !== undefined) {
          const message = `could not send the call to its worker: ${String(error)}`
          this.settle(slot, call, { _tag: "Fail", error: protocolError(call.task, message, error) })
        }
      }
      i += width
    }
  }

  /** A call's `Request` has left the main thread: if it had started, it is reported so now. */
  private posted(slot: Slot, call: Call): void {
    const state = markPosted(slot, call)
    if (state !== undefined && state._tag !== "SentAhead" && state.startedAt !== undefined) {
      this.observer.started(call, state.startedAt - call.queuedAt)
    }
  }

  // --- answers from a worker --------------------------------------------------------------

  private onMessage(slot: Slot, data: unknown): void {
    const envelope = data as readonly [0] | readonly [1, unknown]
    if (envelope[0] === 0) return this.onReady(slot)
    const message = envelope[1]
    if (Array.isArray(message)) this.onAnswers(slot, message)
    else this.onServerMessage(slot, message as { readonly _tag: string; readonly defect?: unknown; readonly error?: unknown })
    this.afterAnswers(slot)
  }

  private onReady(slot: Slot): void {
    if (slot.state !== "starting") return
    slot.state = "ready"
    slot.isReady = true
    this.observer.workerReady(slot)
    this.dispatch()
  }

  /**
   * A worker answers a burst of calls in one message: the pool sees the calls of the burst
   * end together, the first after all the burst's time and the others at once. What each
   * call's estimate learns is its share: the time since the first of them started, spread
   * over the answers (and multiplied by the calls that ran side by side, at most
   * `concurrencyPerWorker`). A message of one answer teaches its run time.
   */
  private onAnswers(slot: Slot, answers: ReadonlyArray<unknown>): void {
    const count = Math.floor(answers.length / Frames.answerWidth)
    let share: number | undefined
    for (let i = 0; i + 2 < answers.length; i += Frames.answerWidth) {
      const call = slot.inFlight.get(answers[i] as number)
      if (call === undefined) continue
      if (share === undefined) {
        const state = call.state
        if (state._tag === "Running") share = (this.env.now() - state.startedAt) * Math.min(count, this.perWorker) / count
      }
      slot.completed++
      this.settle(slot, call, { _tag: "Answer", kind: answers[i + 1] as number, value: answers[i + 2] }, share ?? 0)
      // the worker started its next call when it answered this one: so does the pool,
      // before it reads the next answer of the batch
      this.promote(slot)
    }
  }

  /** A server message other than answers: a protocol-level failure ends every call in flight. */
  private onServerMessage(slot: Slot, message: { readonly _tag: string; readonly defect?: unknown; readonly error?: unknown }): void {
    if (message._tag !== "Defect" && message._tag !== "ClientProtocolError") return
    // (handler defects are per call; these are the server's own, as with RpcClient)
    for (const call of Array.from(slot.inFlight.values())) {
      const outcome: CallState.Outcome = message._tag === "Defect"
        ? { _tag: "Die", defect: message.defect }
        : { _tag: "Fail", error: protocolError(call.task, String(message.error), message.error) }
      this.settle(slot, call, outcome)
    }
  }

  /** After answers: start what waits in the worker, recycle it if due, send it more. */
  private afterAnswers(slot: Slot): void {
    // a dying worker still starts what waits in it until it stops: the books must follow
    if (slot.state !== "dead") this.promote(slot)
    if (slot.serving) this.recycleIfDue(slot)
    this.dispatch()
    this.resumeSettled()
  }

  private recycleIfDue(slot: Slot): void {
    const { recycleHeapBytes, recycleTasks } = this.settings
    if (slot.state === "ready" && recycleTasks !== undefined && slot.completed >= recycleTasks) slot.state = "retiring"
    if (
      recycleHeapBytes !== undefined && slot.state === "ready" && !slot.heapChecking &&
      this.env.now() - slot.heapCheckedAt >= heapCheckInterval
    ) {
      slot.heapChecking = true
      slot.heapCheckedAt = this.env.now()
      slot.worker.heapUsed().then(
        (used) => {
          slot.heapChecking = false
          if (used > recycleHeapBytes && slot.state === "ready") {
            slot.state = "retiring"
            if (slot.inFlight.size === 0) this.retire(slot)
          }
        },
        () => {
          slot.heapChecking = false
        }
      )
    }
    if (slot.state === "retiring" && slot.inFlight.size === 0) this.retire(slot)
  }

  // --- worker life ------------------------------------------------------------------------

  private spawn(index: number): void {
    const workerId = this.spawned++
    let slot: Slot | undefined
    const handle = this.spawner(workerId, {
      message: (data) => this.onMessage(slot!, data),
      error: (error) => {
        // an uncaught exception (or out of memory): the thread exits next
        slot!.failure ??= String(error)
        if (slot!.serving) slot!.state = "dying"
      },
      messageError: (error) => this.kill(slot!, `a message from the worker could not be deserialized: ${String(error)}`),
      exit: (code) => this.onExit(slot!, code)
    })
    slot = new Slot(index, workerId, handle)
    this.slots[index] = slot
    this.live.add(slot)
  }

  /** Replaces a worker that has nothing in flight (recycling). */
  private retire(slot: Slot): void {
    slot.state = "dying"
    slot.failure ??= "recycled"
    void slot.worker.terminate()
    if (!this.closing) this.spawn(slot.index)
  }

  /** Terminates a worker at once and replaces it; its calls are settled when it has exited. */
  private kill(slot: Slot, reason: string): void {
    if (slot.state === "dying" || slot.state === "dead") return
    const replace = slot.state !== "starting"
    slot.state = "dying"
    slot.failure ??= reason
    void slot.worker.terminate()
    if (!this.closing && replace) this.spawn(slot.index)
  }

  private onExit(slot: Slot, code: number): void {
    this.live.delete(slot)
    const wasReady = slot.isReady
    const reason = slot.failure ?? `exited with code: ${code}`
    slot.state = "dead"
    slot.takeOutbox()
    this.observer.workerExited(slot, reason, wasReady)
    this.failOrRequeue(slot, new Core.WorkerCrashed({ workerId: slot.workerId, cause: reason }))
    if (!this.closing && this.slots[slot.index] === slot) {
      // a worker that dies before it is ready (a broken worker file) is not respawned in a hot loop
      if (wasReady) {
        this.spawn(slot.index)
      } else {
        const timer = this.env.setTimer(() => {
          this.respawns.delete(timer)
          if (!this.closing && this.slots[slot.index] === slot) this.spawn(slot.index)
        }, respawnDelay)
        this.respawns.add(timer)
      }
    }
    this.dispatch()
    this.resumeSettled()
  }

  /** A dead worker's calls: those it ran fail with `error`; those it had not started go back to the queue. */
  private failOrRequeue(slot: Slot, error: Core.WorkerCrashed): void {
    const back: Array<Call> = []
    const taken = slot.worker.taken?.()
    for (const call of Array.from(slot.inFlight.values())) {
      const state = call.state as InSlot
      const started = taken === undefined
        ? CallState.hasStarted(state) && state.posted
        : state.posted && call.seq < taken
      if (started) {
        this.settle(slot, call, { _tag: "Fail", error })
        continue
      }
      this.detach(slot, call, state)
      if (state._tag === "Cancelling") {
        call.state = CallState.done
      } else {
        call.state = CallState.queued
        back.push(call)
      }
    }
    if (back.length > 0) {
      this.queue.unshiftAll(back)
      this.setQueued(this.queued + back.length)
    }
  }

  // --- stop, stats, invariants ------------------------------------------------------------

  /**
   * Closes the pool: calls still running or queued are interrupted, no worker is replaced.
   * Returns the workers still alive, for the caller to terminate and await.
   */
  close(): Array<Spawner.WorkerHandle> {
    this.closing = true
    if (this.wake !== undefined) this.env.clearTimer(this.wake)
    this.wake = undefined
    for (const timer of this.respawns) this.env.clearTimer(timer)
    this.respawns.clear()
    const callers: Array<(outcome: CallState.Outcome) => void> = []
    for (const slot of this.live) {
      slot.state = "dead"
      for (const call of slot.inFlight.values()) {
        const state = call.state
        if (state._tag !== "Done" && state._tag !== "Queued" && state._tag !== "SentAhead" && state.timer !== undefined) {
          this.env.clearTimer(state.timer)
        }
        call.state = CallState.done
        if (call.resume !== undefined) callers.push(call.resume)
        call.resume = undefined
      }
      slot.inFlight.clear()
    }
    for (const call of this.queue.drain()) {
      if (call.state._tag === "Queued" && call.resume !== undefined) callers.push(call.resume)
      call.resume = undefined
      call.state = CallState.done
    }
    this.setQueued(0)
    for (const resume of callers) resume(interrupted)
    return Array.from(this.live, (slot) => slot.worker)
  }

  /** The pool's statistics (`NodeRunner.Pool`). */
  stats(): PoolStats {
    return {
      workers: this.slots.map((slot) => ({
        workerId: slot.workerId,
        threadId: slot.worker.threadId,
        state: slot.state,
        running: slot.running,
        waiting: slot.waiting
      })),
      spawned: this.spawned,
      queued: this.queued
    }
  }

  /** Checks every live worker's invariant and the pool's own counters; throws if one is broken. */
  check(): void {
    if (this.closing) return
    let busy = 0
    for (const slot of this.live) {
      slot.check(this.perWorker, this.settings.sendAhead)
      if (slot.running > 0) busy++
    }
    if (busy !== this.busy) throw new Error(`NodeRunner pool invariant broken: busy ${this.busy}, counted ${busy}`)
    const queued = this.queue.toArray().filter((call) => call.state._tag === "Queued").length
    if (queued !== this.queued) throw new Error(`NodeRunner pool invariant broken: queued ${this.queued}, counted ${queued}`)
  }
}

/** Notes that a call's `Request` has left the main thread; its state if it is still that worker's. */
const markPosted = (slot: Slot, call: Call): InSlot | undefined => {
  const seq = slot.posted++
  const state = call.state
  if (CallState.slotOf(state) !== slot) return undefined
  ;(state as InSlot).posted = true
  call.seq = seq
  return state as InSlot
}
