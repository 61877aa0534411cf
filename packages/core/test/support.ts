/**
 * Test helpers shared by the core tests: virtual-time runs and the arbitraries the
 * properties draw from.
 */
import { Effect, Fiber, Schema } from "effect"
import { TestClock } from "effect/testing"

/** Runs `effect` in a child fiber, moves the TestClock by `span`, and returns its Exit. */
export const runVirtual = <A, E>(effect: Effect.Effect<A, E>, span: number = 3_600_000) =>
  Effect.gen(function*() {
    const fiber = yield* Effect.forkChild(effect, { startImmediately: true })
    yield* TestClock.adjust(span)
    return yield* Fiber.await(fiber)
  })

/** Milliseconds, small enough for quick virtual-time runs. */
export const Millis = Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 1_000 }))

/** A task of the properties: how long it takes and whether it fails at the end. */
export const Job = Schema.Struct({ ms: Millis, fail: Schema.Boolean })
export type Job = typeof Job.Type

/** 1 to 12 jobs. */
export const Jobs = Schema.Array(Job).check(Schema.isBetweenLength(1, 12))

/** 200 runs per property, as the project requires. */
export const runs = { arbitrary: { runs: 200 } } as const

/** Positive milliseconds. */
export const PositiveMillis = Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 1_000 }))
