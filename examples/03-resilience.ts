/**
 * Lesson 3 — resilience: timeouts and deadlines, retries with backoff and Retry-After,
 * a circuit breaker, and partial failure that degrades instead of crashing.
 *
 *   asyncio                                   Hybrid
 *   async with asyncio.timeout(2):            effect.pipe(Deadline.within("2 seconds"))
 *   for attempt in range(n): ... sleep(2**n)  effect.pipe(Retry.retry(Retry.policy({ times: n })))
 *   a CircuitBreaker class                    effect/persistence CircuitBreaker (Effect's own)
 *   gather(..., return_exceptions=True)       Gather.settle
 *
 * Run: pnpm example 03 [--scale 0.05]
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Cause, Console, Duration, Effect, Exit, Layer, Option, Schema } from "effect"
import { CircuitBreaker } from "effect/persistence"
import { Deadline, Gather, Retry } from "@hybrid/core"
import { ms, seconds } from "./scale.ts"

class ServiceError extends Schema.TaggedError<ServiceError>()("ServiceError", {
  status: Schema.Number,
  retryAfter: Schema.optional(Schema.Duration)
}) {}

/** A flaky service: answers with the given statuses in turn, then 200. */
const flaky = (statuses: ReadonlyArray<number>) => {
  let call = 0
  return Effect.suspend(() => {
    const status = statuses[call++] ?? 200
    return Effect.sleep(ms(100)).pipe(Effect.andThen(
      status === 200
        ? Effect.succeed(`200 after ${call} call(s)`)
        : Effect.fail(new ServiceError({ status, retryAfter: status === 429 ? ms(500) : undefined }))
    ))
  })
}

const policy = Retry.policy({ times: 4, base: ms(100), cap: ms(2_000), jitter: "full" })
const describe = <A>(exit: Exit.Exit<A, unknown>) =>
  Exit.isSuccess(exit) ? String(exit.value) : `failed: ${String(Cause.squash(exit.cause))}`

const program = Effect.gen(function*() {
  yield* Console.log(`1. a deadline: the whole call tree gets ${seconds(ms(1_000))}`)
  const slow = Effect.sleep(ms(3_000)).pipe(Effect.as("slow answer"))
  const [t1, e1] = yield* Effect.timed(Effect.exit(slow.pipe(Deadline.within(ms(1_000)))))
  yield* Console.log(`  ${describe(e1)} after ${seconds(t1)}`)

  yield* Console.log("2. retry with exponential backoff and full jitter: 503, 503, then 200")
  const [t2, e2] = yield* Effect.timed(Effect.exit(flaky([503, 503]).pipe(Retry.retry(policy))))
  yield* Console.log(`  ${describe(e2)} in ${seconds(t2)}`)

  yield* Console.log("3. a 429 with Retry-After (0.5 s): the retry waits at least that long")
  const [t3, e3] = yield* Effect.timed(Effect.exit(flaky([429]).pipe(Retry.retry(policy))))
  yield* Console.log(`  ${describe(e3)} in ${seconds(t3)} (≥ ${seconds(ms(600))}: 100 ms call + 500 ms wait)`)

  yield* Console.log("4. giving up: the last error, and a report of how")
  const e4 = yield* Effect.exit(flaky([500, 500, 500, 500, 500, 500]).pipe(Retry.retry(policy)))
  if (Exit.isFailure(e4)) {
    const report = Option.getOrThrow(Retry.report(e4.cause))
    yield* Console.log(`  ${describe(e4)} — ${report.attempts} attempts, gave up: ${report.reason}`)
  }

  yield* Console.log("5. a circuit breaker (effect/persistence): after 3 failures, calls fail fast")
  const breaker = yield* CircuitBreaker.CircuitBreaker
  const down = flaky([500, 500, 500, 500, 500, 500, 500, 500])
  for (let i = 1; i <= 5; i++) {
    const [took, exit] = yield* Effect.timed(Effect.exit(down.pipe(breaker.execute({ key: "news" }))))
    const open = Exit.isFailure(exit) && String(Cause.squash(exit.cause)).includes("CircuitBreaker")
    yield* Console.log(`  call ${i}: ${open ? "circuit open, rejected" : "called, failed"} in ${Math.round(Duration.toMillis(took))} ms`)
  }

  yield* Console.log("6. partial failure: gather what answers, degrade the rest")
  const sources = { weather: flaky([]), news: flaky([500, 500, 500, 500, 500, 500]), kb: slow }
  const exits = yield* Gather.settle(
    Object.values(sources).map((source) => source.pipe(Retry.retry(policy), Deadline.within(ms(1_500))))
  )
  Object.keys(sources).forEach((name, i) => console.log(`  ${name}: ${describe(exits[i]!)}`))
  yield* Console.log(`  answered with ${exits.filter(Exit.isSuccess).length} of ${exits.length} sources`)
}).pipe(
  Effect.provide(
    CircuitBreaker.layer({ tripPolicy: CircuitBreaker.consecutive(3), openDuration: ms(5_000) }).pipe(
      Layer.provide(CircuitBreaker.layerStoreMemory())
    )
  )
)

NodeRuntime.runMain(program)
