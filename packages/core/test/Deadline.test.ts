import { assert, describe, it } from "@effect/vitest"
import { Cause, Clock, Duration, Effect, Exit, Fiber, Option } from "effect"
import { TestClock } from "effect/testing"
import { Deadline, Gather, InvalidOption, TaskGroup } from "@hybrid/core"
import { Millis, PositiveMillis, runs, runVirtual } from "./support.ts"

const errorOf = <A, E>(exit: Exit.Exit<A, E>): E | undefined =>
  Exit.isFailure(exit) ? exit.cause.reasons.find(Cause.isFailReason)?.error : undefined
const defectsOf = (exit: Exit.Exit<unknown, unknown>): ReadonlyArray<unknown> =>
  Exit.isFailure(exit) ? exit.cause.reasons.filter(Cause.isDieReason).map((r) => r.defect) : []

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
  // ---------------------------------------------------------------------------------
  // CPython's Lib/test/test_asyncio/test_timeouts.py, case by case, under TestClock.
  // `asyncio.timeout(d)` is `Deadline.within(d)`, `timeout_at(t)` is `Deadline.at(t)`;
  // TimeoutError is DeadlineExceeded. A cleanup that raises is a finalizer that dies.
  // ---------------------------------------------------------------------------------

  it.effect("test_timeout_basic: past the deadline the effect fails with DeadlineExceeded", () =>
    Effect.gen(function*() {
      const exit = yield* runVirtual(Effect.sleep(10_000).pipe(Deadline.within(10)))
      assert.deepStrictEqual(errorOf(exit), new Deadline.DeadlineExceeded({ deadline: 10, elapsed: 10 }))
    }))

  it.effect("test_timeout_at_basic: Deadline.at reports the instant it was given", () =>
    Effect.gen(function*() {
      const deadline = (yield* Clock.currentTimeMillis) + 10
      const exit = yield* runVirtual(Effect.sleep(10_000).pipe(Deadline.at(deadline)))
      const error = errorOf(exit)
      assert.strictEqual(error?._tag, "DeadlineExceeded")
      assert.strictEqual(error?.deadline, deadline)
    }))

  it.effect("test_nested_timeouts: at the same instant, the outer deadline reports and the code between sees interruption", () =>
    Effect.gen(function*() {
      const deadline = (yield* Clock.currentTimeMillis) + 10
      let cancelled = false
      let typedFailure = false
      const exit = yield* runVirtual(
        Effect.sleep(10_000).pipe(
          Deadline.at(deadline),
          Effect.catchTag("DeadlineExceeded", () => Effect.sync(() => { typedFailure = true })),
          Effect.onInterrupt(() => Effect.sync(() => { cancelled = true })),
          Deadline.at(deadline)
        )
      )
      assert.isTrue(cancelled)
      assert.isFalse(typedFailure)
      assert.deepStrictEqual(errorOf(exit), new Deadline.DeadlineExceeded({ deadline, elapsed: 10 }))
      assert.isFalse(Cause.hasInterrupts((exit as Exit.Failure<unknown, unknown>).cause))
    }))

  it.effect("test_waiter_cancelled: the timed-out effect is interrupted", () =>
    Effect.gen(function*() {
      let cancelled = false
      const exit = yield* runVirtual(
        Effect.sleep(10_000).pipe(Effect.onInterrupt(() => Effect.sync(() => { cancelled = true })), Deadline.within(10))
      )
      assert.strictEqual(errorOf(exit)?._tag, "DeadlineExceeded")
      assert.isTrue(cancelled)
    }))

  it.effect("test_timeout_not_called: an effect done in time is untouched and the deadline stays ahead", () =>
    Effect.gen(function*() {
      const exit = yield* runVirtual(Effect.gen(function*() {
        yield* Effect.sleep(10)
        const now = yield* Clock.currentTimeMillis
        const deadline = yield* Deadline.current
        return Option.getOrThrow(deadline) > now
      }).pipe(Deadline.within(10_000)))
      assert.deepStrictEqual(exit, Exit.succeed(true))
    }))

  // test_timeout_disabled, test_timeout_at_disabled: `timeout(None)` has no counterpart;
  // an effect without `Deadline.within` has no deadline of its own.

  it.effect("test_timeout_zero: a zero deadline fails at once", () =>
    Effect.gen(function*() {
      const exit = yield* runVirtual(Effect.sleep(10_000).pipe(Deadline.within(0)))
      assert.deepStrictEqual(errorOf(exit), new Deadline.DeadlineExceeded({ deadline: 0, elapsed: 0 }))
    }))

  it.effect("test_timeout_zero_sleep_zero: a zero deadline fails before the effect yields", () =>
    Effect.gen(function*() {
      // asyncio runs the body up to its first await; Hybrid does not start it at all
      let ran = false
      const exit = yield* runVirtual(Effect.sync(() => { ran = true }).pipe(Effect.andThen(Effect.yieldNow), Deadline.within(0)))
      assert.strictEqual(errorOf(exit)?._tag, "DeadlineExceeded")
      assert.isFalse(ran)
    }))

  it.effect("test_timeout_in_the_past_sleep_zero: a deadline in the past fails at once", () =>
    Effect.gen(function*() {
      // `timeout(-11)`: `Deadline.within` rejects negative durations (InvalidOption); an
      // instant in the past goes through `Deadline.at`
      yield* TestClock.adjust(100)
      const exit = yield* runVirtual(Effect.yieldNow.pipe(Deadline.at(89)))
      assert.deepStrictEqual(errorOf(exit), new Deadline.DeadlineExceeded({ deadline: 89, elapsed: 0 }))
    }))

  it.effect("test_foreign_exception_passed: a failure before the deadline passes through", () =>
    Effect.gen(function*() {
      const exit = yield* runVirtual(Effect.fail("KeyError").pipe(Deadline.within(10)))
      assert.deepStrictEqual(exit, Exit.fail("KeyError"))
    }))

  it.effect("test_timeout_exception_context: a failure whose cleanup outlives the deadline keeps both", () =>
    Effect.gen(function*() {
      // asyncio chains ZeroDivisionError as the context of the CancelledError behind
      // TimeoutError; Effect has no exception chaining. A finalizer cannot be cut by the
      // deadline (finalizers are uninterruptible), so the cleanup runs its full second and
      // the Cause holds DeadlineExceeded and the failure side by side.
      const exit = yield* runVirtual(Effect.fail("ZeroDivisionError").pipe(Effect.ensuring(Effect.sleep(1000)), Deadline.within(10)))
      assert.isTrue(Exit.isFailure(exit))
      const errors = (exit as Exit.Failure<unknown, unknown>).cause.reasons.filter(Cause.isFailReason).map((r) => r.error)
      assert.deepStrictEqual(errors, [new Deadline.DeadlineExceeded({ deadline: 10, elapsed: 1000 }), "ZeroDivisionError"])
    }))

  it.effect("test_foreign_exception_on_timeout: a cleanup that dies on timeout stays beside DeadlineExceeded", () =>
    Effect.gen(function*() {
      const crash = Effect.sleep(1000).pipe(Effect.ensuring(Effect.die("ZeroDivisionError")))
      const exit = yield* runVirtual(crash.pipe(Deadline.within(10)))
      assert.deepStrictEqual(errorOf(exit), new Deadline.DeadlineExceeded({ deadline: 10, elapsed: 10 }))
      assert.deepStrictEqual(defectsOf(exit), ["ZeroDivisionError"])
      const pretty = Cause.pretty((exit as Exit.Failure<unknown, unknown>).cause)
      assert.include(pretty, "DeadlineExceeded")
      assert.include(pretty, "ZeroDivisionError")
    }))

  it.effect("test_foreign_exception_on_timeout_2: every error of nested cleanups is kept with DeadlineExceeded", () =>
    Effect.gen(function*() {
      // the chain of contexts asyncio builds (ZeroDivisionError ← KeyError ← TimeoutError ←
      // CancelledError ← ValueError) becomes one Cause holding each of them once
      const exit = yield* runVirtual(
        Effect.fail("ValueError").pipe(
          Effect.ensuring(Effect.sleep(1000)),
          Effect.onExit(() => Effect.fail("KeyError").pipe(Effect.ensuring(Effect.die("ZeroDivisionError")))),
          Deadline.within(10)
        )
      )
      const cause = (exit as Exit.Failure<unknown, unknown>).cause
      assert.deepStrictEqual(errorOf(exit), new Deadline.DeadlineExceeded({ deadline: 10, elapsed: 1000 }))
      const values = cause.reasons.flatMap((r) => Cause.isFailReason(r) ? [r.error] : Cause.isDieReason(r) ? [r.defect] : [])
      assert.sameMembers(values.slice(1), ["ValueError", "KeyError", "ZeroDivisionError"])
    }))

  it.effect("test_foreign_cancel_doesnt_timeout_if_not_expired: an interruption before the deadline stays an interruption", () =>
    Effect.gen(function*() {
      const exit = yield* runVirtual(Effect.interrupt.pipe(Effect.andThen(Effect.sleep(10_000)), Deadline.within(10_000)))
      assert.isTrue(Exit.isFailure(exit) && Cause.hasInterruptsOnly(exit.cause))
    }))

  it.effect("test_outer_task_is_not_cancelled: the fiber around a timed-out effect carries on", () =>
    Effect.gen(function*() {
      const exit = yield* runVirtual(Effect.gen(function*() {
        const inner = yield* Effect.exit(Effect.sleep(10_000).pipe(Deadline.within(1)))
        assert.strictEqual(errorOf(inner)?._tag, "DeadlineExceeded")
        yield* Effect.sleep(10)
        return "carried on"
      }))
      assert.deepStrictEqual(exit, Exit.succeed("carried on"))
    }))

  it.effect("test_nested_timeouts_concurrent: the earlier outer deadline reports, the inner one sees interruption", () =>
    Effect.gen(function*() {
      // upstream also blocks the loop with time.sleep; under TestClock there is no real time
      let innerTyped = false
      const exit = yield* runVirtual(
        Effect.sleep(1000).pipe(
          Deadline.within(100),
          Effect.catchTag("DeadlineExceeded", () => Effect.sync(() => { innerTyped = true })),
          Deadline.within(2)
        )
      )
      assert.deepStrictEqual(errorOf(exit), new Deadline.DeadlineExceeded({ deadline: 2, elapsed: 2 }))
      assert.isFalse(innerTyped)
    }))

  it.effect("test_nested_timeouts_loop_busy: the inner deadline caught, the outer one stops what follows", () =>
    Effect.gen(function*() {
      const exit = yield* runVirtual(
        Effect.gen(function*() {
          const inner = yield* Effect.exit(Effect.sleep(1000).pipe(Deadline.within(10)))
          assert.strictEqual(errorOf(inner)?._tag, "DeadlineExceeded")
          yield* Effect.sleep(10_000) // interrupted by the outer deadline
        }).pipe(Deadline.within(100))
      )
      assert.deepStrictEqual(errorOf(exit), new Deadline.DeadlineExceeded({ deadline: 100, elapsed: 100 }))
    }))

  // test_reschedule, test_timeout_finished, test_timeout_expired, test_timeout_expiring:
  // a Hybrid deadline is a value in the fiber's Context and cannot be moved once set.
  // test_repr_*: no counterpart. test_timeout_already_entered, test_timeout_double_enter,
  // test_timeout_not_entered, test_timeout_without_task: `Deadline.within` is a
  // combinator, not a context manager to enter. test_timeout_exception_cause: Effect has
  // no `__cause__`; the interruption behind DeadlineExceeded is not kept in the Cause.

  it.effect("test_nested_timeout_in_finally: a deadline in the cleanup of a timed-out effect reports on its own", () =>
    Effect.gen(function*() {
      // asyncio's inner timeout starts afresh; Hybrid's inherits the expired outer
      // deadline, so it fails at once — with its own DeadlineExceeded, which the cleanup
      // can catch, since it started after the outer one had expired
      let innerError: string | undefined
      const exit = yield* runVirtual(
        Effect.sleep(1000).pipe(
          Effect.ensuring(
            Effect.sleep(10_000).pipe(
              Deadline.within(10),
              Effect.catchTag("DeadlineExceeded", (e) => Effect.sync(() => { innerError = e._tag }))
            )
          ),
          Deadline.within(10)
        )
      )
      assert.strictEqual(innerError, "DeadlineExceeded")
      assert.deepStrictEqual(errorOf(exit), new Deadline.DeadlineExceeded({ deadline: 10, elapsed: 10 }))
    }))

  it.effect("test_timeout_after_cancellation: a deadline in the cleanup of an interrupted fiber still reports", () =>
    Effect.gen(function*() {
      let inCleanup: Exit.Exit<void, Deadline.DeadlineExceeded> | undefined
      const fiber = yield* Effect.forkChild(
        Effect.never.pipe(Effect.onInterrupt(() =>
          Effect.exit(Effect.sleep(1000).pipe(Deadline.within(0))).pipe(Effect.map((e) => { inCleanup = e }))
        )),
        { startImmediately: true }
      )
      yield* Fiber.interrupt(fiber)
      assert.strictEqual(errorOf(inCleanup!)?._tag, "DeadlineExceeded")
    }))

  it.effect("test_cancel_in_timeout_after_cancellation: an interruption inside that deadline stays an interruption", () =>
    Effect.gen(function*() {
      let inCleanup: Exit.Exit<unknown, unknown> | undefined
      const fiber = yield* Effect.forkChild(
        Effect.never.pipe(Effect.onInterrupt(() =>
          Effect.exit(Effect.interrupt.pipe(Effect.andThen(Effect.sleep(2000)), Deadline.within(1000))).pipe(
            Effect.map((e) => { inCleanup = e })
          )
        )),
        { startImmediately: true }
      )
      yield* Fiber.interrupt(fiber)
      assert.isTrue(Exit.isFailure(inCleanup!) && Cause.hasInterruptsOnly(inCleanup.cause))
    }))

  it.effect("test_timeout_taskgroup: a TaskGroup cut by a deadline keeps its child's cleanup defect", () =>
    Effect.gen(function*() {
      const task = Effect.sleep(2000).pipe(Effect.ensuring(Effect.die("ZeroDivisionError")))
      const exit = yield* runVirtual(
        TaskGroup.run((tg) =>
          Effect.gen(function*() {
            yield* tg.spawn(task)
            yield* Effect.sleep(1000)
          })
        ).pipe(Deadline.within(10))
      )
      assert.deepStrictEqual(errorOf(exit), new Deadline.DeadlineExceeded({ deadline: 10, elapsed: 10 }))
      assert.deepStrictEqual(defectsOf(exit), ["ZeroDivisionError"])
    }))

  // Hybrid's own cases

  it.effect("Deadline.timeout capped by an enclosing deadline at the same instant lets the enclosing one report", () =>
    Effect.gen(function*() {
      let between: "typed" | "interrupted" | undefined
      const exit = yield* runVirtual(
        Effect.never.pipe(
          Deadline.timeout("1 second"),
          Effect.catchTag("DeadlineExceeded", () => Effect.sync(() => { between = "typed" })),
          Effect.onInterrupt(() => Effect.sync(() => { between = "interrupted" })),
          Deadline.within("500 millis")
        )
      )
      assert.strictEqual(between, "interrupted")
      assert.deepStrictEqual(errorOf(exit), new Deadline.DeadlineExceeded({ deadline: 500, elapsed: 500 }))
    }))

  it.effect("Deadline.timeout under an inherited but unenforced deadline (a worker's) reports it itself", () =>
    Effect.gen(function*() {
      const exit = yield* runVirtual(Effect.never.pipe(Deadline.timeout("1 second"), Effect.provideService(Deadline.Current, 300)))
      assert.deepStrictEqual(errorOf(exit), new Deadline.DeadlineExceeded({ deadline: 300, elapsed: 300 }))
    }))

  it.effect("interrupting a timed effect from outside waits for its cleanup and keeps its defect", () =>
    Effect.gen(function*() {
      let cleaned = false
      const fiber = yield* Effect.forkChild(
        Effect.never.pipe(
          Effect.ensuring(Effect.sleep(100).pipe(Effect.andThen(Effect.sync(() => { cleaned = true })), Effect.andThen(Effect.die("bug")))),
          Deadline.within("1 second")
        ),
        { startImmediately: true }
      )
      yield* TestClock.adjust(10)
      const interrupter = yield* Effect.forkChild(Fiber.interrupt(fiber), { startImmediately: true })
      yield* TestClock.adjust(100)
      yield* Fiber.join(interrupter)
      const exit = yield* Fiber.await(fiber)
      assert.isTrue(cleaned)
      assert.isTrue(Exit.isFailure(exit) && Cause.hasInterrupts(exit.cause))
      assert.deepStrictEqual(defectsOf(exit), ["bug"])
      assert.isUndefined(errorOf(exit))
    }))
})
