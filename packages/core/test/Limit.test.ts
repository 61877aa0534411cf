import { assert, describe, it } from "@effect/vitest"
import { Cause, Clock, Duration, Effect, Exit, Fiber, Metric, Schema } from "effect"
import { TestClock } from "effect/testing"
import { Gather, InvalidOption, Limit, RedisLimit, Retry } from "@hybrid/core"
import { Millis, runs, runVirtual } from "./support.ts"

const Small = Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 6 }))
const Durations = Schema.Array(Millis).check(Schema.isBetweenLength(1, 24))

/** Runs every duration through `limit`, tracking the peak of concurrently running calls. */
const peakUnder = (limit: <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, unknown, R>, durations: ReadonlyArray<number>) =>
  Effect.gen(function*() {
    let running = 0
    let peak = 0
    const task = (ms: number) =>
      Effect.gen(function*() {
        running++
        peak = Math.max(peak, running)
        yield* Effect.sleep(ms)
        running--
      })
    const exits = yield* runVirtual(Gather.settle(durations.map((ms) => limit(task(ms)))))
    return { peak, exits: Exit.isSuccess(exits) ? exits.value : [] }
  })

describe("Limit", () => {
  it.effect.prop("concurrency: the number running never exceeds the limit", [Small, Durations], ([n, durations]) =>
    Effect.gen(function*() {
      const limit = yield* Limit.concurrency(n)
      const { exits, peak } = yield* peakUnder(limit, durations)
      assert.isAtMost(peak, n)
      if (durations.every((ms) => ms > 0)) assert.strictEqual(peak, Math.min(n, durations.length))
      assert.isTrue(exits.every(Exit.isSuccess))
      assert.strictEqual(yield* limit.running, 0)
    }), runs)

  it.effect.prop(
    "bulkhead rejects exactly what exceeds limit + queue",
    [Small, Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 6 })), Durations],
    ([limit, queue, durations]) =>
      Effect.gen(function*() {
        const bulkhead = yield* Limit.bulkhead({ limit, queue })
        // every call arrives at t = 0, so exactly limit + queue are admitted
        const { exits, peak } = yield* peakUnder(bulkhead, durations.map((ms) => ms + 1))
        const rejected = exits.filter((e) =>
          Exit.isFailure(e) && e.cause.reasons.some((r) => Cause.isFailReason(r) && (r.error as { _tag?: string })._tag === "BulkheadFull")
        )
        assert.strictEqual(rejected.length, Math.max(0, durations.length - limit - queue))
        assert.strictEqual(exits.length - rejected.length, Math.min(durations.length, limit + queue))
        assert.isAtMost(peak, limit)
      }),
    runs
  )

  it.effect.prop(
    "rate: in any window, consumed cost ≤ limit (sliding-window; ≤ 2 × limit for Effect's bursty algorithms)",
    [
      Small,
      Schema.Array(Schema.Struct({
        at: Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 3_000 })),
        cost: Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 6 }))
      })).check(Schema.isBetweenLength(1, 30)),
      Schema.Literals(["sliding-window", "fixed-window", "token-bucket"])
    ],
    ([limit, calls, algorithm]) =>
      Effect.gen(function*() {
        const window = 1_000
        const rate = yield* Limit.rate({ limit, window, algorithm })
        const started: Array<{ at: number; cost: number }> = []
        const fits = calls.filter((c) => c.cost <= limit)
        const call = (c: { at: number; cost: number }) =>
          Effect.sleep(c.at).pipe(
            Effect.andThen(Effect.flatMap(Clock.currentTimeMillis, (now) => Effect.sync(() => started.push({ at: now, cost: c.cost }))).pipe(rate.withCost(c.cost)))
          )
        yield* runVirtual(Gather.all(fits.map(call)), 10 * 3_600_000)
        assert.strictEqual(started.length, fits.length)
        // sliding-window is exact; Effect's algorithms bound the average and allow one burst
        const allowance = algorithm === "sliding-window" ? limit : 2 * limit
        for (const s of started) {
          const inWindow = started.filter((o) => o.at >= s.at && o.at < s.at + window).reduce((sum, o) => sum + o.cost, 0)
          assert.isAtMost(inWindow, allowance, `window from ${s.at}`)
        }
      }),
    runs
  )

  it.effect("rate: a call costing more than a window holds fails with CostExceedsLimit", () =>
    Effect.gen(function*() {
      const rate = yield* Limit.rate({ limit: 10, window: "1 minute" })
      const exit = yield* Effect.exit(Effect.void.pipe(rate.withCost(11)))
      assert.deepStrictEqual(exit, Exit.fail(new Limit.CostExceedsLimit({ cost: 11, limit: 10 })))
    }))

  it.effect("rate: reserve, then reconcile — a refund makes room at once; an overrun is charged", () =>
    Effect.gen(function*() {
      const tpm = yield* Limit.rate({ limit: 100, window: "1 minute" })
      const a = yield* tpm.reserve(80)
      yield* tpm.reconcile(a, 30) // refund 50
      assert.strictEqual(yield* tpm.inWindow, 30)
      const b = yield* tpm.reserve(60) // fits now: 30 + 60 ≤ 100
      yield* tpm.reconcile(b, 70) // overrun: charged 10 more
      assert.strictEqual(yield* tpm.inWindow, 100)
      const fiber = yield* Effect.forkChild(tpm.reserve(10), { startImmediately: true })
      yield* TestClock.adjust(59_000)
      assert.isUndefined(fiber.pollUnsafe())
      yield* TestClock.adjust(1_000)
      assert.isTrue(Exit.isSuccess(yield* Fiber.await(fiber)))
      const tooBig = yield* Effect.flip(tpm.reserve(101))
      assert.strictEqual(tooBig._tag, "CostExceedsLimit")
    }))

  it.effect.prop(
    "adaptive: the limit stays within [min, max], drops after an overload and recovers under success",
    [Schema.Array(Schema.Boolean).check(Schema.isBetweenLength(1, 40))],
    ([overloads]) =>
      Effect.gen(function*() {
        const adaptive = yield* Limit.adaptive({ initial: 4, min: 1, max: 8 })
        const overloaded = { _tag: "Http", status: 429 }
        for (const overload of overloads) {
          const before = yield* adaptive.limit
          // a batch that fills the current limit, so successes count as "limit in use"
          const width = Math.max(1, Math.floor(before))
          yield* runVirtual(Gather.settle(Array.from({ length: width }, () =>
            adaptive(Effect.sleep(10).pipe(Effect.andThen(overload ? Effect.fail(overloaded) : Effect.void)))
          )))
          const after = yield* adaptive.limit
          assert.isAtLeast(after, 1)
          assert.isAtMost(after, 8)
          if (overload) assert.isTrue(after < before || before === 1, `decrease: ${before} -> ${after}`)
          else assert.isTrue(after > before || before === 8, `increase: ${before} -> ${after}`)
        }
      }),
    runs
  )

  it.effect("adaptive: a success far slower than the fastest seen is an overload signal", () =>
    Effect.gen(function*() {
      const adaptive = yield* Limit.adaptive({ initial: 4, min: 1, max: 8, latencyTolerance: 2 })
      yield* runVirtual(adaptive(Effect.sleep(10)))
      const before = yield* adaptive.limit
      yield* runVirtual(adaptive(Effect.sleep(100)))
      assert.isBelow(yield* adaptive.limit, before)
    }))

  it.effect("adaptive: other failures leave the limit alone", () =>
    Effect.gen(function*() {
      const adaptive = yield* Limit.adaptive({ initial: 4, min: 1, max: 8 })
      yield* runVirtual(adaptive(Effect.fail({ _tag: "NotFound", status: 404 })).pipe(Effect.exit))
      assert.strictEqual(yield* adaptive.limit, 4)
    }))

  it.effect("waiting callers are counted and interruption while waiting releases the count", () =>
    Effect.gen(function*() {
      const limit = yield* Limit.concurrency(1)
      const holder = yield* Effect.forkChild(limit(Effect.sleep(100)), { startImmediately: true })
      const waiter = yield* Effect.forkChild(limit(Effect.void), { startImmediately: true })
      assert.strictEqual(yield* limit.waiting, 1)
      yield* Fiber.interrupt(waiter)
      assert.strictEqual(yield* limit.waiting, 0)
      yield* TestClock.adjust(100)
      yield* Fiber.join(holder)
      assert.strictEqual(yield* limit.running, 0)
    }))

  it("rejects bad options when built, naming the option and the value", () => {
    const expectInvalid = (f: () => unknown, option: string) => {
      try {
        f()
        assert.fail(`expected InvalidOption for ${option}`)
      } catch (e) {
        assert.instanceOf(e, InvalidOption)
        assert.strictEqual((e as InvalidOption).option, option)
      }
    }
    expectInvalid(() => Limit.concurrency(0), "n")
    expectInvalid(() => Limit.concurrency(2.5), "n")
    expectInvalid(() => Limit.bulkhead({ limit: 1, queue: -1 }), "queue")
    expectInvalid(() => Limit.rate({ limit: 10, window: Number.NaN }), "window")
    expectInvalid(() => Limit.rate({ limit: 10, window: 1000, cost: 11 }), "cost")
    expectInvalid(() => Limit.adaptive({ initial: 2, min: 5, max: 3 }), "min")
    expectInvalid(() => Limit.adaptive({ initial: 9, min: 1, max: 3 }), "initial")
    expectInvalid(() => Limit.rate({ limit: 10, window: 1000, store: RedisLimit.store() }), "key")
    expectInvalid(() => Limit.rate({ limit: 10, window: 1000, key: "k", algorithm: "token-bucket", store: RedisLimit.store() }), "algorithm")
  })

  it.effect("rate: usage counts the window (refunds included) and is exported as the hybrid_limit_usage gauge", () =>
    Effect.gen(function*() {
      const tpm = yield* Limit.rate({ limit: 1_000, window: "1 minute", key: "usage-test" })
      const reservation = yield* tpm.reserve(600)
      assert.strictEqual(yield* tpm.usage, 600)
      yield* tpm.reconcile(reservation, 250)
      assert.strictEqual(yield* tpm.usage, 250)
      const gauge = (yield* Metric.snapshot).find((m) =>
        m.id === "hybrid_limit_usage" && m.attributes?.["limit"] === "usage-test"
      )
      assert.deepStrictEqual(gauge?.state, { value: 250 })
      yield* TestClock.adjust("1 minute")
      assert.strictEqual(yield* tpm.usage, 0)
    }))
})

describe("Limit.learned", () => {
  /** An upstream with a sliding-window limit of `limit` per `window`: 429 + retryAfter past it. */
  const upstream = (limit: number, window: number) => {
    const log: Array<number> = []
    let refused = 0
    let admitted = 0
    const call = Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      while (log.length > 0 && log[0]! <= now - window) log.shift()
      if (log.length >= limit) {
        refused++
        return yield* Effect.fail({ status: 429, retryAfter: log[log.length - limit]! + window - now })
      }
      log.push(now)
      admitted++
      yield* Effect.sleep(5)
      return "ok"
    })
    return { call, stats: () => ({ refused, admitted }) }
  }

  it.effect("learns N per W from the first 429 and then queues callers: the upstream refuses only the calls in flight then", () =>
    Effect.gen(function*() {
      const server = upstream(50, 1_000)
      const paced = yield* Limit.learned()
      const retry = Retry.retry(Retry.policy({ times: 10, base: 1, cap: 10, while: (e: { status: number }) => e.status === 429 }))
      // 300 calls arriving at 100/s against 50/s: the first second fills the window
      const calls = Array.from({ length: 300 }, (_, i) => server.call.pipe(paced, retry, Effect.delay(i * 10)))
      const results = yield* runVirtual(Gather.all(calls))
      assert.isTrue(Exit.isSuccess(results))
      const stats = server.stats()
      assert.strictEqual(stats.admitted, 300)
      assert.isAtMost(stats.refused, 3)
      const learned = yield* paced.learned
      assert.strictEqual(learned?.limit, 50)
      assert.strictEqual(Duration.toMillis(learned!.window), 1_000)
    }))

  it.effect("a stated limit (x-ratelimit-limit-requests) is taken as requests per minute", () =>
    Effect.gen(function*() {
      const paced = yield* Limit.learned()
      const headers = new Headers({ "x-ratelimit-limit-requests": "500", "retry-after-ms": "20" })
      yield* Effect.exit(Effect.fail({ status: 429, headers }).pipe(paced))
      const learned = yield* paced.learned
      assert.strictEqual(learned?.limit, 500)
      assert.strictEqual(Duration.toMillis(learned!.window), 60_000)
    }))
})
