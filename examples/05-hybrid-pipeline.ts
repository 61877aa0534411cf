/**
 * Lesson 5 — hybrid workloads: fetch (I/O) → analyse (CPU, on worker threads) → store (I/O).
 * Gathering every fetch before computing anything leaves the cores idle while the network
 * works, then the network idle while the cores work. A pipeline overlaps the two: while
 * document N is fetched, N−1 is analysed and N−2 stored.
 *
 *   asyncio                                          Hybrid
 *   asyncio.Queue(maxsize) between worker tasks      Pipeline.from(items).stage(…).stage(…)
 *   asyncio.Semaphore(4)                             Limit.concurrency(4)
 *   a requests-per-second limiter (aiolimiter)       Limit.rate({ limit: 16, window: "1 second" })
 *   loop.run_in_executor(pool, f)                    Runner.run(Task, payload) on NodeRunner
 *
 * The CPU step is sized on this machine, on the worker pool itself, so that the analyses
 * keep pace with the rate-limited fetches: the balanced case, where overlapping pays most
 * (and a VM that does not deliver every core still gets a balanced workload).
 *
 * Run: pnpm example 05 [--scale 0.05]   (--scale shrinks the waits and the CPU work)
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Clock, Console, Duration, Effect } from "effect"
import os from "node:os"
import { Gather, Limit, NodeRunner, Pipeline, Runner } from "@hybrid/core"
import { ms, scale, seconds } from "./scale.ts"
import { CountPrimes, countPrimes, Tasks } from "./workers/primes.ts"

const DOCUMENTS = 48
const CONCURRENCY = 4 // the API serves 4 requests at a time…
const PER_SECOND = 16 // …and 16 per second
const cores = os.availableParallelism()
const ids = Array.from({ length: DOCUMENTS }, (_, i) => i)

/** The n for which countPrimes(n) takes about `millis` on this thread (the work grows as ~n^1.5). */
const sizeFor = (millis: number): number => {
  for (let n = 20_000; ; n *= 2) {
    const t0 = performance.now()
    countPrimes(n)
    const took = performance.now() - t0
    if (took > 20) return Math.max(1_000, Math.round(n * (millis / took) ** (2 / 3)))
  }
}

/** The n for which the pool analyses one document every `millis`, measured on the pool (workers started). */
const balance = (millis: number) =>
  Effect.gen(function*() {
    const guess = sizeFor(millis * cores) // as if every core were delivered
    const batch = Array.from({ length: cores * 4 }, () => ({ n: guess }))
    yield* Runner.forEach(CountPrimes, batch) // start the workers
    let fastest = Number.POSITIVE_INFINITY // the least disturbed of three timings
    for (let i = 0; i < 3; i++) {
      const [took] = yield* Effect.timed(Runner.forEach(CountPrimes, batch))
      fastest = Math.min(fastest, Duration.toMillis(took))
    }
    return Math.round(guess * (millis / (fastest / batch.length)) ** (2 / 3))
  })

/** Counts what the limits let through: the most fetches in flight, and the most started in one window. */
const watch = () => {
  let inFlight = 0
  let peak = 0
  const starts: Array<number> = []
  const track = <A, E, R>(self: Effect.Effect<A, E, R>) =>
    Effect.acquireUseRelease(
      Effect.map(Clock.currentTimeMillis, (now) => { // the rate limiter's clock
        peak = Math.max(peak, ++inFlight)
        starts.push(now)
      }),
      () => self,
      () => Effect.sync(() => inFlight--)
    )
  // starts are read a moment after the limiter grants them, to the millisecond: allow one
  const perWindow = (window: number) => Math.max(...starts.map((t) => starts.filter((s) => s >= t && s < t + window - 1).length))
  return { track, peak: () => peak, perWindow }
}

/** A fresh API client per run, so one run's rate-limit window does not slow the next. */
const client = (n: number) =>
  Effect.gen(function*() {
    const atOnce = yield* Limit.concurrency(CONCURRENCY)
    const perSecond = yield* Limit.rate({ limit: PER_SECOND, window: ms(1_000) })
    const watched = watch()
    // a slot first, then a token: the token is taken right when the request starts
    const fetchDoc = (id: number) => Effect.sleep(ms(200)).pipe(Effect.as({ id, n }), watched.track, perSecond, atOnce)
    return { fetchDoc, watched }
  })
const analyse = (doc: { id: number; n: number }) =>
  Runner.run(CountPrimes, { n: doc.n }).pipe(Effect.map((primes) => ({ id: doc.id, primes })))
const store = (result: { id: number; primes: number }) => Effect.sleep(ms(50)).pipe(Effect.as(result.id))

const program = Effect.gen(function*() {
  const n = yield* balance(Duration.toMillis(ms(1_000)) / PER_SECOND)
  const t0 = performance.now()
  countPrimes(n)
  yield* Console.log(
    `${DOCUMENTS} documents: fetch 200 ms (the API: ${CONCURRENCY} at a time, ${PER_SECOND} per second) → ` +
      `analyse ${(performance.now() - t0).toFixed(0)} ms of CPU (NodeRunner, ${cores} workers) → store 50 ms  [scale ${scale}]`
  )

  const gathered = yield* client(n)
  const [gatherTime] = yield* Effect.timed(Effect.gen(function*() {
    const docs = yield* Gather.all(ids.map(gathered.fetchDoc)) // every fetch…
    const results = yield* Gather.all(docs.map(analyse)) //        …then every analysis…
    yield* Gather.all(results.map(store)) //                       …then every store
  }))
  yield* Console.log(`gather, then process: ${seconds(gatherTime)}`)

  const piped = yield* client(n)
  const [pipelineTime, report] = yield* Effect.timed(
    Pipeline.from(ids)
      .stage("fetch", piped.fetchDoc, { concurrency: CONCURRENCY })
      .stage("analyse", analyse, { concurrency: cores * 2 }) // one queued per worker: no idle gap between tasks
      .stage("store", store, { concurrency: CONCURRENCY })
      .run()
  )
  const busy = report.stages.map((s) => `${s.name} ${(s.utilization * 100).toFixed(0)}%`).join(", ")
  yield* Console.log(`Pipeline:             ${seconds(pipelineTime)} (${report.ok}/${report.inputs} ok; busy: ${busy}; bottleneck: ${report.bottleneck})`)

  yield* Console.log(
    `limits held: at most ${piped.watched.peak()} fetches in flight, at most ${piped.watched.perWindow(Duration.toMillis(ms(1_000)))} ` +
      `started in any ${seconds(ms(1_000))}`
  )
  const faster = 1 - Duration.toMillis(pipelineTime) / Duration.toMillis(gatherTime)
  yield* Console.log(`Pipeline is ${(faster * 100).toFixed(0)}% faster than gather-then-process — the seed claims 40%+ for hybrid I/O + CPU`)
}).pipe(
  Effect.provide(NodeRunner.layer(Tasks, { worker: new URL("./workers/primes.worker.ts", import.meta.url), size: cores }))
)

NodeRuntime.runMain(program)
