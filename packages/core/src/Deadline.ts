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
 * Underneath: `Context.Reference` and `Effect.timeoutOrElse` — Effect has timeouts but
 * not an inherited deadline, so the inheritance is the part written here.
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
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as options from "./internal/options.ts"

/**
 * The deadline passed before the effect finished.
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
 * @since 0.1.0
 * @category references
 */
export const Current = Context.Reference<number | undefined>("@hybrid/core/Deadline/Current", {
  defaultValue: () => undefined
})

/**
 * The current deadline as an instant on Effect's `Clock`, if any.
 *
 * @since 0.1.0
 * @category accessors
 */
export const current: Effect.Effect<Option.Option<number>> = Effect.map(Current, Option.fromUndefinedOr)

/**
 * The time left before the current deadline (zero once it has passed), if any.
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

const runUntil = <A, E, R, E2>(
  self: Effect.Effect<A, E, R>,
  deadline: number | undefined,
  limit: number,
  start: number,
  onTimeout: (elapsed: number) => E2
): Effect.Effect<A, E | E2, R> => {
  const fail = Effect.map(Clock.currentTimeMillis, (now) => onTimeout(now - start)).pipe(Effect.flatMap(Effect.fail))
  if (limit <= start) return fail
  const scoped = deadline === undefined ? self : Effect.provideService(self, Current, deadline)
  return scoped.pipe(
    Effect.timeoutOrElse({ duration: limit - start, orElse: () => fail })
  )
}

/**
 * Runs `self` with the deadline `min(inherited deadline, at)`, `at` being an instant on
 * Effect's `Clock`. `within` is the usual entry point; `at` is for a deadline that
 * arrives from elsewhere (a request header, a worker message).
 *
 * @since 0.1.0
 * @category combinators
 */
export const at = (instant: number) => {
  options.finite("Deadline.at", "instant", instant, Number.NEGATIVE_INFINITY)
  return <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E | DeadlineExceeded, R> =>
    Effect.gen(function*() {
      const start = yield* Clock.currentTimeMillis
      const inherited = yield* Current
      const deadline = inherited === undefined ? instant : Math.min(inherited, instant)
      return yield* runUntil(self, deadline, deadline, start, (elapsed) => new DeadlineExceeded({ deadline, elapsed }))
    })
}

/**
 * Runs `self` with the deadline `min(inherited deadline, now + duration)`. Past it, `self`
 * is interrupted and the result is `DeadlineExceeded`. Children inherit the deadline.
 *
 * @since 0.1.0
 * @category combinators
 */
export const within = (duration: Duration.Input) => {
  const millis = options.duration("Deadline.within", "duration", duration)
  return <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E | DeadlineExceeded, R> =>
    Effect.gen(function*() {
      const start = yield* Clock.currentTimeMillis
      const inherited = yield* Current
      const deadline = inherited === undefined ? start + millis : Math.min(inherited, start + millis)
      return yield* runUntil(self, deadline, deadline, start, (elapsed) => new DeadlineExceeded({ deadline, elapsed }))
    })
}

/**
 * A per-call timeout capped by the remaining deadline: `self` gets `min(duration,
 * remaining)`. Fails with `TimeoutExceeded` when `duration` was the shorter,
 * `DeadlineExceeded` when the deadline was.
 *
 * @since 0.1.0
 * @category combinators
 */
export const timeout = (duration: Duration.Input) => {
  const millis = options.duration("Deadline.timeout", "duration", duration)
  return <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E | DeadlineExceeded | TimeoutExceeded, R> =>
    Effect.gen(function*() {
      const start = yield* Clock.currentTimeMillis
      const inherited = yield* Current
      const own = start + millis
      if (inherited !== undefined && inherited <= own) {
        return yield* runUntil(self, inherited, inherited, start, (elapsed) =>
          new DeadlineExceeded({ deadline: inherited, elapsed }))
      }
      return yield* runUntil(
        self,
        inherited,
        own,
        start,
        (elapsed) => new TimeoutExceeded({ timeout: millis, elapsed })
      )
    })
}
