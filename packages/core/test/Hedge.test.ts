import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Schema } from "effect"
import { Hedge, InvalidOption } from "@hybrid/core"
import { Jobs, runs, runVirtual } from "./support.ts"

const Delay = Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 500 }))
const Max = Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 4 }))

describe("Hedge", () => {
  it.effect.prop(
    "at most 1 + max attempts, exactly one result, losers interrupted",
    [Jobs, Delay, Max],
    ([jobs, delay, max]) =>
      Effect.gen(function*() {
        let started = 0
        let completed = 0
        let interrupted = 0
        // attempt k behaves like jobs[k % jobs.length]
        const attempt = Effect.suspend(() => {
          const job = jobs[started++ % jobs.length]!
          return Effect.sleep(job.ms).pipe(
            Effect.andThen(Effect.sync(() => completed++)),
            Effect.andThen(job.fail ? Effect.fail(`attempt failed`) : Effect.succeed(job.ms)),
            Effect.onInterrupt(() => Effect.sync(() => interrupted++))
          )
        })
        const exit = yield* runVirtual(attempt.pipe(Hedge.after(delay, { max })))
        assert.isAtMost(started, 1 + max)
        assert.isAtLeast(started, 1)
        if (Exit.isSuccess(exit)) {
          // the winner completed; every other started attempt either failed first or was interrupted
          assert.strictEqual(completed + interrupted, started)
        } else {
          // fails only when every attempt it started failed
          assert.strictEqual(completed, started)
          assert.strictEqual(started, 1 + max)
        }
      }),
    runs
  )

  it.effect("a backup starts after the delay and the faster answer wins", () =>
    Effect.gen(function*() {
      let n = 0
      const attempt = Effect.suspend(() => n++ === 0 ? Effect.sleep(1_000).pipe(Effect.as("slow")) : Effect.sleep(50).pipe(Effect.as("backup")))
      const exit = yield* runVirtual(attempt.pipe(Hedge.after(100), Effect.timed))
      assert.isTrue(Exit.isSuccess(exit))
      if (Exit.isSuccess(exit)) {
        assert.strictEqual(exit.value[1], "backup")
      }
      assert.strictEqual(n, 2)
    }))

  it.effect("no backup when the first attempt answers in time", () =>
    Effect.gen(function*() {
      let n = 0
      const attempt = Effect.suspend(() => { n++; return Effect.sleep(50).pipe(Effect.as("first")) })
      const exit = yield* runVirtual(attempt.pipe(Hedge.after(100, { max: 3 })))
      assert.deepStrictEqual(exit, Exit.succeed("first"))
      assert.strictEqual(n, 1)
    }))

  it("rejects bad options when built", () => {
    assert.throws(() => Hedge.after(Number.NaN), InvalidOption)
    assert.throws(() => Hedge.after(10, { max: -1 }), InvalidOption)
  })
})
