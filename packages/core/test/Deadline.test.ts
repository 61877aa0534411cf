import { assert, describe, it } from "@effect/vitest"
import { Cause, Clock, Duration, Effect, Exit, Fiber, Option } from "effect"
import { TestClock } from "effect/testing"
import { Deadline, Gather, InvalidOption, TaskGroup } from "@hybrid/core"
import { Millis, PositiveMillis, runs, runVirtual } from "./support.ts"

const errorOf = <A, E>(exit: Exit.Exit<A, E>): E | undefined =>
  Exit.isFailure(exit) ? exit.cause.reasons.find(Cause.isFailReason)?.error : undefined

describe("Deadline", () => {
  it.effect("interrupts past the deadline with DeadlineExceeded", () =>
    Effect.gen(function*() {
      let interrupted = false
      const fiber = yield* Effect.forkChild(
        Effect.never.pipe(Effect.onInterrupt(() => Effect.sync(() => { interrupted = true })), Deadline.within("1 second")),
        { startImmediately: true }
      )
      yield* TestClock.adjust("1 second")
      const error = errorOf(yield* Fiber.await(fiber))
      assert.deepStrictEqual(error, new Deadline.DeadlineExceeded({ deadline: 1000, elapsed: 1000 }))
      assert.isTrue(interrupted)
    }))

  it.effect("an effect that finishes in time is untouched", () =>
    Effect.gen(function*() {
      const exit = yield* runVirtual(Effect.sleep(500).pipe(Effect.as("ok"), Deadline.within("1 second")))
      assert.deepStrictEqual(exit, Exit.succeed("ok"))
    }))

  it.effect.prop("nested within takes the minimum", [PositiveMillis, PositiveMillis], ([outer, inner]) =>
    Effect.gen(function*() {
      const start = yield* Clock.currentTimeMillis
      const seen = yield* Deadline.current.pipe(Deadline.within(inner), Deadline.within(outer))
      assert.deepStrictEqual(seen, Option.some(start + Math.min(inner, outer)))
    }), runs)

  it.effect.prop("a child never runs past its parent's deadline", [Millis, Millis, Millis], ([parent, childWants, work]) =>
    Effect.gen(function*() {
      let endedAt: number | undefined
      const child = Effect.sleep(work).pipe(
        Effect.andThen(Clock.currentTimeMillis),
        Effect.tap((now) => Effect.sync(() => { endedAt = now })),
        Deadline.within(childWants)
      )
      const start = yield* Clock.currentTimeMillis
      const exit = yield* runVirtual(
        Gather.settle([child, child]).pipe(Deadline.within(parent)),
        parent + childWants + work + 10
      )
      if (endedAt !== undefined) assert.isAtMost(endedAt - start, parent)
      const finishes = work < Math.min(parent, childWants)
      if (finishes) assert.isTrue(Exit.isSuccess(exit) && exit.value.every(Exit.isSuccess))
    }), runs)

  it.effect("forked fibers and TaskGroup children inherit the deadline", () =>
    Effect.gen(function*() {
      const remaining: Array<number> = []
      const read = Deadline.remaining.pipe(
        Effect.flatMap(Effect.fromOption),
        Effect.orDie,
        Effect.tap((d) => Effect.sync(() => remaining.push(Duration.toMillis(d))))
      )
      yield* runVirtual(
        Effect.gen(function*() {
          yield* Effect.sleep(200)
          const fiber = yield* Effect.forkChild(read)
          yield* Fiber.join(fiber)
          yield* TaskGroup.run((group) => group.spawn(read))
        }).pipe(Deadline.within("1 second"))
      )
      assert.deepStrictEqual(remaining, [800, 800])
    }))

  it.effect("remaining is none without a deadline", () =>
    Effect.gen(function*() {
      assert.isTrue(Option.isNone(yield* Deadline.remaining))
    }))

  it.effect("timeout: its own duration fires first with TimeoutExceeded", () =>
    Effect.gen(function*() {
      const exit = yield* runVirtual(Effect.never.pipe(Deadline.timeout("100 millis"), Deadline.within("1 second")))
      assert.deepStrictEqual(errorOf(exit), new Deadline.TimeoutExceeded({ timeout: 100, elapsed: 100 }))
    }))

  it.effect("timeout is capped by the remaining deadline", () =>
    Effect.gen(function*() {
      const exit = yield* runVirtual(
        Effect.sleep(700).pipe(Effect.andThen(Effect.never.pipe(Deadline.timeout("1 second"))), Deadline.within("1 second"))
      )
      const error = errorOf(exit)
      assert.strictEqual(error?._tag === "DeadlineExceeded" && error.deadline, 1000)
    }))

  it.effect("a deadline already past fails without running the effect", () =>
    Effect.gen(function*() {
      let ran = false
      const exit = yield* runVirtual(
        Effect.sleep(200).pipe(
          Effect.andThen(Effect.sync(() => { ran = true }).pipe(Deadline.within("1 second"))),
          Deadline.at(100)
        )
      )
      assert.strictEqual(errorOf(exit)?._tag, "DeadlineExceeded")
      assert.isFalse(ran)
    }))

  it("rejects NaN and negative durations when built", () => {
    for (const bad of [Number.NaN, -5]) {
      assert.throws(() => Deadline.within(bad), InvalidOption)
      assert.throws(() => Deadline.timeout(bad), InvalidOption)
    }
  })
})
