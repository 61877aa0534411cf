/**
 * How `NodeRunner`'s pool gets a worker: a `Spawner` makes one and reports what happens
 * to it (as effect/workers' `Spawner` / `WorkerPlatform`), so the scheduling logic
 * (`poolScheduler.ts`) runs the same against real threads (`nodeSpawner`) and against
 * fake in-memory workers in tests.
 */
import * as WorkerThreads from "node:worker_threads"
import * as Core from "./runnerCore.ts"
import * as Frames from "./runnerFrames.ts"

/** What a worker tells the pool. */
export interface WorkerEvents {
  /** A message (effect/workers' platform envelope, see `runnerFrames.ts`). */
  readonly message: (data: unknown) => void
  /** An uncaught exception in the worker (or out of memory): it exits next. */
  readonly error: (error: unknown) => void
  /** A message from the worker could not be deserialized. */
  readonly messageError: (error: unknown) => void
  /** The worker has exited; every message it sent before was delivered first. */
  readonly exit: (code: number) => void
}

/** A worker, as the pool drives it. */
export interface WorkerHandle {
  readonly threadId: number
  /** Sends one message; throws (synchronously) if it cannot be cloned. */
  readonly post: (message: unknown, transfer: ReadonlyArray<WorkerThreads.TransferListItem>) => void
  /** Stops the worker; its `exit` event follows. */
  readonly terminate: () => Promise<void>
  /** The worker's used heap, in bytes. */
  readonly heapUsed: () => Promise<number>
  /**
   * How many of the requests posted to it the worker has taken off its queue (started or
   * dropped), in order (`runnerFrames.progressTaken`): read when it has exited, to tell
   * the calls it had started from those it never saw. Without it, the pool counts as
   * started the calls it believes were running (the first `concurrencyPerWorker` not
   * answered) — exact only for a worker that posts every answer before its next call.
   */
  readonly taken?: (() => number) | undefined
}

/** Makes worker number `workerId`, reporting to `events`. */
export type Spawner = (workerId: number, events: WorkerEvents) => WorkerHandle

/** Workers as `worker_threads` threads running the entry file `worker`. */
export const nodeSpawner = (
  worker: URL,
  workerOptions: WorkerThreads.WorkerOptions,
  concurrency: number
): Spawner =>
(workerId, events) => {
  const progress = new SharedArrayBuffer(Frames.progressLength * Int32Array.BYTES_PER_ELEMENT)
  const counters = new Int32Array(progress)
  const thread = new WorkerThreads.Worker(worker, {
    ...workerOptions,
    name: `hybrid-runner-${workerId}`,
    workerData: { [Core.workerDataKey]: { concurrency, progress } }
  })
  thread.on("message", events.message)
  thread.on("error", events.error)
  thread.on("messageerror", events.messageError)
  thread.on("exit", events.exit)
  return {
    threadId: thread.threadId,
    post: (message, transfer) => thread.postMessage(message, transfer as Array<WorkerThreads.TransferListItem>),
    terminate: () => thread.terminate().then(() => {}, () => {}),
    heapUsed: () => thread.getHeapStatistics().then((heap) => heap.used_heap_size),
    taken: () => Atomics.load(counters, Frames.progressTaken)
  }
}
