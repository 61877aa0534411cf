/**
 * Scaling out — the same `Runner.forEach` as lesson 4, on two runner processes.
 *
 * `pnpm example cluster` starts three processes on this machine: two runners (each a
 * `ClusterRunner.serve` with its own one-worker pool) and this caller, which provides
 * `ClusterRunner.layer` where lesson 4 provided `NodeRunner.layer`. The calling code does
 * not change. Runners and caller find each other through PostgreSQL (shard ownership,
 * membership), and calls travel runner-to-runner over sockets.
 *
 *   Ray                                   Hybrid
 *   ray.init(address=...)                 ClusterRunner.layer(Tasks, { database })
 *   @ray.remote def f(...)                Task.make(...) + ClusterRunner.serve(Tasks, { worker })
 *   ray.get([f.remote(x) for x in xs])    Runner.forEach(Task, xs)
 *
 * Needs PostgreSQL: HYBRID_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test).
 * Run: pnpm example cluster [--scale 0.05]
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Runner } from "@hybrid/core"
import { ClusterRunner } from "@hybrid/cluster"
import { type ChildProcess, spawn } from "node:child_process"
import * as net from "node:net"
import { fileURLToPath } from "node:url"
import { Console, Duration, Effect } from "effect"
import { scale, seconds } from "../scale.ts"
import { countPrimes, CountPrimes, Tasks } from "../workers/primes.ts"
import { database, prefix } from "./settings.ts"

const jobs = Array.from({ length: 8 }, () => ({ n: Math.max(10_000, Math.round(1_500_000 * scale)) }))

const reachable = (url: string) =>
  new Promise<boolean>((resolve) => {
    const { hostname, port } = new URL(url)
    const socket = net.connect({ host: hostname, port: Number(port || 5432) })
    socket.setTimeout(2_000)
    socket.once("connect", () => (socket.destroy(), resolve(true)))
    socket.once("timeout", () => (socket.destroy(), resolve(false)))
    socket.once("error", () => resolve(false))
  })

/** Starts a runner process and resolves once it serves. */
const startRunner = (name: string, port: number) =>
  Effect.acquireRelease(
    Effect.callback<ChildProcess>((resume) => {
      const child = spawn(process.execPath, [fileURLToPath(new URL("./runner.ts", import.meta.url)), name, String(port)], {
        stdio: ["ignore", "pipe", "inherit"]
      })
      child.stdout!.on("data", (chunk: Buffer) => {
        process.stdout.write(chunk)
        if (chunk.toString().includes("serving")) resume(Effect.succeed(child))
      })
      child.once("exit", (code) => resume(Effect.die(new Error(`${name} exited with ${code} before serving`))))
    }),
    (child) => Effect.sync(() => child.kill("SIGTERM"))
  )

const program = Effect.gen(function*() {
  if (!(yield* Effect.promise(() => reachable(database)))) {
    yield* Console.error(`the cluster example needs PostgreSQL: none answers at ${new URL(database).host}; set HYBRID_DATABASE_URL`)
    return yield* Effect.fail("no database")
  }
  const [sequential] = yield* Effect.timed(Effect.sync(() => jobs.map((job) => countPrimes(job.n))))
  yield* Console.log(`sequential, this process:          ${seconds(sequential)}`)
  yield* Effect.all([startRunner("runner-1", 34461), startRunner("runner-2", 34462)], { concurrency: 2 })
  const cluster = ClusterRunner.layer(Tasks, { database, prefix })
  // the first call waits until the runners own their shards; measure the work after it
  yield* Runner.run(CountPrimes, { n: 10 }).pipe(Effect.provide(cluster))
  const [parallel] = yield* Effect.timed(Runner.forEach(CountPrimes, jobs).pipe(Effect.provide(cluster)))
  yield* Console.log(`ClusterRunner, 2 runner processes: ${seconds(parallel)}`)
  yield* Console.log(
    `speedup ${(Duration.toMillis(sequential) / Duration.toMillis(parallel)).toFixed(2)}× — the same Runner.forEach as lesson 4`
  )
}).pipe(Effect.scoped)

NodeRuntime.runMain(program)
