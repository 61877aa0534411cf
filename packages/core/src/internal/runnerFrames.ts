/**
 * The framing of `NodeRunner`'s messages between the pool and its workers: effect/rpc's
 * client and server messages, packed flat so that a burst of calls costs one
 * `postMessage` of numbers and short strings rather than one structured clone of an
 * object (with its property names) per message.
 *
 * Inside effect/workers' platform envelope (`[0, data]` to a worker, `[1, data]` back):
 * - pool → worker, `data` is a flat array of client messages, each a kind and its fields:
 *   `Request` = `0, id, tag, payload, remainingMs` (`-1`: no deadline) and
 *   `Interrupt` = `1, id`. The worker turns them back into effect/rpc's `Request` and
 *   `Interrupt` messages for its `RpcServer`.
 * - worker → pool, `data` is either an effect/rpc server message as it is (`Defect`,
 *   `ClientProtocolError`, …) or, for `Exit` messages, a flat array of answers, three
 *   fields each: `id, 0, value` (a success, its value encoded with the task's success
 *   schema) or `id, 1, exit` (any other `Exit`, encoded with the task's exit schema).
 *
 *
 * Beside the messages, the pool gives each worker a shared counter (`workerData`'s
 * `progress`, an `Int32Array` over a `SharedArrayBuffer`): at `progressTaken`, how many of
 * the requests it received it has taken off its queue (started, or dropped after an
 * `Interrupt`), in the order they arrived. A worker answers a burst of calls in one
 * message; when it dies with answers not yet posted, this counter tells the pool exactly
 * which calls had started there (those fail with `WorkerCrashed`) and which had not
 * (those run elsewhere).
 *
 * Imported by worker entry files (through `runnerServe.ts`): no imports.
 */

/** Kind of a `Request` in a pool → worker batch (5 fields with the kind). */
export const request = 0
/** Kind of an `Interrupt` in a pool → worker batch (2 fields with the kind). */
export const interrupt = 1
/** `remainingMs` of a request without a deadline. */
export const noDeadline = -1

/** Index of the "requests taken" counter in a worker's `progress` array. */
export const progressTaken = 0
/** Length (in `Int32` elements) of a worker's `progress` array. */
export const progressLength = 1

/** Fields of one answer in a worker → pool batch. */
export const answerWidth = 3
/** Answer kind: the value of a successful `Exit`. */
export const answerSuccess = 0
/** Answer kind: any other `Exit`, encoded whole. */
export const answerExit = 1

/**
 * The `name` of the defect a worker dies with when a handler's result does not fit its
 * task's success schema: the pool recognises it by this name (which survives
 * `Schema.Defect`'s encoding), not by its message.
 */
export const invalidResultName = "HybridInvalidResult"
