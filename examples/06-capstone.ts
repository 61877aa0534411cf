/**
 * Lesson 6 — the capstone: an AI agent that answers a question from three services
 * (weather, news, a knowledge base), processes each response on the CPU, and asks an LLM
 * to synthesise — everything of lessons 1–5 in one call, `Agent.answer`.
 *
 *   asyncio (the seed's capstone)                        Hybrid (inside Agent.answer)
 *   async with asyncio.timeout(budget):                  Agent.answer(query, { budget }) → one Deadline
 *   async with TaskGroup() as tg: tg.create_task(…)      Gather.settle(sources.map(fetchThenProcess))
 *   per-API timeout, retries, circuit breaker            Source: Deadline.timeout + Retry + CircuitBreaker
 *   await loop.run_in_executor(InterpreterPool…, f)      Runner.run(ProjectPart, …) on NodeRunner workers
 *   partial results on failure                           Answer.sources[i].status, Answer.degraded
 *
 * Sequential: weather → process → news → process → knowledge base → process → LLM,
 * each step waiting for the last. Hybrid: the three fetches at once, each response
 * processed on the worker threads as soon as it arrives (split over every core), the LLM
 * last. Both run against the fixture servers (real HTTP on 127.0.0.1, simulated
 * latencies), each on its own fixtures and workers, so they see the same latencies.
 *
 * Run: pnpm example 06 [--scale 0.05]   (--scale shrinks the latencies and the CPU work)
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Console, Duration, Effect } from "effect"
import os from "node:os"
import { Agent, Fixtures } from "@hybrid/agent"
import { scale, seconds } from "./scale.ts"

const query = Agent.sampleQueries[0]!
const budget = Duration.millis(60_000 * scale) // generous: it bounds the run, never cuts a healthy source

/** One answer in `mode`, on a fresh agent over fresh fixtures (scaled like everything else). */
const answer = (mode: Agent.Mode) =>
  Effect.timed(Agent.answer(query, { budget, mode })).pipe(Effect.provide(Fixtures.layerAgent({ scale })))

const stages = (a: Agent.Answer) =>
  a.sources.map((s) => {
    const fetch = a.timings.fetch[s.name] ?? 0
    const process = a.timings.process[s.name] ?? 0
    return `${s.name} ${s.status} ${seconds(Duration.millis(fetch))} + ${seconds(Duration.millis(process))}`
  }).join(", ") + `, LLM ${seconds(Duration.millis(a.timings.llm))}`

const program = Effect.gen(function*() {
  yield* Console.log(`"${query}"  [scale ${scale}, ${os.availableParallelism()} cores]`)

  const [sequentialTime, sequential] = yield* answer("sequential")
  yield* Console.log(`sequential: ${seconds(sequentialTime)}  (fetch + process: ${stages(sequential)})`)

  const [hybridTime, hybrid] = yield* answer("hybrid")
  yield* Console.log(`hybrid:     ${seconds(hybridTime)}  (fetch + process: ${stages(hybrid)})`)
  yield* Console.log(
    `            critical-path bound ${seconds(Duration.millis(hybrid.timings.bound))}: no schedule on these cores could answer sooner`
  )
  yield* Console.log(`answer (${hybrid.synthesis}): ${hybrid.text.slice(0, 160)}…`)

  const ratio = Duration.toMillis(sequentialTime) / Duration.toMillis(hybridTime)
  yield* Console.log(
    `speedup: ${ratio.toFixed(2)}× measured (${seconds(sequentialTime)} → ${seconds(hybridTime)}) — ` +
      `the seed claims 2.5× (12.5 s → 5 s${scale === 1 ? "" : `, ${seconds(Duration.millis(12_500 * scale))} → ${seconds(Duration.millis(5_000 * scale))} at this scale`})`
  )
})

NodeRuntime.runMain(program)
