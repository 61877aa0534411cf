/**
 * `cpu`: lesson 4 — CPU-bound work gets faster with parallelism, not concurrency.
 *
 * Measured side by side in one run (rounds interleaved, medians reported):
 * - speed-up: 8 tasks of a real CPU kernel (counting primes, calibrated to ~250 ms each;
 *   ~80 ms when quick), sequential on the main thread vs `NodeRunner` (size = cores) vs
 *   piscina 5 vs a raw `node:worker_threads` control (one `postMessage` per task, no
 *   library): the control shows what the machine really delivers — small VMs often give
 *   two threads one core's worth of CPU;
 * - tiny-task throughput: 20,000 calls returning `n + 1`, all submitted at once, in
 *   tasks/second for `NodeRunner` (default: one call running per worker, short calls sent
 *   ahead to wait in a busy worker, several per message; with `sendAhead: 0`, nothing sent
 *   ahead — one message per call; and with `concurrencyPerWorker: 8`), piscina 5,
 *   tinypool 2 and the raw control;
 * - start-up: from building the pool to the first result.
 *
 * Before measuring, every pool runs the same 5,000 tiny calls, so that the rounds measure
 * compiled code, not the JIT's warm-up.
 *
 * Figures: `speedup` (NodeRunner vs sequential), `throughputRatioVsPiscina` (default
 * NodeRunner), `startupMs`, plus the other variants' and the peers' figures.
 *
 * Run: `pnpm bench cpu [--quick]`.
 *
 * @since 0.1.0
 */
import { Effect, Exit, Layer, Scope } from "effect"
import { NodeRunner, Runner } from "@hybrid/core"
import os from "node:os"
import { Piscina } from "piscina"
import Tinypool from "tinypool"
import { calibrate, countPrimes } from "../kernels.ts"
import { CountPrimes, CpuTasks, Inc } from "../peers/cpu-tasks.ts"
import { makeRawPool } from "../peers/raw.ts"
import type { Row, Scenario, ScenarioReport } from "../Scenario.ts"

const TASKS = 8
/** Tiny calls each pool runs before anything is measured. */
const WARM_CALLS = 5_000

const median = (xs: ReadonlyArray<number>): number => {
  const s = [...xs].sort((a, b) => a - b)
  const mid = Math.floor(s.length / 2)
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2
}
const round = (x: number, digits = 2) => Number(x.toFixed(digits))

const timed = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const t0 = performance.now()
    yield* effect
    return performance.now() - t0
  })

const timedPromise = (f: () => Promise<unknown>) => timed(Effect.promise(f))

const run = Effect.fn("cpu.run")(function*(options: { readonly quick: boolean }) {
  const cores = os.availableParallelism()
  const rounds = options.quick ? 2 : 4
  const tinyCalls = options.quick ? 5_000 : 20_000
  const targetMs = options.quick ? 80 : 250
  const n = calibrate(targetMs)
  const worker = new URL("../peers/cpu-runner.worker.ts", import.meta.url)
  const piscinaFile = new URL("../peers/piscina.worker.ts", import.meta.url).href

  // start-up: build the pool, first result
  const scope = yield* Scope.make()
  const t0 = performance.now()
  const context = yield* Layer.buildWithScope(NodeRunner.layer(CpuTasks, { worker, size: cores }), scope)
  const runner = context.mapUnsafe.get(Runner.Runner.key) as Runner.RunnerShape
  yield* runner.run(Inc, 1)
  const startupMs = performance.now() - t0

  // the same pool with nothing sent ahead: a worker gets its next call when it has answered
  const oneByOneContext = yield* Layer.buildWithScope(
    NodeRunner.layer(CpuTasks, { worker, size: cores, sendAhead: 0 }),
    scope
  )
  const oneByOne = oneByOneContext.mapUnsafe.get(Runner.Runner.key) as Runner.RunnerShape

  // the same pool running 8 calls at once per worker
  const pipelinedContext = yield* Layer.buildWithScope(
    NodeRunner.layer(CpuTasks, { worker, size: cores, concurrencyPerWorker: 8 }),
    scope
  )
  const pipelined = pipelinedContext.mapUnsafe.get(Runner.Runner.key) as Runner.RunnerShape

  const piscina = new Piscina({ filename: piscinaFile, minThreads: cores, maxThreads: cores })
  const tinypool = new Tinypool({ filename: piscinaFile, minThreads: cores, maxThreads: cores })
  const raw = yield* Effect.promise(() => makeRawPool(cores))
  yield* Effect.addFinalizer(() =>
    Effect.promise(() => Promise.all([piscina.destroy(), tinypool.destroy(), raw.close()])).pipe(
      Effect.andThen(Scope.close(scope, Exit.void))
    )
  )
  // warm every pool up: threads started, and the per-call code of every pool (and of its
  // workers) run often enough for the JIT to compile it — a handful of calls starts the
  // threads but measures interpreted code in the first rounds
  const warmCalls = Array.from({ length: WARM_CALLS }, (_, i) => i)
  yield* Effect.promise(() => Promise.all(warmCalls.map((i) => piscina.run(i, { name: "inc" }))))
  yield* Effect.promise(() => Promise.all(warmCalls.map((i) => tinypool.run(i, { name: "inc" }))))
  yield* Effect.promise(() => Promise.all(warmCalls.map((i) => raw.run("inc", i))))
  for (const r of [runner, oneByOne, pipelined]) {
    yield* Effect.forEach(warmCalls, (i) => r.run(Inc, i), { concurrency: "unbounded", discard: true })
  }

  // speed-up
  const cpu = { sequential: [] as Array<number>, runner: [] as Array<number>, piscina: [] as Array<number>, raw: [] as Array<number> }
  const payloads = Array.from({ length: TASKS }, () => ({ n }))
  for (let r = 0; r < rounds; r++) {
    cpu.sequential.push(yield* timed(Effect.sync(() => payloads.forEach((p) => countPrimes(p.n)))))
    cpu.runner.push(yield* timed(Effect.forEach(payloads, (p) => runner.run(CountPrimes, p), { concurrency: "unbounded" })))
    cpu.piscina.push(yield* timedPromise(() => Promise.all(payloads.map((p) => piscina.run(p.n, { name: "primes" })))))
    cpu.raw.push(yield* timedPromise(() => Promise.all(payloads.map((p) => raw.run("primes", p.n)))))
  }

  // tiny-task throughput
  const inputs = Array.from({ length: tinyCalls }, (_, i) => i)
  const tiny = {
    runner: [] as Array<number>,
    oneByOne: [] as Array<number>,
    pipelined: [] as Array<number>,
    piscina: [] as Array<number>,
    tinypool: [] as Array<number>,
    raw: [] as Array<number>
  }
  for (let r = 0; r < rounds; r++) {
    tiny.runner.push(yield* timed(Effect.forEach(inputs, (i) => runner.run(Inc, i), { concurrency: "unbounded", discard: true })))
    tiny.oneByOne.push(
      yield* timed(Effect.forEach(inputs, (i) => oneByOne.run(Inc, i), { concurrency: "unbounded", discard: true }))
    )
    tiny.pipelined.push(
      yield* timed(Effect.forEach(inputs, (i) => pipelined.run(Inc, i), { concurrency: "unbounded", discard: true }))
    )
    tiny.piscina.push(yield* timedPromise(() => Promise.all(inputs.map((i) => piscina.run(i, { name: "inc" })))))
    tiny.tinypool.push(yield* timedPromise(() => Promise.all(inputs.map((i) => tinypool.run(i, { name: "inc" })))))
    tiny.raw.push(yield* timedPromise(() => Promise.all(inputs.map((i) => raw.run("inc", i)))))
  }

  const seq = median(cpu.sequential)
  const speedOf = (xs: ReadonlyArray<number>) => seq / median(xs)
  const rate = (xs: ReadonlyArray<number>) => tinyCalls / (median(xs) / 1000)
  const figures = {
    speedup: round(speedOf(cpu.runner)),
    speedupTarget: round(0.9 * cores),
    piscinaSpeedup: round(speedOf(cpu.piscina)),
    rawWorkerThreadsSpeedup: round(speedOf(cpu.raw)),
    throughputRatioVsPiscina: round(rate(tiny.runner) / rate(tiny.piscina)),
    throughputRatioVsPiscinaNoSendAhead: round(rate(tiny.oneByOne) / rate(tiny.piscina)),
    throughputRatioVsPiscinaPipelined: round(rate(tiny.pipelined) / rate(tiny.piscina)),
    runnerTasksPerSecond: Math.round(rate(tiny.runner)),
    runnerNoSendAheadTasksPerSecond: Math.round(rate(tiny.oneByOne)),
    runnerPipelinedTasksPerSecond: Math.round(rate(tiny.pipelined)),
    piscinaTasksPerSecond: Math.round(rate(tiny.piscina)),
    tinypoolTasksPerSecond: Math.round(rate(tiny.tinypool)),
    rawTasksPerSecond: Math.round(rate(tiny.raw)),
    startupMs: Math.round(startupMs),
    cores,
    taskMs: Math.round(seq / TASKS)
  }
  const rows: Array<Row> = [
    { variant: "sequential (main thread)", [`${TASKS} tasks ms`]: Math.round(seq), speedup: 1 },
    { variant: `NodeRunner (${cores} workers)`, [`${TASKS} tasks ms`]: Math.round(median(cpu.runner)), speedup: figures.speedup, "tiny tasks/s": figures.runnerTasksPerSecond },
    { variant: `NodeRunner, sendAhead 0 (one call per message)`, "tiny tasks/s": figures.runnerNoSendAheadTasksPerSecond },
    { variant: `NodeRunner, concurrencyPerWorker 8`, "tiny tasks/s": figures.runnerPipelinedTasksPerSecond },
    { variant: `piscina 5 (${cores} threads)`, [`${TASKS} tasks ms`]: Math.round(median(cpu.piscina)), speedup: figures.piscinaSpeedup, "tiny tasks/s": figures.piscinaTasksPerSecond },
    { variant: `tinypool 2 (${cores} threads)`, "tiny tasks/s": figures.tinypoolTasksPerSecond },
    { variant: `raw worker_threads (${cores}, control)`, [`${TASKS} tasks ms`]: Math.round(median(cpu.raw)), speedup: figures.rawWorkerThreadsSpeedup, "tiny tasks/s": figures.rawTasksPerSecond }
  ]
  const notes = [
    `kernel: countPrimes(${n}) ≈ ${figures.taskMs} ms on the main thread; ${rounds} interleaved rounds, medians`,
    `speed-up target ≥ 0.9 × cores = ${figures.speedupTarget}; the raw worker_threads control reached ×${figures.rawWorkerThreadsSpeedup}` +
      (figures.rawWorkerThreadsSpeedup < 0.9 * cores ? " — this machine did not deliver its cores in parallel, read the ratios against it" : ""),
    `tiny tasks: ${tinyCalls} calls of n + 1 submitted at once; NodeRunner / piscina = ${figures.throughputRatioVsPiscina} (target ≥ 1.0), ` +
      `${figures.throughputRatioVsPiscinaNoSendAhead} with sendAhead 0, ${figures.throughputRatioVsPiscinaPipelined} with concurrencyPerWorker 8`,
    `start-up to first result: ${figures.startupMs} ms for ${cores} workers`
  ]
  const report: ScenarioReport = { scenario: "cpu", figures, rows, notes }
  return report
}, Effect.scoped)

/**
 * @since 0.1.0
 * @category scenarios
 */
export const cpu: Scenario = {
  name: "cpu",
  description: "CPU parallelism: NodeRunner vs sequential, piscina, tinypool and raw worker_threads",
  run
}

if (import.meta.main) {
  const quick = process.argv.includes("--quick")
  const report = await Effect.runPromise(run({ quick }))
  console.log(JSON.stringify(report, null, 2))
}
