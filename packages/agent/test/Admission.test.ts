/**
 * `Admission` on `TestClock`: a request whose expected wait is past its bound is refused
 * at once (not after waiting in vain), `admits` says synchronously what `run` would do,
 * and the limit comes down on strained answers only — not on answers that are merely
 * slower than the fastest one seen.
 */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber } from "effect"
import { TestClock } from "effect/testing"
import * as Admission from "../src/serve/Admission.ts"

const tagOf = (exit: Exit.Exit<unknown, unknown>) =>
  Exit.isSuccess(exit) ? "ok" : (exit.cause.reasons.find((r) => r._tag === "Fail") as any)?.error?.error?.tag ?? "other"

describe("Admission", () => {
  it.effect("a request whose expected wait is past maxWaitMs is refused at once; one that fits waits and runs", () =>
    Effect.gen(function*() {
      const admission = yield* Admission.make({ maxInFlight: 1, maxQueued: 4 })
      // one answer of 1 s teaches the mean answer time
      const first = yield* Effect.forkChild(admission.run(Effect.sleep("1 second")), { startImmediately: true })
      yield* TestClock.adjust("1 second")
      yield* Fiber.join(first)
      // a slot is busy for the next second
      const busy = yield* Effect.forkChild(admission.run(Effect.sleep("1 second")), { startImmediately: true })
      yield* Effect.yieldNow
      assert.isFalse(admission.admits(500))
      const refused = yield* Effect.exit(admission.run(Effect.succeed("late"), { maxWaitMs: 500 }))
      assert.strictEqual(tagOf(refused), "Overloaded") // at once: no time has passed
      assert.isTrue(admission.admits(2_000))
      const queued = yield* Effect.forkChild(admission.run(Effect.succeed("in time"), { maxWaitMs: 2_000 }), { startImmediately: true })
      yield* TestClock.adjust("1 second")
      yield* Fiber.join(busy)
      assert.strictEqual(yield* Fiber.join(queued), "in time")
    }))

  it.effect("admits is false past the queue and while draining, true again once a slot frees", () =>
    Effect.gen(function*() {
      const admission = yield* Admission.make({ maxInFlight: 2, maxQueued: 1 })
      const release = yield* Deferred.make<void>()
      assert.isTrue(admission.admits())
      const held = yield* Effect.forEach(
        [1, 2, 3],
        () => Effect.forkChild(admission.run(Deferred.await(release)), { startImmediately: true })
      )
      yield* Effect.yieldNow
      assert.deepStrictEqual(yield* admission.snapshot, { inFlight: 2, queued: 1, limit: 2, draining: false })
      assert.isFalse(admission.admits())
      assert.strictEqual(tagOf(yield* Effect.exit(admission.run(Effect.void))), "Overloaded")
      yield* Deferred.succeed(release, undefined)
      yield* Effect.forEach(held, Fiber.join)
      assert.isTrue(admission.admits())
      yield* admission.drain
      assert.isFalse(admission.admits())
      assert.strictEqual(tagOf(yield* Effect.exit(admission.run(Effect.void))), "Draining")
    }))

  it.effect("answers slower than the fastest seen leave the limit alone; strained ones bring it down", () =>
    Effect.gen(function*() {
      const admission = yield* Admission.make({ maxInFlight: 8, maxQueued: 8 })
      const answer = (ms: number, strained: boolean) =>
        Effect.forkChild(admission.run(Effect.as(Effect.sleep(ms), strained), { strained: (s) => s }), { startImmediately: true })
      // one fast answer, then many 10× slower: not an overload signal by themselves
      const fast = yield* answer(50, false)
      yield* TestClock.adjust("50 millis")
      yield* Fiber.join(fast)
      const slow = yield* Effect.forEach(Array.from({ length: 8 }), () => answer(500, false))
      yield* TestClock.adjust("500 millis")
      yield* Effect.forEach(slow, Fiber.join)
      assert.strictEqual((yield* admission.snapshot).limit, 8)
      // answers with a source cut by the deadline: the limit comes down
      const strained = yield* Effect.forEach(Array.from({ length: 8 }), () => answer(100, true))
      yield* TestClock.adjust("100 millis")
      const values = yield* Effect.forEach(strained, Fiber.join)
      assert.deepStrictEqual(values, Array(8).fill(true)) // a strained answer is still the answer
      assert.isBelow((yield* admission.snapshot).limit, 8)
    }))

  it.effect("peek reads the counts without running an Effect, and they come back down when a queued call is given up", () =>
    Effect.gen(function*() {
      const admission = yield* Admission.make({ maxInFlight: 1, maxQueued: 2 })
      const release = yield* Deferred.make<void>()
      const running = yield* Effect.forkChild(admission.run(Deferred.await(release)), { startImmediately: true })
      // a caller that gives up while queued (its client went away)
      const queued = yield* Effect.forkChild(admission.run(Effect.void), { startImmediately: true })
      yield* Effect.yieldNow
      assert.deepStrictEqual(admission.peek(), { inFlight: 1, queued: 1, limit: 1, draining: false })
      yield* Fiber.interrupt(queued)
      assert.deepStrictEqual(admission.peek(), { inFlight: 1, queued: 0, limit: 1, draining: false })
      // one that waited its maxWaitMs out
      const late = yield* Effect.forkChild(admission.run(Effect.void, { maxWaitMs: 100 }), { startImmediately: true })
      yield* Effect.yieldNow
      assert.strictEqual(admission.peek().queued, 1)
      yield* TestClock.adjust("100 millis")
      assert.strictEqual(tagOf(yield* Fiber.await(late)), "Overloaded")
      assert.deepStrictEqual(admission.peek(), { inFlight: 1, queued: 0, limit: 1, draining: false })
      yield* Deferred.succeed(release, undefined)
      yield* Fiber.join(running)
      assert.deepStrictEqual(admission.peek(), { inFlight: 0, queued: 0, limit: 1, draining: false })
      assert.isTrue(admission.admits())
    }))

  it.effect("with a budget: refused at once when the wait plus the likely answer time is past it; refused at the slot, not started, when the slot came too late", () =>
    Effect.gen(function*() {
      const admission = yield* Admission.make({ maxInFlight: 1, maxQueued: 4 })
      // answers of 1 s teach the times: mean 1 s, likely (mean + 2 deviations) 1.8 s after two
      for (let i = 0; i < 2; i++) {
        const taught = yield* Effect.forkChild(admission.run(Effect.sleep("1 second")), { startImmediately: true })
        yield* TestClock.adjust("1 second")
        yield* Fiber.join(taught)
      }
      const release = yield* Deferred.make<void>()
      const busy = yield* Effect.forkChild(admission.run(Deferred.await(release)), { startImmediately: true })
      yield* Effect.yieldNow
      // expected wait 1 s + likely 1.8 s = 2.8 s
      assert.isFalse(admission.admits(undefined, 2_500))
      assert.strictEqual(tagOf(yield* Effect.exit(admission.run(Effect.succeed("late"), { budgetMs: 2_500 }))), "Overloaded")
      assert.isTrue(admission.admits(undefined, 3_500))
      let ran = false
      const queued = yield* Effect.forkChild(
        admission.run(Effect.sync(() => (ran = true)), { budgetMs: 3_500 }),
        { startImmediately: true }
      )
      // the busy answer takes 3 s, not 1: at the slot 3 s are gone and 0.5 s left, less than the likely 1.8 s
      yield* TestClock.adjust("3 seconds")
      yield* Deferred.succeed(release, undefined)
      yield* Fiber.join(busy)
      assert.strictEqual(tagOf(yield* Fiber.await(queued)), "Overloaded")
      assert.isFalse(ran)
      assert.deepStrictEqual(admission.peek(), { inFlight: 0, queued: 0, limit: 1, draining: false })
    }))

  it.effect("with a budget: an answer slower than half of it brings the limit down, a quicker one does not", () =>
    Effect.gen(function*() {
      const admission = yield* Admission.make({ maxInFlight: 8, maxQueued: 8 })
      const answers = (ms: number) =>
        Effect.forEach(Array.from({ length: 8 }), () =>
          Effect.forkChild(admission.run(Effect.sleep(ms), { budgetMs: 2_000 }), { startImmediately: true }))
      const quick = yield* answers(900)
      yield* TestClock.adjust("900 millis")
      yield* Effect.forEach(quick, Fiber.join)
      assert.strictEqual((yield* admission.snapshot).limit, 8)
      const slow = yield* answers(1_100)
      yield* TestClock.adjust("1100 millis")
      yield* Effect.forEach(slow, Fiber.join) // a slow answer is still the answer
      assert.isBelow((yield* admission.snapshot).limit, 8)
    }))
})
