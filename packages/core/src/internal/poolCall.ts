/**
 * One call through `NodeRunner`'s pool, and its life as a tagged union of states, each
 * holding only its own fields:
 *
 * ```text
 *   Queued ──send──▶ SentAhead ──start──▶ Running ──answer──▶ Done
 *     │   └────────send (free slot)────────▲   │
 *     │                 │ cancel               │ cancel / taskTimeout
 *     ▼                 ▼                      ▼
 *   Done            Cancelling (not started) ─start─▶ Cancelling (started) ──answer / worker gone──▶ Done
 * ```
 *
 * `Queued` waits in the main thread; `SentAhead` was sent to a busy worker and waits
 * there; `Running` is one of the calls its worker runs; `Cancelling` lost its caller and
 * waits for its worker to say it stopped (or for `cancelGrace` to end it). A call whose
 * worker dies before it started goes back to `Queued` (or `Done`, if cancelled).
 */
import type * as WorkerThreads from "node:worker_threads"
import type * as Core from "./runnerCore.ts"

/** What a task is to the scheduler: its name (estimates and messages are per name). */
export interface TaskRef {
  readonly name: string
}

/** Where the span of a call is annotated (a `Tracer.Span` in the pool). */
export interface SpanLike {
  readonly attribute: (key: string, value: unknown) => void
}

/** The encoded `Exit` of a call as its worker answered it (see `runnerFrames.ts`). */
export interface Answer {
  readonly _tag: "Answer"
  /** `runnerFrames.answerSuccess` or `runnerFrames.answerExit`. */
  readonly kind: number
  readonly value: unknown
}

/** How a call ended, as its caller is told. */
export type Outcome =
  | Answer
  | { readonly _tag: "Fail"; readonly error: Core.RunError }
  | { readonly _tag: "Die"; readonly defect: unknown }
  | { readonly _tag: "Interrupt" }

/** The books a worker keeps of a call sent to it. */
interface InSlot<S> {
  readonly slot: S
  /** Its task's estimated run time when it was sent (ms; `Infinity` while unknown). */
  readonly estimate: number
  /** Its `Request` has left the main thread. */
  posted: boolean
}

/** Waiting in the main thread's queue. */
export interface Queued {
  readonly _tag: "Queued"
}

/** Sent to a busy worker; waits there behind the calls it runs. */
export interface SentAhead<S> extends InSlot<S> {
  readonly _tag: "SentAhead"
}

/** One of the calls its worker runs. */
export interface Running<S> extends InSlot<S> {
  readonly _tag: "Running"
  readonly startedAt: number
  /** Its `taskTimeout` timer, if any. */
  timer: unknown
}

/** Its caller has gone; its worker has been told to stop it. */
export interface Cancelling<S> extends InSlot<S> {
  readonly _tag: "Cancelling"
  /** When it started in its worker; `undefined` while it still waits there. */
  startedAt: number | undefined
  /** The `cancelGrace` timer, armed once it has started. */
  timer: unknown
}

/** Over: answered, failed, or dropped. */
export interface Done {
  readonly _tag: "Done"
}

/** The state of a call; `S` is the slot type (kept generic so this module stays a leaf). */
export type CallState<S> = Queued | SentAhead<S> | Running<S> | Cancelling<S> | Done

/** The one `Queued` state. */
export const queued: Queued = { _tag: "Queued" }
/** The one `Done` state. */
export const done: Done = { _tag: "Done" }

/** A call in the pool: what it asks, who waits for it, and its state. */
export class Call<S> {
  state: CallState<S> = queued
  /**
   * Its place among the requests posted to its current worker (0, 1, …), once posted
   * (see `Spawner.WorkerHandle.taken`); meaningful only while `posted` is true.
   */
  seq = -1
  /** The caller, while it waits; `undefined` once it has gone or has been told. */
  resume: ((outcome: Outcome) => void) | undefined
  readonly id: number
  readonly task: TaskRef
  /** The payload, encoded. */
  readonly payload: unknown
  readonly transfer: ReadonlyArray<WorkerThreads.TransferListItem> | undefined
  /** The caller's remaining deadline (ms) when asked, if it has one. */
  readonly remaining: (() => number) | undefined
  readonly span: SpanLike | undefined
  readonly queuedAt: number
  constructor(
    id: number,
    task: TaskRef,
    payload: unknown,
    transfer: ReadonlyArray<WorkerThreads.TransferListItem> | undefined,
    remaining: (() => number) | undefined,
    span: SpanLike | undefined,
    queuedAt: number,
    resume: (outcome: Outcome) => void
  ) {
    this.id = id
    this.task = task
    this.payload = payload
    this.transfer = transfer
    this.remaining = remaining
    this.span = span
    this.queuedAt = queuedAt
    this.resume = resume
  }
}

/** The slot of a call that is in a worker's books, if it is. */
export const slotOf = <S>(state: CallState<S>): S | undefined =>
  state._tag === "SentAhead" || state._tag === "Running" || state._tag === "Cancelling" ? state.slot : undefined

/** Whether a call in a worker's books has started there. */
export const hasStarted = <S>(state: CallState<S>): boolean =>
  state._tag === "Running" || (state._tag === "Cancelling" && state.startedAt !== undefined)
