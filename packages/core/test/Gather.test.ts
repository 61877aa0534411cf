import { assert, describe, it } from "@effect/vitest"
import { Clock, Effect, Exit, Fiber, Ref, Stream } from "effect"
import { TestClock } from "effect/testing"
import { Gather, InvalidOption } from "@hybrid/core"
import { Jobs, Millis, runs, runVirtual } from "./support.ts"
import { Schema } from "effect"

const Durations = Schema.Array(Millis).check(Schema.isBetweenLength(1, 16))

describe("Gather", () => {
  it.effect.prop("all keeps input order for any permutation of completion times", [Durations], ([durations]) =>
    Effect.gen(function*() {
      const exit = yield* runVirtual(Gather.all(durations.map((ms, i) => Effect.sleep(ms).pipe(Effect.as(i)))))
      assert.deepStrictEqual(exit, Exit.succeed(durations.map((_, i) => i)))
    }), runs)

  it.effect.prop("all runs concurrently: wall time is the longest task", [Durations], ([durations]) =>
    Effect.gen(function*() {
      const fiber = yield* Effect.forkChild(Gather.all(durations.map((ms) => Effect.sleep(ms))), { startImmediately: true })
      const longest = Math.max(...durations)
      if (longest > 0) {
        yield* TestClock.adjust(longest - 1)
        assert.isUndefined(fiber.pollUnsafe())
      }
      yield* TestClock.adjust(1)
      assert.isTrue(Exit.isSuccess(yield* Fiber.await(fiber)))
    }), runs)

  it.effect.prop("all fails with the first failure and interrupts the others", [Jobs], ([jobs]) =>
    Effect.gen(function*() {
      const finished = yield* Ref.make<Array<number>>([])
      const effects = jobs.map((job, i) =>
        Effect.sleep(job.ms).pipe(
          Effect.andThen(job.fail ? Effect.fail(i) : Ref.update(finished, (xs) => [...xs, i]))
        )
      )
      const exit = yield* runVirtual(Gather.all(effects))
      const failing = jobs.map((job, i) => ({ ...job, i })).filter((j) => j.fail)
      if (failing.length === 0) return assert.isTrue(Exit.isSuccess(exit))
      const firstFailAt = Math.min(...failing.map((j) => j.ms))
      assert.isTrue(Exit.isFailure(exit))
      const error = Exit.isFailure(exit) ? exit.cause.reasons.find((r) => r._tag === "Fail") : undefined
      assert.ok(error && error._tag === "Fail" && jobs[error.error as number]!.ms === firstFailAt)
      // nothing that would have finished after the first failure did
      for (const i of yield* Ref.get(finished)) assert.isAtMost(jobs[i]!.ms, firstFailAt)
    }), runs)

  it.effect.prop("settle returns exactly one exit per input, in input order", [Jobs], ([jobs]) =>
    Effect.gen(function*() {
      const effects = jobs.map((job, i) => Effect.sleep(job.ms).pipe(Effect.andThen(job.fail ? Effect.fail(i) : Effect.succeed(i))))
      const exit = yield* runVirtual(Gather.settle(effects))
      assert.isTrue(Exit.isSuccess(exit))
      const exits = Exit.isSuccess(exit) ? exit.value : []
      assert.strictEqual(exits.length, jobs.length)
      exits.forEach((e, i) => assert.deepStrictEqual(e, jobs[i]!.fail ? Exit.fail(i) : Exit.succeed(i)))
    }), runs)

  it.effect.prop("asCompleted emits each index once, in non-decreasing completion time", [Jobs], ([jobs]) =>
    Effect.gen(function*() {
      const effects = jobs.map((job, i) => Effect.sleep(job.ms).pipe(Effect.andThen(job.fail ? Effect.fail(i) : Effect.succeed(i))))
      const stamped = Gather.asCompleted(effects).pipe(
        Stream.mapEffect((c) => Effect.map(Clock.currentTimeMillis, (at) => ({ ...c, at }))),
        Stream.runCollect
      )
      const exit = yield* runVirtual(stamped)
      const out = Exit.isSuccess(exit) ? exit.value : []
      assert.deepStrictEqual(out.map((c) => c.index).sort((a, b) => a - b), jobs.map((_, i) => i))
      for (let k = 1; k < out.length; k++) assert.isAtLeast(out[k]!.at, out[k - 1]!.at)
      for (const c of out) assert.strictEqual(c.at, jobs[c.index]!.ms)
    }), runs)

  it.effect.prop("first: the earliest success wins, losers never complete", [Jobs], ([jobs]) =>
    Effect.gen(function*() {
      const completedAt = yield* Ref.make<Array<number>>([])
      const effects = jobs.map((job, i) =>
        Effect.sleep(job.ms).pipe(
          Effect.andThen(Ref.update(completedAt, (xs) => [...xs, job.ms])),
          Effect.andThen(job.fail ? Effect.fail(i) : Effect.succeed(i))
        )
      )
      const exit = yield* runVirtual(Gather.first(effects))
      const successes = jobs.filter((job) => !job.fail)
      if (successes.length === 0) {
        assert.deepStrictEqual(exit, Exit.fail(new Gather.AllFailed({ errors: jobs.map((_, i) => i) })))
        return
      }
      const best = Math.min(...successes.map((job) => job.ms))
      assert.isTrue(Exit.isSuccess(exit))
      const winner = Exit.isSuccess(exit) ? exit.value : -1
      assert.strictEqual(jobs[winner]!.ms, best)
      // losers were interrupted: nothing due after the winner ran to completion
      for (const at of yield* Ref.get(completedAt)) assert.isAtMost(at, best)
    }), runs)

  it.effect("concurrency bounds how many run at once", () =>
    Effect.gen(function*() {
      let running = 0
      let peak = 0
      const task = Effect.gen(function*() {
        running++
        peak = Math.max(peak, running)
        yield* Effect.sleep(10)
        running--
      })
      yield* runVirtual(Gather.all(Array.from({ length: 10 }, () => task), { concurrency: 3 }))
      assert.strictEqual(peak, 3)
    }))

  it("rejects a bad concurrency when built, naming the option and the value", () => {
    for (const bad of [0, -1, 1.5, Number.NaN]) {
      try {
        Gather.settle([], { concurrency: bad })
        assert.fail("expected InvalidOption")
      } catch (e) {
        assert.instanceOf(e, InvalidOption)
        assert.strictEqual((e as InvalidOption).option, "concurrency")
        assert.include((e as InvalidOption).message, String(bad))
      }
    }
  })
})
