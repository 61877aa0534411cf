import { assert, describe, it } from "@effect/vitest"
import { Cause, Clock, Duration, Effect, Exit, Layer, Logger, Option, Schema } from "effect"
import { CircuitBreaker } from "effect/persistence"
import { TestClock } from "effect/testing"
import { Deadline, InvalidOption, Limit, Retry } from "@hybrid/core"
import { runs, runVirtual } from "./support.ts"

class Flaky extends Schema.TaggedError<Flaky>()("Flaky", {
  n: Schema.Number,
  retryAfter: Schema.optional(Schema.Duration)
}) {}

const Jitter = Schema.Literals(["full", "equal", "decorrelated", "none"])
const Settings = Schema.Struct({
  times: Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 6 })),
  base: Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 200 })),
  factor: Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 3 })),
  cap: Schema.Int.check(Schema.isBetween({ minimum: 200, maximum: 2_000 })),
  jitter: Jitter
})

/** Fails every time, recording when each attempt started. */
const alwaysFailing = (starts: Array<number>, retryAfter?: number) =>
  Effect.gen(function*() {
    starts.push(yield* Clock.currentTimeMillis)
    return yield* new Flaky({ n: starts.length, retryAfter: retryAfter === undefined ? undefined : Duration.millis(retryAfter) })
  })

describe("Retry", () => {
  it.effect.prop("makes at most times + 1 attempts and reports how it gave up", [Settings], ([s]) =>
    Effect.gen(function*() {
      const starts: Array<number> = []
      const exit = yield* runVirtual(alwaysFailing(starts).pipe(Retry.retry(Retry.policy(s))))
      assert.strictEqual(starts.length, s.times + 1)
      assert.isTrue(Exit.isFailure(exit))
      if (Exit.isFailure(exit)) {
        const error = exit.cause.reasons.find(Cause.isFailReason)?.error
        assert.strictEqual(error?._tag, "Flaky") // the last error, unchanged
        assert.strictEqual(error?.n, s.times + 1)
        const report = Option.getOrThrow(Retry.report(exit.cause))
        assert.strictEqual(report.attempts, s.times + 1)
        assert.strictEqual(report.reason, "exhausted")
      }
    }), runs)

  it.effect.prop("delays follow the jitter's bounds and never exceed cap", [Settings], ([s]) =>
    Effect.gen(function*() {
      const starts: Array<number> = []
      yield* runVirtual(alwaysFailing(starts).pipe(Retry.retry(Retry.policy(s))))
      let previous = s.base
      for (let n = 1; n < starts.length; n++) {
        const delay = starts[n]! - starts[n - 1]!
        const exp = Math.min(s.cap, s.base * s.factor ** (n - 1))
        assert.isAtMost(delay, s.cap)
        const [low, high] = s.jitter === "none"
          ? [exp, exp]
          : s.jitter === "full"
          ? [0, exp]
          : s.jitter === "equal"
          ? [exp / 2, exp]
          : [s.base, Math.min(s.cap, Math.max(s.base, previous * 3))]
        assert.isAtLeast(delay, Math.floor(low))
        assert.isAtMost(delay, Math.ceil(high))
        previous = delay
      }
    }), runs)

  it.effect.prop(
    "waits at least an error's retryAfter, spread by the jitter",
    [Settings, Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 5_000 }))],
    ([s, after]) =>
      Effect.gen(function*() {
        const starts: Array<number> = []
        yield* runVirtual(alwaysFailing(starts, after).pipe(Retry.retry(Retry.policy(s))))
        for (let n = 1; n < starts.length; n++) {
          const delay = starts[n]! - starts[n - 1]!
          assert.isAtLeast(delay, after)
          // the server's wait plus the jittered backoff, so refused callers spread out
          assert.isAtMost(delay, after + s.cap)
        }
      }),
    runs
  )

  it.effect.prop(
    "starts no retry that would end past the deadline",
    [
      Settings,
      Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 100 })),
      Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 3_000 }))
    ],
    ([s, attemptMs, budgetMs]) =>
      Effect.gen(function*() {
        const ends: Array<number> = []
        const starts: Array<number> = []
        const attempt = Effect.gen(function*() {
          starts.push(yield* Clock.currentTimeMillis)
          yield* Effect.sleep(attemptMs)
          ends.push(yield* Clock.currentTimeMillis)
          return yield* new Flaky({ n: starts.length })
        })
        const exit = yield* runVirtual(attempt.pipe(Retry.retry(Retry.policy(s)), Deadline.within(budgetMs)))
        const error = Exit.isFailure(exit) ? exit.cause.reasons.find(Cause.isFailReason)?.error : undefined
        if (attemptMs > budgetMs) {
          assert.strictEqual(error?._tag, "DeadlineExceeded") // the first attempt itself did not fit
        } else {
          assert.strictEqual(error?._tag, "Flaky") // gave up in time, with the last error
          assert.strictEqual(ends.length, starts.length) // every attempt started also finished
          for (const end of ends) assert.isAtMost(end, budgetMs)
        }
      }),
    runs
  )

  it.effect("a retry budget refuses retries past its ratio, failing with the original error", () =>
    Effect.gen(function*() {
      const budget = yield* Retry.budget({ ratio: 0.2, minPerSecond: 0 })
      const policy = Retry.policy({ times: 3, base: 10, jitter: "none" })
      const starts: Array<number> = []
      const exits = yield* runVirtual(Effect.forEach(
        Array.from({ length: 10 }, () => alwaysFailing(starts).pipe(Retry.retry(policy, { budget }), Effect.exit)),
        (e) => e,
        { concurrency: "unbounded" }
      ))
      // 10 first attempts earn 2 retries in all (ratio 0.2), not 30
      assert.strictEqual(starts.length, 10 + 2)
      const all = Exit.isSuccess(exits) ? exits.value : []
      const reasons = all.map((e) => Exit.isFailure(e) ? Option.getOrThrow(Retry.report(e.cause)).reason : "success")
      assert.strictEqual(reasons.filter((r) => r === "budget").length, 10)
      assert.strictEqual(yield* budget.available, 0)
    }))

  it.effect("a retry budget counts the last window only: old attempts stop earning retries, the floor stays", () =>
    Effect.gen(function*() {
      // window 1 s in buckets of 100 ms; ratio 0.5 and a floor of 2 per second
      const budget = yield* Retry.budget({ ratio: 0.5, minPerSecond: 2, window: "1 second" })
      assert.strictEqual(yield* budget.available, 2) // the floor alone
      for (let i = 0; i < 6; i++) yield* budget.deposit
      assert.strictEqual(yield* budget.available, 5) // floor(0.5 × 6 + 2)
      assert.isTrue(yield* budget.withdraw)
      assert.strictEqual(yield* budget.available, 4)
      yield* TestClock.adjust("900 millis") // still inside the window (10th bucket)
      assert.strictEqual(yield* budget.available, 4)
      yield* TestClock.adjust("100 millis") // the first bucket leaves: its attempts and its retry with it
      assert.strictEqual(yield* budget.available, 2)
      // the floor is a budget too: it runs out within a window and comes back after it
      assert.isTrue(yield* budget.withdraw)
      assert.isTrue(yield* budget.withdraw)
      assert.isFalse(yield* budget.withdraw)
      yield* TestClock.adjust("1 second")
      assert.strictEqual(yield* budget.available, 2)
    }))

  it.effect("a shared budget store: two budgets with one key count together; a failing store refuses retries, warning once", () =>
    Effect.gen(function*() {
      // one store instance shared by key, as Redis would be (two ledgers over one set of counts)
      const counts = yield* Retry.memoryBudgetStore.ledger({ key: "k", ratio: 1, minPerSecond: 0, windowMillis: 10_000 })
      const store: Retry.BudgetStore = { name: "shared", ledger: () => Effect.succeed(counts) }
      const a = yield* Retry.budget({ ratio: 1, minPerSecond: 0, key: "k", store })
      const b = yield* Retry.budget({ ratio: 1, minPerSecond: 0, key: "k" }).pipe(
        Effect.provide(Layer.succeed(Retry.SharedBudgetStore, store))
      )
      yield* a.deposit
      assert.isTrue(yield* b.withdraw) // A's attempt earned B's retry
      assert.isFalse(yield* a.withdraw)

      const failure = new Limit.LimitStoreError({ store: "broken", operation: "budget withdraw", key: "k", reason: "down" })
      const broken: Retry.BudgetStore = {
        name: "broken",
        ledger: () => Effect.succeed({ deposit: Effect.fail(failure), withdraw: Effect.fail(failure), available: Effect.fail(failure) })
      }
      const warnings: Array<string> = []
      const logger = Logger.make((o) => {
        if (o.logLevel === "Warn") warnings.push(String(o.message))
      })
      const c = yield* Retry.budget({ ratio: 1, minPerSecond: 100, key: "k", store: broken })
      const starts: Array<number> = []
      const exit = yield* runVirtual(alwaysFailing(starts).pipe(Retry.retry(Retry.policy({ times: 3 }), { budget: c })))
        .pipe(Effect.provide(Logger.layer([logger])))
      assert.strictEqual(starts.length, 1) // fail closed: no retry
      assert.strictEqual(Exit.isFailure(exit) && Option.getOrThrow(Retry.report(exit.cause)).reason, "budget")
      assert.isTrue(Number.isNaN(yield* c.available))
      assert.strictEqual(warnings.length, 1)
      assert.include(warnings[0], "refusing retries")
    }))

  it.effect("retries only what `while` allows; DeadlineExceeded is never retried by default", () =>
    Effect.gen(function*() {
      const starts: Array<number> = []
      const policy = Retry.policy<Flaky>({ times: 5, while: (e) => e.n < 3 })
      const exit = yield* runVirtual(alwaysFailing(starts).pipe(Retry.retry(policy)))
      assert.strictEqual(starts.length, 3)
      assert.strictEqual(Exit.isFailure(exit) && Option.getOrThrow(Retry.report(exit.cause)).reason, "not-retryable")
      let calls = 0
      const pastItsDeadline = Effect.suspend(() => { calls++; return Effect.never }).pipe(Deadline.within(10))
      yield* runVirtual(pastItsDeadline.pipe(Retry.retry(Retry.policy({ times: 5, base: 1 }))))
      assert.strictEqual(calls, 1)
    }))

  it.effect("succeeds as soon as an attempt succeeds", () =>
    Effect.gen(function*() {
      let n = 0
      const flaky = Effect.suspend(() => ++n < 3 ? Effect.fail(new Flaky({ n })) : Effect.succeed(`ok after ${n}`))
      const exit = yield* runVirtual(flaky.pipe(Retry.retry(Retry.policy({ times: 5 }))))
      assert.deepStrictEqual(exit, Exit.succeed("ok after 3"))
    }))

  it.effect("the policy is a Schedule: Effect.retry uses it directly", () =>
    Effect.gen(function*() {
      const starts: Array<number> = []
      yield* runVirtual(alwaysFailing(starts).pipe(Effect.retry(Retry.policy({ times: 2, base: 100, jitter: "none" }))))
      assert.deepStrictEqual(starts, [0, 100, 300])
    }))

  it.effect("composes with effect/persistence CircuitBreaker and Deadline", () =>
    Effect.gen(function*() {
      const breaker = yield* CircuitBreaker.CircuitBreaker
      let calls = 0
      const down = Effect.suspend(() => { calls++; return Effect.fail(new Flaky({ n: calls })) })
      // breaker inside the retry: an open circuit fails fast with CircuitBreakerError, whose
      // reason carries retryAfter, so Retry waits for the circuit instead of hammering it
      const call = down.pipe(
        breaker.execute({ key: "news" }),
        Retry.retry(Retry.policy({ times: 10, base: 10, jitter: "none" })),
        Deadline.within("3 seconds")
      )
      const exit = yield* runVirtual(call, 5_000)
      // 3 failures open the circuit; then one half-open probe per second (t ≈ 1 s, 2 s)…
      assert.strictEqual(calls, 3 + 2)
      const error = Exit.isFailure(exit) ? exit.cause.reasons.find(Cause.isFailReason)?.error : undefined
      // …and the next wait (to t ≈ 3 s) would end past the deadline: not started
      assert.strictEqual(error?._tag, "CircuitBreakerError")
      assert.strictEqual(Exit.isFailure(exit) && Option.getOrThrow(Retry.report(exit.cause)).reason, "deadline")
    }).pipe(
      Effect.provide(
        CircuitBreaker.layer({ tripPolicy: CircuitBreaker.consecutive(3), openDuration: "1 second" }).pipe(
          Layer.provide(CircuitBreaker.layerStoreMemory())
        )
      )
    ))

  it("rejects bad options when built, naming the option and the value", () => {
    const cases: Array<[Retry.PolicyOptions, string]> = [
      [{ times: -1 }, "times"],
      [{ times: 1.5 }, "times"],
      [{ base: Number.NaN }, "base"],
      [{ factor: 0.5 }, "factor"],
      [{ cap: -1 }, "cap"],
      [{ jitter: "bogus" as never }, "jitter"],
      [{ base: 1000, cap: 10 }, "base"]
    ]
    for (const [opts, option] of cases) {
      try {
        Retry.policy(opts)
        assert.fail(`expected InvalidOption for ${option}`)
      } catch (e) {
        assert.instanceOf(e, InvalidOption)
        assert.strictEqual((e as InvalidOption).option, option)
      }
    }
    assert.throws(() => Retry.budget({ ratio: 1.5, minPerSecond: 1 }), InvalidOption)
  })
})

// keep TestClock referenced for readers: every test above runs in virtual time
void TestClock
