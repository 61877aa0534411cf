/**
 * The raw `node:worker_threads` control of the `cpu` scenario: no pool library, no Effect,
 * one `postMessage` per task. It shows what the machine delivers (small VMs often give one
 * core's worth of CPU to two threads), so the other ratios can be read against it.
 *
 * Message in: `[id, kind, n]`; message out: `[id, result]`. Kind `loaded` answers when
 * this file's body ran, as an absolute time in ms (nothing but the kernels to load).
 *
 * @since 0.1.0
 */
import { parentPort } from "node:worker_threads"
import { countPrimes, inc } from "../kernels.ts"

const loadedAt = performance.timeOrigin + performance.now()

parentPort?.on("message", (message: readonly [number, "primes" | "inc" | "loaded", number]) => {
  const [id, kind, n] = message
  parentPort?.postMessage([id, kind === "primes" ? countPrimes(n) : kind === "inc" ? inc(n) : loadedAt])
})
