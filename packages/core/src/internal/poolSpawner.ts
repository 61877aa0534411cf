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

/**
 * Where a worker spends its start-up: loading modules, ≈ 190 files for Effect's `Schema`,
 * `effect/rpc`'s `Rpc` and the worker entry, before the first call can run. Two things
 * cut it, both set up by this bootstrap before it imports the worker file (measured with
 * `valgrind --tool=callgrind` on one worker's imports, 1,320 M instructions before):
 *
 * - Node's on-disk compile cache (`module.enableCompileCache`, in `os.tmpdir()` unless
 *   `NODE_COMPILE_CACHE` names a directory; `NODE_DISABLE_COMPILE_CACHE=1` turns it off):
 *   the second worker and every later run skip compiling Effect's modules and stripping
 *   the types of the `.ts` files (≈ 800 M instructions). It is flushed once the worker
 *   file has loaded, so a worker that is terminated still leaves it for the next one.
 * - A resolve hook (`module.registerHooks`) for the relative imports between Effect's
 *   own files (`effect/dist/**`, an ES module package without nested package.json):
 *   such an import is the URL next to its importer, which Node would otherwise find with
 *   a file-system walk and a package.json lookup per import (≈ 470 M with both).
 *
 * - The pool's `niceness` (Linux): the thread renices itself first.
 *
 * The worker file is then imported as it is; `workerData` stays the pool's.
 */
const bootstrap = `
const Module = process.getBuiltinModule("node:module")
const { workerData } = process.getBuiltinModule("node:worker_threads")
const boot = workerData[${JSON.stringify(Core.workerDataKey)}]
Module.enableCompileCache?.()
// Linux: setpriority(PRIO_PROCESS, 0) renices the calling thread alone (the caller checked the platform)
// and only ever raises the value (lowering it needs a privilege)
const os = process.getBuiltinModule("node:os")
if (boot.niceness > os.getPriority(0)) os.setPriority(0, boot.niceness)
const scopes = ["/node_modules/effect/dist/", "/node_modules/@effect/platform-node/dist/", "/node_modules/@effect/platform-node-shared/dist/"]
Module.registerHooks?.({
  resolve(specifier, context, next) {
    const parent = context.parentURL
    if (parent !== undefined && (specifier.startsWith("./") || specifier.startsWith("../")) && specifier.endsWith(".js") &&
      parent.startsWith("file:") && scopes.some((scope) => parent.includes(scope))) {
      return { url: new URL(specifier, parent).href, format: "module", shortCircuit: true }
    }
    return next(specifier, context)
  }
})
import(boot.entry).then(() => setImmediate(() => Module.flushCompileCache?.()))
`

/** Workers as `worker_threads` threads running the entry file `worker` (through `bootstrap`). */
export const nodeSpawner = (
  worker: URL,
  workerOptions: WorkerThreads.WorkerOptions,
  concurrency: number,
  niceness: number
): Spawner =>
(workerId, events) => {
  const progress = new SharedArrayBuffer(Frames.progressLength * Int32Array.BYTES_PER_ELEMENT)
  const counters = new Int32Array(progress)
  const thread = new WorkerThreads.Worker(bootstrap, {
    ...workerOptions,
    eval: true,
    name: `hybrid-runner-${workerId}`,
    workerData: { [Core.workerDataKey]: { concurrency, progress, entry: worker.href, niceness } }
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
