/**
 * Lesson 4 — CPU parallelism: concurrency does not make CPU work faster, parallelism does.
 * Eight prime counts run one after another, then "concurrently" on one thread (no gain:
 * the event loop runs one at a time), then on a pool of worker threads (gain ≈ cores).
 *
 *   asyncio                                             Hybrid
 *   loop.run_in_executor(InterpreterPoolExecutor(), f)  Runner.run(Task, payload)
 *   asyncio.to_thread(f)                                 (same, on NodeRunner.layer)
 *   with InterpreterPoolExecutor(max_workers=4)          NodeRunner.layer(Tasks, { worker, size: 4 })
 *
 * Run: pnpm example 04 [--scale 0.05]   (--scale shrinks the CPU work too)
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Console, Duration, Effect } from "effect"
import os from "node:os"
import { Gather, NodeRunner, Runner } from "@hybrid/core"
import { scale, seconds } from "./scale.ts"
import { CountPrimes, countPrimes, Tasks } from "./workers/primes.ts"

const jobs = Array.from({ length: 8 }, () => ({ n: Math.max(10_000, Math.round(1_500_000 * scale)) }))
const cores = os.availableParallelism()

const program = Effect.gen(function*() {
  const inProcess = (job: { n: number }) => Effect.sync(() => countPrimes(job.n))
  const [sequential] = yield* Effect.timed(Effect.forEach(jobs, inProcess))
  yield* Console.log(`sequential, one thread:            ${seconds(sequential)}`)
  const [concurrent] = yield* Effect.timed(Gather.all(jobs.map(inProcess)))
  yield* Console.log(`Gather.all, one thread:            ${seconds(concurrent)} (no gain: CPU work does not overlap)`)
  const [parallel] = yield* Effect.timed(Runner.forEach(CountPrimes, jobs))
  const speedup = Duration.toMillis(sequential) / Duration.toMillis(parallel)
  yield* Console.log(`NodeRunner, ${cores} worker threads:       ${seconds(parallel)}`)
  yield* Console.log(
    `speedup ${speedup.toFixed(2)}× on ${cores} cores — the seed claims 3–4× on 4 cores (gain ≈ cores)`
  )
}).pipe(
  Effect.provide(NodeRunner.layer(Tasks, { worker: new URL("./workers/primes.worker.ts", import.meta.url), size: cores }))
)

NodeRuntime.runMain(program)
