/**
 * The raw `worker_threads` control: how many cores the machine delivers right now, so a
 * parallel figure can be read beside it. One prime count alone on a raw thread
 * (`peers/raw.ts`: no library, one `postMessage` per task), then one per core at once;
 * delivered cores = cores × (time alone) / (time all at once). A 2-core VM that gives
 * two threads one core's worth of CPU reads ≈ 1.
 *
 * Below `MACHINE_LIMITED` (1.5 cores) a parallel figure measures the machine, not the
 * code: the CLI says so instead of drawing a conclusion.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import * as Control from "./Control.ts"
 *
 * const cores = await Effect.runPromise(Control.deliveredCores({ kernelMs: 20 }))
 * console.log(cores > 0) // true
 * ```
 *
 * @since 0.1.0
 */
import { Effect } from "effect"
import os from "node:os"
import { calibrate } from "./kernels.ts"
import { makeRawPool } from "./peers/raw.ts"

/**
 * Below this many delivered cores a parallel scenario is machine-limited.
 *
 * @since 0.1.0
 * @category constants
 */
export const MACHINE_LIMITED = 1.5

/**
 * One measurement of the cores delivered to `cores` raw worker threads (default: every
 * core), with a kernel of about `kernelMs` (default 250) on one thread.
 *
 * @since 0.1.0
 * @category measurements
 */
export const deliveredCores = (options: { readonly cores?: number | undefined; readonly kernelMs?: number | undefined } = {}) =>
  Effect.promise(async () => {
    const cores = options.cores ?? os.availableParallelism()
    const pool = await makeRawPool(cores)
    try {
      const n = calibrate(options.kernelMs ?? 250)
      await Promise.all(Array.from({ length: cores }, () => pool.run("primes", n))) // start the threads, warm the JIT
      let t0 = performance.now()
      await pool.run("primes", n)
      const one = performance.now() - t0
      t0 = performance.now()
      await Promise.all(Array.from({ length: cores }, () => pool.run("primes", n)))
      const all = performance.now() - t0
      return (cores * one) / all
    } finally {
      await pool.close()
    }
  })

/**
 * Whether a control figure (its median) says the machine did not deliver parallelism.
 *
 * @example
 * ```ts
 * import * as Control from "./Control.ts"
 *
 * console.log(Control.isMachineLimited({ median: 1.1 })) // true
 * ```
 *
 * @since 0.1.0
 * @category predicates
 */
export const isMachineLimited = (control: { readonly median: number } | undefined): boolean =>
  control !== undefined && control.median < MACHINE_LIMITED
