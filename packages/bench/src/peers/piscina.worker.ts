/**
 * piscina's worker file for the `cpu` scenario: the same kernels as `NodeRunner`, as named exports.
 *
 * @since 0.1.0
 */
import { countPrimes, inc as incKernel } from "../kernels.ts"

/** @since 0.1.0 */
export const primes = (n: number): number => countPrimes(n)

/** @since 0.1.0 */
export const inc = (n: number): number => incKernel(n)

/** @since 0.1.0 */
export default inc
