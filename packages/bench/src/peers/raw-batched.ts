/**
 * The ceiling of the `cpu` scenario's tiny tasks: raw `node:worker_threads` with every
 * request in flight at once, batched. Requests made in one turn of the event loop are
 * spread round-robin over the threads and leave as one `postMessage` per thread; each
 * thread answers its batch with one message. No library, no queue, no per-call object
 * beyond a promise — what the machine's message passing allows, for reading the others.
 *
 * @since 0.1.0
 */
import { Worker } from "node:worker_threads"
import type { RawPool } from "./raw.ts"

/** @since 0.1.0 */
export const makeRawBatchedPool = async (size: number): Promise<RawPool> => {
  const url = new URL("./raw-batched.worker.ts", import.meta.url)
  const pending = new Map<number, (n: number) => void>()
  const workers = Array.from({ length: size }, () => new Worker(url))
  const outboxes: Array<Array<number>> = workers.map(() => [])
  let next = 0
  let nextId = 0
  let scheduled = false
  const flush = () => {
    scheduled = false
    for (let w = 0; w < workers.length; w++) {
      const batch = outboxes[w]!
      if (batch.length === 0) continue
      outboxes[w] = []
      workers[w]!.postMessage(batch)
    }
  }
  for (const worker of workers) {
    worker.on("message", (answers: ReadonlyArray<number>) => {
      for (let i = 0; i < answers.length; i += 2) {
        const id = answers[i]!
        const resolve = pending.get(id)
        pending.delete(id)
        resolve?.(answers[i + 1]!)
      }
    })
  }
  await Promise.all(workers.map((w) => new Promise((resolve) => w.once("online", resolve))))
  return {
    run: (kind, n) =>
      new Promise<number>((resolve) => {
        const id = nextId++
        pending.set(id, resolve)
        const batch = outboxes[next]!
        next = (next + 1) % workers.length
        batch.push(id, kind === "primes" ? 1 : 0, n)
        if (!scheduled) {
          scheduled = true
          setImmediate(flush)
        }
      }),
    close: async () => {
      await Promise.all(workers.map((w) => w.terminate()))
    }
  }
}
