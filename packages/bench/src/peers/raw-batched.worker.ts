/**
 * The worker of the batched raw `node:worker_threads` ceiling (`raw-batched.ts`): answers
 * a batch of `[id, kind, n]` requests with one message of `[id, result]` pairs, flat.
 *
 * Message in: `[id0, kind0, n0, id1, kind1, n1, …]` with kind 0 = inc, 1 = primes;
 * message out: `[id0, result0, id1, result1, …]`.
 *
 * @since 0.1.0
 */
import { parentPort } from "node:worker_threads"
import { countPrimes, inc } from "../kernels.ts"

parentPort?.on("message", (batch: ReadonlyArray<number>) => {
  const out: Array<number> = new Array(batch.length / 3 * 2)
  for (let i = 0, j = 0; i < batch.length; i += 3, j += 2) {
    out[j] = batch[i]!
    out[j + 1] = batch[i + 1] === 1 ? countPrimes(batch[i + 2]!) : inc(batch[i + 2]!)
  }
  parentPort?.postMessage(out)
})
