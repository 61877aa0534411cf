/**
 * Deadlines that children inherit — asyncio's `timeout()` as an Effect value.
 *
 * A deadline is an instant on Effect's `Clock`, kept in a `Context.Reference`, so every
 * fiber forked below `within` (plain forks, `Gather`, `TaskGroup`, `Runner` calls) sees
 * it without it being passed around:
 *
 * - `within(duration)` sets the deadline to the earlier of the inherited one and
 *   `now + duration`; past it the effect is interrupted and fails with `DeadlineExceeded`.
 * - `remaining` reads what is left (`Option.none()` when no deadline is set).
 * - `timeout(duration)` is a per-call timeout capped by the remaining deadline: it fails
 *   with `TimeoutExceeded` when its own duration ran out first, `DeadlineExceeded` when
 *   the deadline did.
 *
 * At the edges, as asyncio's `timeout()`:
 *
 * - **Nothing is lost.** The timed-out effect is interrupted and its finalizers run to
 *   the end before the result is known. If they die (or the effect fails in an
 *   uninterruptible region), those defects and failures stay in the same `Cause` after
 *   `DeadlineExceeded` — `Cause.pretty` shows all of them. The same holds for a
 *   `TaskGroup` cut by a deadline: its children's cleanup defects are kept.
 * - **Nested deadlines expiring at once: the outermost reports.** When an inner
 *   `within` / `at` / `timeout` expires at the same instant as an enclosing one (the
 *   inner deadline is the inherited one), the inner lets the interruption through and the
 *   enclosing one fails with `DeadlineExceeded`; code between the two sees an
 *   interruption (its `onInterrupt` finalizers run), not a typed failure it could catch.
 *   A deadline that *starts* after the enclosing one expired (in a finalizer, say) reports
 *   on its own, so cleanup code can catch it. A deadline that is only inherited, not
 *   enforced by an enclosing combinator (a `Runner` worker receives the caller's
 *   deadline as a plain value), is reported by the inner combinator.
 * - **An interruption from outside stays an interruption**, also past the deadline's
 *   instant; the timed effect's cleanup defects ride beside it.
 *
 * Underneath: `Context.Reference` for the inherited deadline, and a child fiber plus a
 * timer fiber per combinator — `Effect.timeoutOrElse` would drop the timed-out effect's
 * `Cause`, and it cannot tell that an enclosing deadline expires at the same instant.
 *
 * Gotcha: interruption is cooperative. An effect stuck in synchronous code cannot be
 * interrupted until it yields; put CPU work on a `Runner`, which enforces the deadline
 * in the worker.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Deadline } from "@hybrid/core"
 *
 * const slow = Effect.sleep("2 seconds").pipe(Effect.as("done"))
 * const program = Effect.gen(function*() {
 *   const left = yield* Deadline.remaining // Some(1 second)
 *   return yield* slow                      // interrupted at the deadline
 * }).pipe(Deadline.within("1 second"))
 * // Effect.runPromiseExit(program) → Failure(DeadlineExceeded { deadline, elapsed: 1000 })
 * ```
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as options from "./internal/options.ts"

/**
 * The deadline passed before the effect finished.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Deadline } from "@hybrid/core"
 *
 * const answer = Effect.sleep("5 seconds").pipe(
 *   Deadline.within("1 second"),
 *   Effect.catchTag("DeadlineExceeded", (e) => Effect.succeed(`gave up after ${e.elapsed} ms`))
 * )
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class DeadlineExceeded extends Schema.TaggedError<DeadlineExceeded>()("DeadlineExceeded", {
  /** The deadline, in milliseconds on Effect's `Clock` (epoch milliseconds outside tests). */
  deadline: Schema.Number,
  /** Milliseconds from the start of the `within` (or `timeout`) that fired to its failure. */
  elapsed: Schema.Number
}) {
  override get message(): string {
    return `deadline exceeded after ${this.elapsed} ms`
  }
}

/**
 * A per-call `timeout` ran out before the inherited deadline did.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Deadline } from "@hybrid/core"
 *
 * const call = Effect.sleep("3 seconds").pipe(
 *   Deadline.timeout("500 millis"),
 *   Effect.catchTag("TimeoutExceeded", (e) => Effect.logWarning(`slow call: ${e.timeout} ms timeout`))
 * )
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class TimeoutExceeded extends Schema.TaggedError<TimeoutExceeded>()("TimeoutExceeded", {
  /** The timeout that ran out, in milliseconds. */
  timeout: Schema.Number,
  /** Milliseconds from the start of the call to its failure. */
  elapsed: Schema.Number
}) {
  override get message(): string {
    return `call timed out after ${this.elapsed} ms (timeout ${this.timeout} ms)`
  }
}

/**
 * The current deadline, in milliseconds on Effect's `Clock`; `undefined` when none is set.
 * Read it with `current` / `remaining`; set it with `within` or `at`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Deadline } from "@hybrid/core"
 *
 * // the deadline in force, as epoch milliseconds (undefined when there is none)
 * const program = Effect.gen(function*() {
 *   const deadline = yield* Deadline.Current
 *   return deadline === undefined ? "no deadline" : new Date(deadline).toISOString()
 * }).pipe(Deadline.within("2 seconds"))
 * ```
 *
 * @since 0.1.0
 * @category references
 */
export const Current = Context.Reference<number | undefined>("@hybrid/core/Deadline/Current", {
  defaultValue: () => undefined
})

/**
 * The current deadline as an instant on Effect's `Clock`, if any.
 *
 * @example
 * ```ts
 * import { Effect, Option } from "effect"
 * import { Deadline } from "@hybrid/core"
 *
 * const program = Effect.gen(function*() {
 *   const deadline = yield* Deadline.current
 *   return Option.isSome(deadline) ? `due at ${deadline.value}` : "no deadline"
 * }).pipe(Deadline.within("2 seconds"))
 * ```
 *
 * @since 0.1.0
 * @category accessors
 */
export const current: Effect.Effect<Option.Option<number>> = Effect.map(Current, Option.fromUndefinedOr)

/**
 * The time left before the current deadline (zero once it has passed), if any.
 *
 * @example
 * ```ts
 * import { Duration, Effect, Option } from "effect"
 * import { Deadline } from "@hybrid/core"
 *
 * // skip the optional step when less than 500 ms are left
 * const step = Effect.gen(function*() {
 *   const left = yield* Deadline.remaining
 *   if (Option.isSome(left) && Duration.isLessThan(left.value, Duration.millis(500))) return "skipped"
 *   return yield* Effect.succeed("enriched")
 * })
 * ```
 *
 * @since 0.1.0
 * @category accessors
 */
export const remaining: Effect.Effect<Option.Option<Duration.Duration>> = Effect.gen(function*() {
  const deadline = yield* Current
  if (deadline === undefined) return Option.none()
  const now = yield* Clock.currentTimeMillis
  return Option.some(Duration.millis(Math.max(0, deadline - now)))
})

/**
 * The instant the nearest enclosing `within` / `at` / `timeout` enforces with a timer.
 * Unlike `Current`, which anyone may provide (a worker receiving the caller's deadline),
 * it is set only where a timer will fire — so a deadline expiring at the same instant as
 * this one knows that the enclosing one will report.
 */
const Enforced = Context.Reference<number | undefined>("@hybrid/core/Deadline/Enforced", {
  defaultValue: () => undefined
})

const withoutInterrupts = <E>(cause: Cause.Cause<E>): Array<Cause.Reason<E>> =>
  cause.reasons.filter((reason) => !Cause.isInterruptReason(reason))

/**
 * Runs `self` in a child fiber with a timer that interrupts it at `limit`, and turns the
 * interruption into `onTimeout` — keeping every other failure and defect of `self` (its
 * finalizers' too) in the same `Cause`, which `Effect.timeoutOrElse` drops. When an
 * enclosing deadline has expired as well, the interruption goes through unchanged and
 * the enclosing one reports, as in asyncio. Written without generators: every
 * `Deadline.timeout` of every call runs through here.
 */
const runUntil = <A, E, R, E2>(
  self: Effect.Effect<A, E, R>,
  fiber: Fiber.Fiber<unknown, unknown>,
  deadline: number | undefined,
  limit: number,
  start: number,
  onTimeout: (elapsed: number) => E2
): Effect.Effect<A, E | E2, R> => {
  const enclosing = fiber.getRef(Enforced)
  const clock = fiber.getRef(Clock.Clock)
  const expired = (cause: Cause.Cause<E> | undefined): Effect.Effect<never, E | E2> => {
    const now = clock.currentTimeMillisUnsafe()
    // an enclosing deadline that was still ahead when this one started expires now too: it reports
    if (enclosing !== undefined && start < enclosing && enclosing <= now) return Effect.failCause(cause ?? Cause.interrupt())
    const reasons: Array<Cause.Reason<E | E2>> = cause === undefined ? [] : withoutInterrupts(cause)
    return Effect.failCause(Cause.fromReasons([Cause.makeFailReason(onTimeout(now - start)), ...reasons]))
  }
  if (limit <= start) return expired(undefined)
  const scoped = (deadline === undefined ? self : Effect.provideService(self, Current, deadline)).pipe(
    Effect.provideService(Enforced, limit)
  )
  return Effect.uninterruptibleMask((restore) =>
    Effect.flatMap(Effect.forkChild(scoped, { startImmediately: true }), (work) => {
      const done = work.pollUnsafe()
      if (done !== undefined) return done // finished without suspending: no timer needed
      let fired = false
      const alarm = Effect.sleep(limit - start).pipe(
        Effect.andThen(Effect.sync(() => { fired = true })),
        Effect.andThen(Fiber.interrupt(work))
      )
      return Effect.flatMap(Effect.forkChild(alarm, { startImmediately: true }), (timer) =>
        Effect.flatMap(Effect.exit(restore(Fiber.await(work))), (waited) => {
          if (Exit.isSuccess(waited)) {
            timer.interruptUnsafe() // asleep (or done): stops at once, nothing to wait for
            const exit = waited.value
            const cut = Exit.isFailure(exit) && Cause.hasInterrupts(exit.cause) &&
              (fired || clock.currentTimeMillisUnsafe() >= limit)
            return cut ? expired(exit.cause) : exit
          }
          // interrupted from outside: stop `self`, wait for its finalizers, keep what they raised
          return Effect.flatMap(Effect.andThen(Fiber.interrupt(work), Fiber.await(work)), (exit) => {
            timer.interruptUnsafe()
            const rest = Exit.isFailure(exit) ? withoutInterrupts(exit.cause) : []
            return Effect.failCause(Cause.fromReasons([...rest, ...waited.cause.reasons]))
          })
        }))
    })
  )
}

/**
 * Runs `self` with the deadline `min(inherited deadline, at)`, `at` being an instant on
 * Effect's `Clock`. `within` is the usual entry point; `at` is for a deadline that
 * arrives from elsewhere (a request header, a worker message).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Deadline } from "@hybrid/core"
 *
 * const endOfSlot = Date.now() + 60_000
 * const job = Effect.sleep("1 second").pipe(Deadline.at(endOfSlot))
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const at = (instant: number) => {
  options.finite("Deadline.at", "instant", instant, Number.NEGATIVE_INFINITY)
  return <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E | DeadlineExceeded, R> =>
    Effect.withFiber((fiber) => {
      const start = fiber.getRef(Clock.Clock).currentTimeMillisUnsafe()
      const inherited = fiber.getRef(Current)
      const deadline = inherited === undefined ? instant : Math.min(inherited, instant)
      return runUntil(self, fiber, deadline, deadline, start, (elapsed) => new DeadlineExceeded({ deadline, elapsed }))
    })
}

/**
 * Runs `self` with the deadline `min(inherited deadline, now + duration)`. Past it, `self`
 * is interrupted and the result is `DeadlineExceeded`. Children inherit the deadline.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Deadline, Gather } from "@hybrid/core"
 *
 * const search = (source: string) => Effect.sleep("100 millis").pipe(Effect.as(source))
 * // every child inherits the 2 s budget: the whole gather fails with DeadlineExceeded past it
 * const answer = Gather.all([search("web"), search("news")]).pipe(Deadline.within("2 seconds"))
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const within = (duration: Duration.Input) => {
  const millis = options.duration("Deadline.within", "duration", duration)
  return <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E | DeadlineExceeded, R> =>
    Effect.withFiber((fiber) => {
      const start = fiber.getRef(Clock.Clock).currentTimeMillisUnsafe()
      const inherited = fiber.getRef(Current)
      const deadline = inherited === undefined ? start + millis : Math.min(inherited, start + millis)
      return runUntil(self, fiber, deadline, deadline, start, (elapsed) => new DeadlineExceeded({ deadline, elapsed }))
    })
}

/**
 * A per-call timeout capped by the remaining deadline: `self` gets `min(duration,
 * remaining)`. Fails with `TimeoutExceeded` when `duration` was the shorter,
 * `DeadlineExceeded` when the deadline was.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Deadline } from "@hybrid/core"
 *
 * const lookup = Effect.sleep("50 millis").pipe(Effect.as({ temperature: 21 }))
 * // at most 300 ms for this call, and never past the enclosing 2 s deadline
 * const program = lookup.pipe(Deadline.timeout("300 millis"), Deadline.within("2 seconds"))
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const timeout = (duration: Duration.Input) => {
  const millis = options.duration("Deadline.timeout", "duration", duration)
  return <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E | DeadlineExceeded | TimeoutExceeded, R> =>
    Effect.withFiber<A, E | DeadlineExceeded | TimeoutExceeded, R>((fiber) => {
      const start = fiber.getRef(Clock.Clock).currentTimeMillisUnsafe()
      const inherited = fiber.getRef(Current)
      const own = start + millis
      if (inherited !== undefined && inherited <= own) {
        return runUntil(self, fiber, inherited, inherited, start, (elapsed) =>
          new DeadlineExceeded({ deadline: inherited, elapsed }))
      }
      return runUntil(self, fiber, inherited, own, start, (elapsed) => new TimeoutExceeded({ timeout: millis, elapsed }))
    })
}
