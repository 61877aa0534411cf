/**
 * `NodeRunner`'s worker file for the `cpu` scenario: the same kernels as every peer.
 *
 * @since 0.1.0
 */
import { serve } from "@hybrid/core/worker"
import { countPrimes, inc } from "../kernels.ts"
import { CpuTasks } from "./cpu-tasks.ts"

// the body runs once every import has been evaluated (absolute ms: compared with the pool's start)
const loadedAt = performance.timeOrigin + performance.now()

serve(CpuTasks, { CountPrimes: ({ n }) => countPrimes(n), Inc: inc, LoadedAt: () => loadedAt })
