/**
 * `NodeRunner`'s worker file for the `cpu` scenario: the same kernels as every peer.
 *
 * @since 0.1.0
 */
import { NodeRunner } from "@hybrid/core"
import { countPrimes, inc } from "../kernels.ts"
import { CpuTasks } from "./cpu-tasks.ts"

NodeRunner.serve(CpuTasks, { CountPrimes: ({ n }) => countPrimes(n), Inc: inc })
