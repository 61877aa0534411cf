/**
 * Retries with exponential backoff, jitter, `Retry-After`, deadlines and a shared retry
 * budget — the course's "retries and exponential backoff", done the way production
 * clients do it.
 *
 * - `policy(options)` describes *when* to retry; it is a `Schedule`, so it also works with
 *   `Effect.retry` directly.
 * - `retry(policy, { budget })` applies it. On top of the schedule it measures each
 *   attempt, so a retry that cannot finish before the current `Deadline` is not started,
 *   and it asks the (optional) shared `Budget` before every retry.
 * - An error carrying `retryAfter` (a `Duration`: HTTP 429/503, an open circuit, a rate
 *   limiter — also found under `error.reason.retryAfter`, as Effect's `CircuitBreakerError`
 *   and `RateLimiterError` carry it) makes the next wait at least that long: `retryAfter`
 *   plus the jittered backoff, so callers refused together do not all return at the same
 *   instant (with `jitter: "none"`, `max(backoff, retryAfter)`).
 * - When `retry` gives up it fails with the **last error, unchanged** (so `catchTag`
 *   keeps working), and annotates the failure's `Cause` with a `Report`
 *   (`{ attempts, reason, lastError }`) that `report(cause)` reads back.
 *
 * Jitter (see the AWS architecture blog "Exponential Backoff and Jitter"), with
 * `exp = min(cap, base × factor^(n-1))` for retry n:
 * `"none"` → `exp`; `"full"` → uniform in [0, exp]; `"equal"` → uniform in [exp/2, exp];
 * `"decorrelated"` → uniform in [base, 3 × previous], capped.
 *
 * Underneath: `Schedule.fromStepWithMetadata`, `Effect.sleep`, `Random`, `Clock` — all
 * testable with `TestClock`. Written by hand: the jitter formulas, the deadline check
 * and the budget, which Effect's `Schedule` does not have.
 *
 * Gotcha: retry only idempotent operations, and keep `times` small — a shared `budget`
 * is what keeps a fleet of retrying callers from turning an outage into a retry storm.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Deadline, Retry } from "@hybrid/core"
 *
 * declare const callApi: Effect.Effect<string, { readonly _tag: "Http503"; readonly retryAfter?: unknown }>
 *
 * const policy = Retry.policy({ times: 4, base: "100 millis", cap: "2 seconds", jitter: "full" })
 * const program = callApi.pipe(Retry.retry(policy), Deadline.within("5 seconds"))
 * ```
 *
 * @since 0.1.0
 */
import { Cause, Clock, Context, Duration, Effect, Exit, Option, Predicate, Random, Schedule } from "effect"
import * as Deadline from "./Deadline.ts"
import * as options from "./internal/options.ts"
import * as retryBudget from "./internal/retryBudget.ts"
import type { LimitStoreError } from "./Limit.ts"

/**
 * How a backoff delay is randomized: `"full"` (the default), `"equal"`, `"decorrelated"`,
 * or `"none"`.
 *
 * @example
 * ```ts
 * import { Retry } from "@hybrid/core"
 *
 * const jitter: Retry.Jitter = "decorrelated"
 * const policy = Retry.policy({ times: 5, jitter })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type Jitter = "full" | "equal" | "decorrelated" | "none"

/**
 * The options of `policy`: how many retries, the backoff (base, factor, cap, jitter), a
 * time limit, and which errors to retry.
 *
 * @example
 * ```ts
 * import { Retry } from "@hybrid/core"
 *
 * interface HttpError { readonly status: number }
 * const options: Retry.PolicyOptions<HttpError> = {
 *   times: 4,
 *   base: "200 millis",
 *   maxElapsed: "10 seconds",
 *   while: (e) => e.status === 429 || e.status >= 500
 * }
 * const policy = Retry.policy(options)
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface PolicyOptions<E = unknown> {
  /** Retries after the first attempt (so at most `times + 1` attempts). Default 3. */
  readonly times?: number | undefined
  /** The first backoff step. Default 100 ms. */
  readonly base?: Duration.Input | undefined
  /** Growth per retry. Default 2. */
  readonly factor?: number | undefined
  /** No computed delay exceeds this (a `retryAfter` may). Default 30 s. */
  readonly cap?: Duration.Input | undefined
  /** Default `"full"`. */
  readonly jitter?: Jitter | undefined
  /** Give up when the next retry would start later than this after the first attempt. */
  readonly maxElapsed?: Duration.Input | undefined
  /** Which errors to retry. Default: all but `DeadlineExceeded`. */
  readonly while?: ((error: E) => boolean) | undefined
}

/**
 * Why `retry` stopped retrying.
 *
 * @example
 * ```ts
 * import { Effect, Option } from "effect"
 * import { Retry } from "@hybrid/core"
 *
 * const why = (reason: Retry.GiveUpReason) => reason === "not-retryable" ? "permanent error" : `gave up (${reason})`
 * const program = Effect.fail("503").pipe(
 *   Retry.retry(Retry.policy({ times: 2, base: "10 millis" })),
 *   Effect.tapCause((cause) => Effect.log(Option.match(Retry.report(cause), { onNone: () => "", onSome: (r) => why(r.reason) })))
 * )
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type GiveUpReason = "exhausted" | "max-elapsed" | "deadline" | "budget" | "not-retryable"

/**
 * What the policy decided after an attempt failed (the schedule's output).
 *
 * @example
 * ```ts
 * import { Effect, Schedule } from "effect"
 * import { Retry } from "@hybrid/core"
 *
 * // a policy is a Schedule: its output says what it decided
 * const describe = (d: Retry.Decision) => d._tag === "Retry" ? `retry #${d.attempt} in ${d.delay}` : `give up: ${d.reason}`
 * const logged = Retry.policy({ times: 3 }).pipe(Schedule.tap(({ output }) => Effect.log(describe(output))))
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type Decision =
  | { readonly _tag: "Retry"; readonly attempt: number; readonly delay: Duration.Duration }
  | { readonly _tag: "GiveUp"; readonly attempt: number; readonly reason: GiveUpReason }

/**
 * A resolved retry policy: a `Schedule` over errors `E`, usable with `Effect.retry`, and
 * the input of `Retry.retry`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Retry } from "@hybrid/core"
 *
 * // one policy, shared by every call to the same dependency
 * const upstream: Retry.Policy<Error> = Retry.policy<Error>({ times: 3, cap: "2 seconds" })
 * const call = (id: string) => Effect.fail(new Error(`503 for ${id}`)).pipe(Retry.retry(upstream))
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Policy<E = unknown> extends Schedule.Schedule<Decision, E> {
  readonly settings: Settings<E>
}

/** @internal */
export interface Settings<E> {
  readonly times: number
  readonly base: number
  readonly factor: number
  readonly cap: number
  readonly jitter: Jitter
  readonly maxElapsed: number | undefined
  readonly retryable: (error: E) => boolean
}

/**
 * How a `retry` gave up, attached to the failure's `Cause` (read it with `report`).
 *
 * @example
 * ```ts
 * import { Cause, Option } from "effect"
 * import { Retry } from "@hybrid/core"
 *
 * const summary = (cause: Cause.Cause<unknown>): string =>
 *   Option.match(Retry.report(cause), {
 *     onNone: () => "not retried",
 *     onSome: (r: Retry.Report) => `${r.attempts} attempts, ${r.reason}: ${String(r.lastError)}`
 *   })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Report {
  /** Attempts made, the first one included. */
  readonly attempts: number
  readonly reason: GiveUpReason
  readonly lastError: unknown
}

/**
 * The `Cause` annotation key under which `retry` stores its `Report`.
 *
 * @example
 * ```ts
 * import { Cause, Context, Option } from "effect"
 * import { Retry } from "@hybrid/core"
 *
 * // what Retry.report reads: the cause's annotation under ReportKey
 * const attempts = (cause: Cause.Cause<unknown>) =>
 *   Option.map(Context.getOption(Cause.annotations(cause), Retry.ReportKey), (r) => r.attempts)
 * ```
 *
 * @since 0.1.0
 * @category annotations
 */
export class ReportKey extends Context.Service<ReportKey, Report>()("@hybrid/core/Retry/Report") {}

/**
 * The `Report` of the `retry` that produced this failure, if any.
 *
 * @example
 * ```ts
 * import { Effect, Option } from "effect"
 * import { Retry } from "@hybrid/core"
 *
 * const program = Effect.fail("timeout").pipe(
 *   Retry.retry(Retry.policy({ times: 2, base: "10 millis" })),
 *   Effect.tapCause((cause) =>
 *     Option.match(Retry.report(cause), {
 *       onNone: () => Effect.void,
 *       onSome: (r) => Effect.logWarning(`gave up after ${r.attempts} attempts (${r.reason})`)
 *     }))
 * )
 * ```
 *
 * @since 0.1.0
 * @category accessors
 */
export const report = <E>(cause: Cause.Cause<E>): Option.Option<Report> =>
  Context.getOption(Cause.annotations(cause), ReportKey)

/**
 * The `retryAfter` an error carries, directly or under `reason` (as Effect's
 * `RateLimiterError` and `CircuitBreakerError` do), if it is a `Duration` or a number of
 * milliseconds.
 *
 * @example
 * ```ts
 * import { Option } from "effect"
 * import { Retry } from "@hybrid/core"
 *
 * // a 429 that carries the server's Retry-After, in milliseconds
 * const delay = Retry.retryAfter({ _tag: "RateLimited", retryAfter: 1500 }) // Some(1.5 seconds)
 * const none = Option.isNone(Retry.retryAfter(new Error("boom"))) // true
 * ```
 *
 * @since 0.1.0
 * @category accessors
 */
export const retryAfter = (error: unknown): Option.Option<Duration.Duration> => {
  const read = (value: unknown): Option.Option<Duration.Duration> => {
    if (!Predicate.hasProperty(value, "retryAfter")) return Option.none()
    const after = value.retryAfter
    if (Duration.isDuration(after)) return Option.some(after)
    if (typeof after === "number" && Number.isFinite(after) && after >= 0) return Option.some(Duration.millis(after))
    return Option.none()
  }
  const direct = read(error)
  if (Option.isSome(direct)) return direct
  return Predicate.hasProperty(error, "reason") ? read(error.reason) : Option.none()
}

const isDeadlineExceeded = (error: unknown): boolean => Predicate.isTagged(error, "DeadlineExceeded")

/**
 * Builds a retry policy. Options are checked here; a bad one throws `InvalidOption`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Retry } from "@hybrid/core"
 *
 * // up to 4 retries: ~100, 200, 400, 800 ms (full jitter), never waiting more than 2 s at once
 * const policy = Retry.policy({ times: 4, base: "100 millis", cap: "2 seconds" })
 * const flaky = Effect.fail("503").pipe(Retry.retry(policy))
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const policy = <E = unknown>(opts: PolicyOptions<E> = {}): Policy<E> => {
  const where = "Retry.policy"
  const settings: Settings<E> = {
    times: options.integer(where, "times", opts.times ?? 3, 0),
    base: options.duration(where, "base", opts.base ?? 100),
    factor: options.finite(where, "factor", opts.factor ?? 2, 1),
    cap: options.duration(where, "cap", opts.cap ?? 30_000),
    jitter: options.oneOf(where, "jitter", opts.jitter ?? "full", ["full", "equal", "decorrelated", "none"]),
    maxElapsed: opts.maxElapsed === undefined ? undefined : options.duration(where, "maxElapsed", opts.maxElapsed),
    retryable: opts.while ?? ((error) => !isDeadlineExceeded(error))
  }
  options.ordered(where, "base", settings.base, "cap", settings.cap)
  const schedule = Schedule.fromStepWithMetadata(Effect.sync(() => {
    const state = makeState(settings.base)
    let previousDelay = 0
    return (meta: Schedule.InputMetadata<E>) =>
      Effect.gen(function*() {
        const deadline = yield* Deadline.Current
        const u = yield* Random.next
        const decision = decide(settings, state, {
          error: meta.input,
          attempt: meta.attempt,
          now: meta.now,
          elapsed: meta.elapsed,
          // the schedule sees step times only: the first attempt's duration is unknown
          attemptMillis: meta.attempt === 1 ? 0 : Math.max(0, meta.elapsedSincePrevious - previousDelay),
          deadline,
          u
        })
        if (decision._tag === "GiveUp") return yield* Cause.done(decision)
        previousDelay = Duration.toMillis(decision.delay)
        return [decision, decision.delay] as [Decision, Duration.Duration]
      })
  }))
  return Object.assign(schedule, { settings })
}

interface State {
  previous: number
}

const makeState = (base: number): State => ({ previous: base })

interface Input<E> {
  readonly error: E
  /** Attempts made so far, the failed one included. */
  readonly attempt: number
  readonly now: number
  /** Milliseconds since the first attempt started. */
  readonly elapsed: number
  /** How long the failed attempt took: a retry is expected to take as long. */
  readonly attemptMillis: number
  readonly deadline: number | undefined
  /** A uniform random number in [0, 1). */
  readonly u: number
}

/** The one place where retry decisions are made, for `policy` and `retry` alike. */
const decide = <E>(settings: Settings<E>, state: State, input: Input<E>): Decision => {
  const giveUp = (reason: GiveUpReason): Decision => ({ _tag: "GiveUp", attempt: input.attempt, reason })
  if (!settings.retryable(input.error)) return giveUp("not-retryable")
  if (input.attempt > settings.times) return giveUp("exhausted")
  const { base, cap, factor } = settings
  const exp = Math.min(cap, base * Math.pow(factor, input.attempt - 1))
  let delay: number
  switch (settings.jitter) {
    case "none":
      delay = exp
      break
    case "full":
      delay = input.u * exp
      break
    case "equal":
      delay = exp / 2 + input.u * (exp / 2)
      break
    case "decorrelated": {
      const upper = Math.max(base, state.previous * 3)
      delay = Math.min(cap, base + input.u * (upper - base))
      break
    }
  }
  delay = Math.round(delay)
  const after = retryAfter(input.error)
  if (Option.isSome(after)) {
    // Every caller told "retry after 2 s" would otherwise come back at the same instant
    // and be refused together again: wait the server's time, plus the jittered backoff.
    const wait = Math.ceil(Duration.toMillis(after.value))
    delay = settings.jitter === "none" ? Math.max(delay, wait) : wait + delay
  }
  if (settings.maxElapsed !== undefined && input.elapsed + delay > settings.maxElapsed) return giveUp("max-elapsed")
  // an attempt due to end exactly at the deadline loses the race with it: require strictly before
  if (input.deadline !== undefined && input.now + delay + input.attemptMillis >= input.deadline) {
    return giveUp("deadline")
  }
  state.previous = delay
  return { _tag: "Retry", attempt: input.attempt, delay: Duration.millis(delay) }
}

/**
 * A retry budget shared by many callers: retries are allowed only up to `ratio` of the
 * first attempts seen in the last `window`, plus `minPerSecond` retries per second, so a
 * failing dependency cannot cause a retry storm (Finagle's `RetryBudget`, gRPC's retry
 * throttling). On a shared store (`RedisLimit.budgetStore`, or `SharedBudgetStore`) the
 * counts are the whole fleet's: eight replicas together retry at most `ratio` of their
 * combined traffic, not eight times the floor.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Retry } from "@hybrid/core"
 *
 * const program = Effect.gen(function*() {
 *   const budget: Retry.Budget = yield* Retry.budget({ ratio: 0.1, minPerSecond: 1 })
 *   return yield* budget.available // 10: the floor of 1 per second over the 10 s window
 * })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Budget {
  /** Retries the budget would allow right now (`NaN` when its store fails). */
  readonly available: Effect.Effect<number>
  /** The budget's name in a shared store. */
  readonly key: string
  /** Counts one first attempt (a store failure is logged once, and the attempt not counted). */
  readonly deposit: Effect.Effect<void>
  /** Takes one retry if the window has one to spare; a store failure refuses it (fail closed). */
  readonly withdraw: Effect.Effect<boolean>
}

/**
 * The options of `budget`: retries allowed per first attempt, a floor per second, and the
 * window they are counted over.
 *
 * @example
 * ```ts
 * import type { Retry } from "@hybrid/core"
 *
 * const tenPercent: Retry.BudgetOptions = { ratio: 0.1, minPerSecond: 1, window: "10 seconds", key: "llm-retries" }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface BudgetOptions<R = never> {
  /** Retries allowed per first attempt, in [0, 1]. */
  readonly ratio: number
  /** Retries per second always allowed, whatever the traffic (for the whole fleet on a shared store). */
  readonly minPerSecond: number
  /** How far back attempts and retries are counted (in 10 buckets). Default 10 s. */
  readonly window?: Duration.Input | undefined
  /** The budget's name in a shared store (required with `store`). Default: unique to this budget. */
  readonly key?: string | undefined
  /**
   * Where the counts live: `memoryBudgetStore` (the default, this process) or a shared
   * one such as `RedisLimit.budgetStore()` (every process using the same `key`).
   * Without `store`, a keyed budget uses `SharedBudgetStore` when it is provided.
   */
  readonly store?: BudgetStore<R> | undefined
}

/**
 * One budget, as `Retry.budget` asks a `BudgetStore` for it.
 *
 * @example
 * ```ts
 * import type { Retry } from "@hybrid/core"
 *
 * const spec: Retry.BudgetSpec = { key: "llm-retries", ratio: 0.1, minPerSecond: 1, windowMillis: 10_000 }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface BudgetSpec {
  readonly key: string
  readonly ratio: number
  readonly minPerSecond: number
  readonly windowMillis: number
}

/**
 * A budget's counts in a `BudgetStore`: each operation is one atomic step (one script on
 * Redis). Counting is by buckets of a tenth of the window (see `Retry.budget`).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Retry } from "@hybrid/core"
 *
 * const program = Effect.gen(function*() {
 *   const ledger: Retry.BudgetLedger = yield* Retry.memoryBudgetStore.ledger({ key: "k", ratio: 0.5, minPerSecond: 0, windowMillis: 1_000 })
 *   yield* ledger.deposit
 *   yield* ledger.deposit
 *   return yield* ledger.withdraw // true: 2 attempts × 0.5 earn one retry
 * })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface BudgetLedger {
  readonly deposit: Effect.Effect<void, LimitStoreError>
  readonly withdraw: Effect.Effect<boolean, LimitStoreError>
  readonly available: Effect.Effect<number, LimitStoreError>
}

/**
 * Where a `Retry.budget` keeps its counts: `memoryBudgetStore` in this process,
 * `RedisLimit.budgetStore` in Redis for a fleet.
 *
 * @example
 * ```ts
 * import type { Retry } from "@hybrid/core"
 *
 * const describe = (store: Retry.BudgetStore<unknown>): string => `retry counts kept in ${store.name}`
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface BudgetStore<R = never> {
  /** Names the store in errors and warnings. */
  readonly name: string
  readonly ledger: (spec: BudgetSpec) => Effect.Effect<BudgetLedger, never, R>
}

/**
 * The default budget store: counts in this process (`Clock` time, so `TestClock` drives it).
 *
 * @example
 * ```ts
 * import { Retry } from "@hybrid/core"
 *
 * const program = Retry.budget({ ratio: 0.2, minPerSecond: 1, store: Retry.memoryBudgetStore })
 * ```
 *
 * @since 0.1.0
 * @category stores
 */
export const memoryBudgetStore: BudgetStore = {
  name: "memory",
  ledger: (spec) =>
    Effect.sync(() => {
      const counts = new retryBudget.Counts(spec)
      return {
        deposit: Effect.flatMap(Clock.currentTimeMillis, (now) => Effect.sync(() => counts.deposit(now))),
        withdraw: Effect.flatMap(Clock.currentTimeMillis, (now) => Effect.sync(() => counts.withdraw(now))),
        available: Effect.flatMap(Clock.currentTimeMillis, (now) => Effect.sync(() => counts.available(now)))
      }
    })
}

/**
 * The store every `Retry.budget` **with a `key`** and no `store` option uses when this
 * service is provided (e.g. by `RedisLimit.layer`, or the agent's `Fleet.layer`):
 * how an application shares its named retry budgets without passing a store to each.
 *
 * @example
 * ```ts
 * import { Effect, Layer } from "effect"
 * import { Retry } from "@hybrid/core"
 *
 * const program = Retry.budget({ ratio: 0.1, minPerSecond: 1, key: "llm-retries" }).pipe(
 *   Effect.provide(Layer.succeed(Retry.SharedBudgetStore, Retry.memoryBudgetStore))
 * )
 * ```
 *
 * @since 0.1.0
 * @category services
 */
export class SharedBudgetStore extends Context.Service<SharedBudgetStore, BudgetStore>()("@hybrid/core/Retry/SharedBudgetStore") {}

let budgetKeys = 0

/**
 * Creates a retry budget to share between `retry` calls (`retry(policy, { budget })`):
 * in any window (sliding by a tenth of `window`), retries ≤ `ratio` × first attempts +
 * `minPerSecond` × `window` — across every process sharing `store` and `key`. Retries it
 * refuses fail with the original error (report reason `"budget"`). When a shared store
 * fails, retries are refused (fail closed: an outage is no time for extra load) and one
 * warning is logged; `RedisLimit.budgetStore`'s fallback counts locally instead.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Retry } from "@hybrid/core"
 *
 * declare const callApi: Effect.Effect<string, { readonly _tag: "Http503" }>
 *
 * const program = Effect.gen(function*() {
 *   const budget = yield* Retry.budget({ ratio: 0.1, minPerSecond: 1, key: "api-retries" })
 *   return yield* callApi.pipe(Retry.retry(Retry.policy({ times: 3 }), { budget }))
 * })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const budget = <R = never>(opts: BudgetOptions<R>): Effect.Effect<Budget, never, R> => {
  const where = "Retry.budget"
  const ratio = options.ratio(where, "ratio", opts.ratio)
  const minPerSecond = options.finite(where, "minPerSecond", opts.minPerSecond)
  const windowMillis = options.duration(where, "window", opts.window ?? 10_000, true)
  if (opts.store !== undefined && opts.store !== memoryBudgetStore && opts.key === undefined) {
    options.reject(where, "key", undefined, "a key naming the shared budget (with store)")
  }
  const key = opts.key ?? `@hybrid/core/Retry.budget/${++budgetKeys}`
  return Effect.gen(function*() {
    const shared = opts.store === undefined && opts.key !== undefined
      ? yield* Effect.serviceOption(SharedBudgetStore)
      : Option.none()
    const store: BudgetStore<R> = opts.store ?? (Option.isSome(shared) ? shared.value : memoryBudgetStore as BudgetStore<R>)
    const ledger = yield* store.ledger({ key, ratio, minPerSecond, windowMillis })
    let warned = false
    const warnOnce = (error: LimitStoreError) =>
      Effect.suspend(() => {
        if (warned) return Effect.void
        warned = true
        return Effect.logWarning(`Retry.budget ${JSON.stringify(key)}: ${error.message}; refusing retries while the store fails`)
      })
    return {
      key,
      available: Effect.catch(ledger.available, (error) => Effect.as(warnOnce(error), Number.NaN)),
      deposit: Effect.catch(ledger.deposit, warnOnce),
      withdraw: Effect.catch(ledger.withdraw, (error) => Effect.as(warnOnce(error), false))
    }
  })
}

/**
 * Runs `self`, retrying failures as `policy` says (defects and interruptions are never
 * retried). Gives up with the last error unchanged, its `Cause` annotated with a
 * `Report`; a retry that could not finish before the current deadline is not started.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Deadline, Retry } from "@hybrid/core"
 *
 * declare const fetchQuote: Effect.Effect<string, { readonly _tag: "Http"; readonly status: number }>
 *
 * const quote = fetchQuote.pipe(
 *   Retry.retry(Retry.policy({ times: 3, while: (e: { readonly status: number }) => e.status >= 500 })),
 *   Deadline.within("3 seconds") // no retry starts that could not finish in time
 * )
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const retry = <E2>(policy: Policy<E2>, opts?: { readonly budget?: Budget | undefined }) =>
<A, E extends E2, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.gen(function*() {
    const settings = policy.settings as Settings<E>
    const state = makeState(settings.base)
    const budget = opts?.budget
    const first = yield* Clock.currentTimeMillis
    if (budget !== undefined) yield* budget.deposit
    let attempts = 0
    while (true) {
      const started = yield* Clock.currentTimeMillis
      attempts++
      const exit = yield* Effect.exit(self)
      if (Exit.isSuccess(exit)) return exit.value
      const failure = exit.cause.reasons.find(Cause.isFailReason)
      if (failure === undefined || Cause.hasDies(exit.cause) || Cause.hasInterrupts(exit.cause)) {
        return yield* Effect.failCause(exit.cause)
      }
      const now = yield* Clock.currentTimeMillis
      const decision = decide(settings, state, {
        error: failure.error,
        attempt: attempts,
        now,
        elapsed: now - first,
        attemptMillis: now - started,
        deadline: yield* Deadline.Current,
        u: yield* Random.next
      })
      const reason: GiveUpReason | undefined = decision._tag === "GiveUp"
        ? decision.reason
        : budget !== undefined && !(yield* budget.withdraw)
        ? "budget"
        : undefined
      if (reason !== undefined) {
        yield* Effect.annotateCurrentSpan({ "retry.attempts": attempts, "retry.gaveUp": reason })
        const annotated = Cause.annotate(exit.cause, Context.make(ReportKey, { attempts, reason, lastError: failure.error }))
        return yield* Effect.failCause(annotated)
      }
      if (decision._tag === "Retry") yield* Effect.sleep(decision.delay)
    }
  }).pipe(Effect.withSpan("Retry.retry"))
