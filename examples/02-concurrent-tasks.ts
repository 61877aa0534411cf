/**
 * Lesson 2 — concurrent tasks: create_task, gather, as_completed and TaskGroup.
 *
 *   asyncio                                  Hybrid
 *   task = asyncio.create_task(coro)         fiber = yield* Effect.forkChild(effect)
 *   await task                               yield* Fiber.join(fiber)
 *   await asyncio.gather(*coros)             yield* Gather.all(effects)
 *   gather(..., return_exceptions=True)      yield* Gather.settle(effects)
 *   for f in asyncio.as_completed(coros)     Gather.asCompleted(effects)  (a Stream)
 *   async with asyncio.TaskGroup() as tg     TaskGroup.run((group) => …)
 *
 * Run: pnpm example 02 [--scale 0.05]
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Cause, Console, Effect, Exit, Fiber, Stream } from "effect"
import { Gather, TaskGroup } from "@hybrid/core"
import { ms, seconds } from "./scale.ts"

const fetchSource = (name: string, latency: number, fails = false) =>
  Effect.sleep(ms(latency)).pipe(
    Effect.andThen(fails ? Effect.fail(`${name} unavailable`) : Effect.succeed(`${name}: ok`)),
    Effect.onInterrupt(() => Console.log(`  ${name} cancelled`))
  )

const program = Effect.gen(function*() {
  yield* Console.log("1. fork a task, keep working, then join it")
  const fiber = yield* Effect.forkChild(fetchSource("weather", 300))
  yield* Console.log("  (main fiber keeps going while weather loads)")
  yield* Console.log(`  joined: ${yield* Fiber.join(fiber)}`)

  yield* Console.log("2. Gather.all: results in input order, concurrently")
  const [took, all] = yield* Effect.timed(Gather.all([fetchSource("news", 500), fetchSource("kb", 200), fetchSource("weather", 300)]))
  yield* Console.log(`  ${all.join(" | ")} in ${seconds(took)} (sequential would be ${seconds(ms(1_000))})`)

  yield* Console.log("3. Gather.settle: every outcome, failures included (return_exceptions=True)")
  const exits = yield* Gather.settle([fetchSource("news", 100), fetchSource("kb", 50, true)])
  yield* Console.log(`  ${exits.map((e) => Exit.isSuccess(e) ? e.value : `failed: ${Cause.squash(e.cause)}`).join(" | ")}`)

  yield* Console.log("4. Gather.asCompleted: handle each result as soon as it arrives")
  yield* Gather.asCompleted([fetchSource("slow", 300), fetchSource("fast", 100), fetchSource("medium", 200)]).pipe(
    Stream.runForEach(({ index, exit }) => Console.log(`  input #${index} done: ${Exit.isSuccess(exit) ? exit.value : "failed"}`))
  )

  yield* Console.log("5. TaskGroup: the first failure cancels the rest; every failure is reported")
  const group = yield* Effect.exit(TaskGroup.run<string, string>((g) =>
    Effect.gen(function*() {
      yield* g.spawn(fetchSource("weather", 1_000))
      yield* g.spawn(fetchSource("news", 100, true))
      yield* g.spawn(fetchSource("kb", 100, true))
      return "all fetched"
    })
  ))
  if (Exit.isFailure(group)) {
    const error = group.cause.reasons.find(Cause.isFailReason)?.error
    yield* Console.log(`  group failed with ${error?._tag}: [${error?.failures.join(", ")}]`)
  }
})

NodeRuntime.runMain(program)
