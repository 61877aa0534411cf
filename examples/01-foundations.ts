/**
 * Lesson 1 — foundations: an effect is a description of work, like a coroutine; running
 * five 1-second API calls one after another takes 5 s, running them concurrently ~1 s.
 *
 *   asyncio:  results = [await call(i) for i in range(5)]      # 5 s
 *             results = await asyncio.gather(*map(call, ...))  # 1 s
 *   Hybrid:   Effect.forEach(ids, call)                         // sequential
 *             Gather.all(ids.map(call))                         // concurrent
 *
 * Run: pnpm example 01 [--scale 0.05]
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Console, Duration, Effect } from "effect"
import { Gather } from "@hybrid/core"
import { ms, seconds } from "./scale.ts"

// A coroutine-like description: nothing runs until the effect is run.
const callApi = (id: number) => Effect.sleep(ms(1_000)).pipe(Effect.as({ id, data: `response ${id}` }))

const ids = [1, 2, 3, 4, 5]

const program = Effect.gen(function*() {
  const [sequentialTime, sequential] = yield* Effect.timed(Effect.forEach(ids, callApi))
  const [concurrentTime, concurrent] = yield* Effect.timed(Gather.all(ids.map(callApi)))
  yield* Console.log(`sequential: ${seconds(sequentialTime)} for ${sequential.length} calls`)
  yield* Console.log(`concurrent: ${seconds(concurrentTime)} for ${concurrent.length} calls (Gather.all)`)
  const ratio = Duration.toMillis(sequentialTime) / Duration.toMillis(concurrentTime)
  yield* Console.log(`speedup: ${ratio.toFixed(2)}× measured — the seed claims 5× (5 s → 1 s)`)
})

NodeRuntime.runMain(program)
