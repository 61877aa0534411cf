/**
 * A runner process of the `cluster` scenario:
 * `node cluster-runner.ts <name> <port> <prefix> <persisted all|none>`. Serves the
 * scenario's tasks on a one-worker `NodeRunner` running up to 8 calls at once (so a
 * runner's capacity is bounded, and more runners means more capacity), prints
 * `ready <name>` once it serves.
 *
 * @since 0.1.0
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { ClusterRunner } from "@hybrid/cluster"
import { Effect, Layer } from "effect"
import { ClusterTasks } from "./cluster-tasks.ts"

const [name = "runner", port = "34431", prefix = "hybrid_bench", persisted = "none"] = process.argv.slice(2)
process.env.HYBRID_BENCH_RUNNER = name

const served = ClusterRunner.serve(ClusterTasks, {
  database: process.env.HYBRID_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test",
  prefix,
  port: Number(port),
  persisted: persisted === "all" ? "all" : "none",
  worker: new URL("./cluster.worker.ts", import.meta.url),
  size: 1,
  concurrencyPerWorker: 8
})

Layer.launch(served.pipe(Layer.tap(() => Effect.sync(() => process.stdout.write(`ready ${name}\n`))))).pipe(
  NodeRuntime.runMain
)
