/**
 * `NodeRunner`'s worker file for the `cpu` scenario: the same kernels as every peer.
 *
 * @since 0.1.0
 */
import { serve } from "@hybrid/core/worker"
import { countPrimes, inc } from "../kernels.ts"
import { CpuTasks } from "./cpu-tasks.ts"

serve(CpuTasks, { CountPrimes: ({ n }) => countPrimes(n), Inc: inc })
