/**
 * The CPU kernels shared by every variant of the `cpu` scenario, so the sequential run,
 * `NodeRunner`, piscina, tinypool and raw `worker_threads` all do exactly the same work.
 *
 * This file is imported by worker entry files: keep it dependency-free, erasable TS.
 *
 * @since 0.1.0
 */

/**
 * Counts the primes in `[from, n)` by trial division: a real, branchy CPU loop with no
 * allocation, so its run time scales with `n` and nothing else.
 *
 * @since 0.1.0
 * @category kernels
 */
export const countPrimes = (n: number, from = 2): number => {
  let count = 0
  for (let i = Math.max(2, from); i < n; i++) {
    let prime = true
    for (let d = 2; d * d <= i; d++) {
      if (i % d === 0) {
        prime = false
        break
      }
    }
    if (prime) count++
  }
  return count
}

/**
 * The tiny task of the throughput measurement.
 *
 * @since 0.1.0
 * @category kernels
 */
export const inc = (n: number): number => n + 1

/**
 * Finds the `n` for which `countPrimes(n)` takes about `targetMs` on this machine, by
 * timing growing inputs on the calling thread.
 *
 * @since 0.1.0
 * @category kernels
 */
export const calibrate = (targetMs: number): number => {
  let n = 50_000
  for (;;) {
    const t0 = performance.now()
    countPrimes(n)
    const ms = performance.now() - t0
    if (ms >= 40) {
      // trial division is ~O(n^1.5); scale once, then verify
      const scaled = Math.round(n * Math.pow(targetMs / ms, 1 / 1.5))
      const t1 = performance.now()
      countPrimes(scaled)
      const ms2 = performance.now() - t1
      return Math.max(1000, Math.round(scaled * Math.pow(targetMs / ms2, 1 / 1.5)))
    }
    n *= 2
  }
}
