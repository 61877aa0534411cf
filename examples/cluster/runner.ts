/**
 * One runner process of the scaling-out example: `node runner.ts <name> <port>`.
 * Hosts the prime-counting task on a one-worker `NodeRunner` pool (two runners on a
 * two-core machine use both cores) and serves until stopped.
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { ClusterRunner } from "@hybrid/cluster"
import { Effect, Layer } from "effect"
import { Tasks } from "../workers/primes.ts"
import { database, prefix } from "./settings.ts"

const [name = "runner", port = "34431"] = process.argv.slice(2)

const served = ClusterRunner.serve(Tasks, {
  database,
  prefix,
  port: Number(port),
  worker: new URL("../workers/primes.worker.ts", import.meta.url),
  size: 1
})

Layer.launch(served.pipe(Layer.tap(() => Effect.sync(() => console.log(`[${name}] serving on 127.0.0.1:${port}`))))).pipe(
  NodeRuntime.runMain({ disableErrorReporting: false })
)
