/**
 * The raw `node:worker_threads` control: a fixed set of threads, a FIFO of tasks, one
 * `postMessage` per task, no library. What the machine delivers, for reading the others.
 *
 * @since 0.1.0
 */
import { Worker } from "node:worker_threads"

/** @since 0.1.0 */
export interface RawPool {
  readonly run: (kind: "primes" | "inc" | "loaded", n: number) => Promise<number>
  readonly close: () => Promise<void>
}

/** @since 0.1.0 */
export const makeRawPool = async (size: number): Promise<RawPool> => {
  const url = new URL("./raw.worker.ts", import.meta.url)
  const pending = new Map<number, (n: number) => void>()
  const queue: Array<readonly [number, "primes" | "inc" | "loaded", number] | undefined> = []
  let head = 0
  const idle: Array<Worker> = []
  let nextId = 0
  const workers = Array.from({ length: size }, () => new Worker(url))
  const dispatch = () => {
    while (idle.length > 0 && head < queue.length) {
      idle.pop()!.postMessage(queue[head])
      queue[head++] = undefined
    }
  }
  for (const worker of workers) {
    worker.on("message", ([id, result]: readonly [number, number]) => {
      const resolve = pending.get(id)
      pending.delete(id)
      idle.push(worker)
      dispatch()
      resolve?.(result)
    })
  }
  await Promise.all(workers.map((w) => new Promise((resolve) => w.once("online", resolve))))
  idle.push(...workers)
  return {
    run: (kind, n) =>
      new Promise<number>((resolve) => {
        const id = nextId++
        pending.set(id, resolve)
        queue.push([id, kind, n])
        dispatch()
      }),
    close: async () => {
      await Promise.all(workers.map((w) => w.terminate()))
    }
  }
}
