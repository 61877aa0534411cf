/**
 * The worker file of the `cluster` scenario's pools (the runner processes' and the local
 * control's): `Inc` and `Wait`. `Wait` answers with the runner's name, passed in
 * `HYBRID_BENCH_RUNNER` (worker threads inherit the process environment).
 *
 * @since 0.1.0
 */
import { NodeRunner } from "@hybrid/core"
import { Effect } from "effect"
import { ClusterTasks } from "./cluster-tasks.ts"

const name = process.env.HYBRID_BENCH_RUNNER ?? "local"

NodeRunner.serve(ClusterTasks, {
  Inc: (n) => n + 1,
  Wait: ({ ms }) => Effect.as(Effect.sleep(ms), name)
})
