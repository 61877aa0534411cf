/**
 * One worker of `NodeRunner`'s pool, as the main thread sees it: its thread, its state,
 * the calls it was sent and has not answered, and the counters the scheduler reads —
 * kept in step here, and checked against each other in one place (`Slot.check`).
 *
 * Invariant (`check`), for the calls in flight (sent, not answered):
 * - `running` are those that have started, `waiting` the others, and the two add up to
 *   the calls in flight; `running ≤ concurrencyPerWorker`;
 * - a call waits only behind a full worker (`waiting > 0 ⇒ running = concurrencyPerWorker`),
 *   behind calls with an estimate (`waiting > 0 ⇒ unknown = 0`), `waiting ≤ sendAheadMax`,
 *   and only behind calls known to be short (`backlog ≤ sendAhead`) — or alone, sent when
 *   the call running was expected to end within `sendAhead` (`backlog > sendAhead ⇒ waiting ≤ 1`);
 * - `unknown` counts the calls without an estimate, `backlog` sums the others' estimates.
 */
import * as CallState from "./poolCall.ts"
import * as Frames from "./runnerFrames.ts"
import type * as WorkerThreads from "node:worker_threads"
import type * as Spawner from "./poolSpawner.ts"

/** At most this many calls wait in a worker behind the calls it runs. */
export const sendAheadMax = 1024

/** The states of a worker. */
export type State = "starting" | "ready" | "retiring" | "dying" | "dead"

/** A FIFO queue with O(1) push, peek and shift. */
export class Fifo<A> {
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
  /** Everything still in the queue (cleared). */
  drain(): Array<A> {
    const rest = this.items.slice(this.head) as Array<A>
    this.items = []
    this.head = 0
    return rest
  }
  /** Everything still in the queue, in order (not cleared). */
  toArray(): Array<A> {
    return this.items.slice(this.head) as Array<A>
  }
}

/** A call of this pool. */
export type Call = CallState.Call<Slot>

/** What a balancer sees of a worker. */
export interface Load {
  /** Position of the worker in the pool (0 … size − 1). */
  readonly index: number
  /** The runner's id of the worker (a replacement gets a new one). */
  readonly workerId: number
  /** Calls it runs. */
  readonly running: number
  /** Calls sent ahead that wait in it. */
  readonly waiting: number
}

/** One worker, its books and its outbox. */
export class Slot implements Load {
  state: State = "starting"
  /** Calls sent and not answered, in the order they were sent. */
  readonly inFlight = new Map<number, Call>()
  /** Calls sent that wait in the worker (calls that left that state are skipped). */
  private readonly queue = new Fifo<Call>()
  running = 0
  waiting = 0
  /** Estimated work in flight (ms): the sum of the known estimates of its calls. */
  backlog = 0
  /** Calls in flight whose task has no estimate yet. */
  unknown = 0
  /** Calls it answered. */
  completed = 0
  /** Requests posted to it (the next one's `Call.seq`). */
  posted = 0
  /** Why it is dying, when the pool knows better than the exit code. */
  failure: string | undefined = undefined
  heapCheckedAt = 0
  heapChecking = false
  /** Messages for the worker produced in this turn of the event loop (`runnerFrames`). */
  frames: Array<unknown> = []
  /** The calls whose `Request` is in `frames`, and their transfer lists. */
  outCalls: Array<Call> = []
  transfers: Array<WorkerThreads.TransferListItem> = []
  flushScheduled = false
  /** Whether it has answered its ready message. */
  isReady = false

  readonly index: number
  readonly workerId: number
  readonly worker: Spawner.WorkerHandle
  constructor(index: number, workerId: number, worker: Spawner.WorkerHandle) {
    this.index = index
    this.workerId = workerId
    this.worker = worker
  }

  /** Whether it may be sent calls. */
  get accepting(): boolean {
    return this.state === "ready"
  }

  /** Whether it still runs calls (it may be retiring, it has not been told to stop). */
  get serving(): boolean {
    return this.state === "ready" || this.state === "retiring"
  }

  /**
   * Books a call sent to it, with its estimate; whether it starts at once (a free slot)
   * or waits behind the calls it runs.
   */
  admit(call: Call, estimate: number, perWorker: number): boolean {
    this.inFlight.set(call.id, call)
    if (estimate === Infinity) this.unknown++
    else this.backlog += estimate
    if (this.running < perWorker) {
      this.running++
      return true
    }
    this.waiting++
    this.queue.push(call)
    return false
  }

  /** The next call waiting in it, if it has a free slot (counted as running from now). */
  startNext(perWorker: number): Call | undefined {
    while (this.running < perWorker && this.waiting > 0) {
      const next = this.queue.shift()
      if (next === undefined) return undefined
      if (CallState.slotOf(next.state) !== this || CallState.hasStarted(next.state)) continue
      this.waiting--
      this.running++
      return next
    }
    return undefined
  }

  /**
   * When the first of its running calls is expected to end (its start plus its estimate);
   * `Infinity` if one of them is being cancelled (how long that takes is not known).
   */
  soonestEnd(): number {
    let end = Infinity
    for (const call of this.inFlight.values()) {
      const state = call.state
      if (state._tag === "Running") end = Math.min(end, state.startedAt + state.estimate)
      else if (CallState.hasStarted(state)) return Infinity
    }
    return end
  }

  /** Takes a call off its books (answered, failed, or back to the queue). */
  release(call: Call, estimate: number, started: boolean): void {
    if (started) this.running--
    else this.waiting--
    if (estimate === Infinity) this.unknown--
    else this.backlog -= estimate
    this.inFlight.delete(call.id)
    if (this.inFlight.size === 0) this.backlog = 0 // no drift from float sums
  }

  /** Queues the `Request` of a call for the worker; whether a flush needs scheduling. */
  pushRequest(call: Call, remainingMs: number): boolean {
    this.frames.push(Frames.request, call.id, call.task.name, call.payload, remainingMs)
    this.outCalls.push(call)
    if (call.transfer !== undefined) for (const t of call.transfer) this.transfers.push(t)
    return this.scheduleFlush()
  }

  /** Queues the `Interrupt` of a call for the worker; whether a flush needs scheduling. */
  pushInterrupt(call: Call): boolean {
    this.frames.push(Frames.interrupt, call.id)
    return this.scheduleFlush()
  }

  private scheduleFlush(): boolean {
    if (this.flushScheduled) return false
    this.flushScheduled = true
    return true
  }

  /** Empties the outbox. */
  takeOutbox(): { frames: Array<unknown>; calls: Array<Call>; transfers: Array<WorkerThreads.TransferListItem> } {
    const out = { frames: this.frames, calls: this.outCalls, transfers: this.transfers }
    this.frames = []
    this.outCalls = []
    this.transfers = []
    this.flushScheduled = false
    return out
  }

  /**
   * Checks the slot's invariant (see the module doc) against its calls' states; throws
   * naming the first broken clause. Cheap enough for tests after every event, not per call.
   */
  check(perWorker: number, sendAhead: number): void {
    let running = 0
    let waiting = 0
    let unknown = 0
    let backlog = 0
    for (const call of this.inFlight.values()) {
      const state = call.state
      if (CallState.slotOf(state) !== this) fail(this, `call ${call.id} in flight is ${state._tag} elsewhere`)
      const inSlot = state as CallState.SentAhead<Slot>
      if (CallState.hasStarted(state)) running++
      else waiting++
      if (inSlot.estimate === Infinity) unknown++
      else backlog += inSlot.estimate
    }
    if (running !== this.running) fail(this, `running ${this.running}, counted ${running}`)
    if (waiting !== this.waiting) fail(this, `waiting ${this.waiting}, counted ${waiting}`)
    if (unknown !== this.unknown) fail(this, `unknown ${this.unknown}, counted ${unknown}`)
    if (Math.abs(backlog - this.backlog) > 1e-6) fail(this, `backlog ${this.backlog}, summed ${backlog}`)
    if (this.running > perWorker) fail(this, `running ${this.running} > concurrencyPerWorker ${perWorker}`)
    if (this.waiting > 0) {
      if (this.running !== perWorker) fail(this, `${this.waiting} waiting behind ${this.running} running`)
      if (this.unknown > 0) fail(this, `${this.waiting} waiting behind ${this.unknown} calls of unknown length`)
      if (this.backlog > sendAhead + 1e-6 && this.waiting > 1) {
        fail(this, `backlog ${this.backlog} ms > sendAhead ${sendAhead} ms with ${this.waiting} waiting`)
      }
      if (this.waiting > sendAheadMax) fail(this, `${this.waiting} waiting > ${sendAheadMax}`)
    }
  }
}

const fail = (slot: Slot, what: string): never => {
  throw new Error(`NodeRunner pool invariant broken on worker ${slot.workerId} (${slot.state}): ${what}`)
}
