/**
 * Limits on how much runs at once and how fast — asyncio's `Semaphore`, a bulkhead,
 * RPM/TPM rate limits, and a concurrency limit that finds its own level.
 *
 * Every constructor returns an `Effect` of a **limiter**: a function that wraps an effect
 * (`effect.pipe(limiter)`), sharing its state between every call it wraps. Build it once,
 * use it everywhere the limit applies.
 *
 * | Limit                      | admits                                    | past the limit              |
 * |----------------------------|-------------------------------------------|-----------------------------|
 * | `concurrency(n)`           | `n` at a time                             | waits                       |
 * | `bulkhead({ limit, queue })` | `limit` at a time, `queue` waiting      | fails `BulkheadFull` at once |
 * | `rate({ limit, window })`  | `limit` tokens per `window`, `cost` each  | waits its turn              |
 * | `adaptive({ min, max })`   | a limit that grows on success, shrinks on overload | waits              |
 *
 * Underneath: `Semaphore` (concurrency, bulkhead, adaptive — resized as the limit moves)
 * and `effect/persistence`'s `RateLimiter` (rate; an in-memory store unless a
 * `RateLimiter` service is provided, e.g. on Redis, to share a limit between processes).
 * Written by hand: the bulkhead's queue bound and the AIMD controller of `adaptive`
 * (after Netflix's concurrency-limits), which Effect does not have.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Gather, Limit } from "@hybrid/core"
 *
 * declare const fetchPage: (url: string) => Effect.Effect<string>
 * declare const urls: ReadonlyArray<string>
 *
 * const program = Effect.gen(function*() {
 *   const limit = yield* Limit.concurrency(5)                  // at most 5 requests in flight
 *   const rpm = yield* Limit.rate({ limit: 60, window: "1 minute" })
 *   return yield* Gather.all(urls.map((url) => fetchPage(url).pipe(limit, rpm)))
 * })
 * ```
 *
 * @since 0.1.0
 */
import { Clock, Context, Duration, Effect, Exit, Metric, Option, Predicate, Schema, Semaphore } from "effect"
import { RateLimiter } from "effect/persistence"
import { InvalidOption } from "./InvalidOption.ts"
import * as learnedRate from "./internal/learnedRate.ts"
import * as options from "./internal/options.ts"
import { retryAfter } from "./Retry.ts"

/**
 * Wraps effects so they run under the limit. `E` is what the limit itself can fail with.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Limit } from "@hybrid/core"
 *
 * const program = Effect.gen(function*() {
 *   const limit: Limit.Limiter = yield* Limit.concurrency(4)
 *   yield* Effect.forEach([1, 2, 3, 4, 5, 6], (n) => limit(Effect.succeed(n)), { concurrency: "unbounded" })
 *   return yield* limit.running // 0 once they are done
 * })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Limiter<E = never> {
  <A, E1, R>(self: Effect.Effect<A, E1, R>): Effect.Effect<A, E | E1, R>
  /** Calls running under the limit right now. */
  readonly running: Effect.Effect<number>
  /** Calls waiting for their turn right now. */
  readonly waiting: Effect.Effect<number>
}

/**
 * A bulkhead was full: `limit` calls running and `queue` waiting.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Limit } from "@hybrid/core"
 *
 * const program = Effect.gen(function*() {
 *   const bulkhead = yield* Limit.bulkhead({ limit: 10, queue: 20 })
 *   return yield* bulkhead(Effect.succeed("report")).pipe(
 *     Effect.catchTag("BulkheadFull", (e) => Effect.succeed(`busy (${e.limit} running, ${e.queue} waiting), try later`))
 *   )
 * })
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class BulkheadFull extends Schema.TaggedError<BulkheadFull>()("BulkheadFull", {
  limit: Schema.Number,
  queue: Schema.Number
}) {
  override get message(): string {
    return `bulkhead full: ${this.limit} running and ${this.queue} waiting`
  }
}

/**
 * One call asked a rate limit for more tokens than a whole window holds: it could never run.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Limit } from "@hybrid/core"
 *
 * const program = Effect.gen(function*() {
 *   const tokens = yield* Limit.rate({ limit: 10_000, window: "1 minute" })
 *   // one call asking for more than a whole minute allows could never run
 *   return yield* tokens.withCost(50_000)(Effect.succeed("summary")).pipe(
 *     Effect.catchTag("CostExceedsLimit", (e) => Effect.succeed(`too large: ${e.cost} > ${e.limit}`))
 *   )
 * })
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class CostExceedsLimit extends Schema.TaggedError<CostExceedsLimit>()("CostExceedsLimit", {
  cost: Schema.Number,
  limit: Schema.Number
}) {
  override get message(): string {
    return `a call costing ${this.cost} tokens can never fit a limit of ${this.limit} per window`
  }
}

/**
 * A shared rate-limit store (e.g. Redis) failed or did not answer within its timeout:
 * names the store, the operation (`"take"`, `"reconcile"`, `"usage"`), the limit's key
 * and why.
 *
 * @example
 * ```ts
 * import { Limit } from "@hybrid/core"
 *
 * const error = new Limit.LimitStoreError({ store: "redis", operation: "take", key: "openai-tpm", reason: "timed out after 500 ms" })
 * console.log(error.message) // rate-limit store redis: take on "openai-tpm" failed: timed out after 500 ms
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class LimitStoreError extends Schema.TaggedError<LimitStoreError>()("LimitStoreError", {
  store: Schema.String,
  operation: Schema.String,
  key: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `rate-limit store ${this.store}: ${this.operation} on ${JSON.stringify(this.key)} failed: ${this.reason}`
  }
}

interface Counters {
  running: number
  waiting: number
}

const makeLimiter = <E>(
  counters: Counters,
  wrap: <A, E1, R>(self: Effect.Effect<A, E1, R>) => Effect.Effect<A, E | E1, R>
): Limiter<E> =>
  Object.assign(wrap, {
    running: Effect.sync(() => counters.running),
    waiting: Effect.sync(() => counters.waiting)
  })

/** Runs `self` under one permit of `semaphore`, keeping the counters. */
const withPermit = <A, E, R>(semaphore: Semaphore.Semaphore, counters: Counters, self: Effect.Effect<A, E, R>) =>
  Effect.suspend(() => {
    counters.waiting++
    let admitted = false
    return Semaphore.withPermit(
      semaphore,
      Effect.suspend(() => {
        admitted = true
        counters.waiting--
        counters.running++
        return Effect.ensuring(self, Effect.sync(() => counters.running--))
      })
    ).pipe(Effect.onInterrupt(() => Effect.sync(() => admitted ? undefined : counters.waiting--)))
  })

/**
 * At most `n` wrapped calls run at once; the others wait (a semaphore as a combinator).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Limit } from "@hybrid/core"
 *
 * declare const fetchUser: (id: number) => Effect.Effect<string>
 *
 * // at most 5 requests to the user service at once, however many callers share the limit
 * const program = Effect.gen(function*() {
 *   const limit = yield* Limit.concurrency(5)
 *   return yield* Effect.forEach([1, 2, 3, 4, 5, 6, 7, 8], (id) => limit(fetchUser(id)), { concurrency: "unbounded" })
 * })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const concurrency = (n: number): Effect.Effect<Limiter> => {
  options.integer("Limit.concurrency", "n", n)
  return Effect.map(Semaphore.make(n), (semaphore) => {
    const counters: Counters = { running: 0, waiting: 0 }
    return makeLimiter(counters, (self) => withPermit(semaphore, counters, self))
  })
}

/**
 * At most `limit` calls run and `queue` wait; any more fail at once with `BulkheadFull`
 * (cockatiel's bulkhead): a slow dependency cannot pile up unbounded work.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Limit } from "@hybrid/core"
 *
 * declare const render: (page: string) => Effect.Effect<string>
 *
 * // 4 renders at once, 8 waiting; the 13th fails at once with BulkheadFull instead of piling up
 * const program = Effect.gen(function*() {
 *   const bulkhead = yield* Limit.bulkhead({ limit: 4, queue: 8 })
 *   return yield* bulkhead(render("/home"))
 * })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const bulkhead = (opts: { readonly limit: number; readonly queue?: number | undefined }): Effect.Effect<
  Limiter<BulkheadFull>
> => {
  const limit = options.integer("Limit.bulkhead", "limit", opts.limit)
  const queue = options.integer("Limit.bulkhead", "queue", opts.queue ?? 0, 0)
  return Effect.map(Semaphore.make(limit), (semaphore) => {
    const counters: Counters = { running: 0, waiting: 0 }
    return makeLimiter<BulkheadFull>(counters, <A, E, R>(self: Effect.Effect<A, E, R>) =>
      Effect.suspend((): Effect.Effect<A, E | BulkheadFull, R> =>
        counters.running + counters.waiting >= limit + queue
          ? Effect.fail(new BulkheadFull({ limit, queue }))
          : withPermit(semaphore, counters, self)
      ))
  })
}

/**
 * A rate limit: wrapped calls consume `cost` tokens of `limit` per `window`, waiting for
 * their turn past it. `withCost(tokens)` charges one call a different cost (tokens per
 * minute); `consume(tokens)` charges without wrapping.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Limit } from "@hybrid/core"
 *
 * const program = Effect.gen(function*() {
 *   const tpm: Limit.RateLimit = yield* Limit.rate({ limit: 90_000, window: "1 minute" })
 *   const reservation = yield* tpm.reserve(1_200)   // the estimate
 *   yield* tpm.reconcile(reservation, 800)          // what the call really used
 *   return yield* tpm.usage                         // 800
 * })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface RateLimit extends Limiter<RateLimitError> {
  readonly withCost: (
    tokens: number
  ) => <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E | RateLimitError, R>
  readonly consume: (tokens: number) => Effect.Effect<void, RateLimitError>
  /**
   * Waits until `tokens` fit, takes them, and returns the reservation, to `reconcile` once
   * the real cost is known (an LLM call reserves its estimated tokens, then reconciles
   * with the `usage` it reports). On a shared store the reservation carries a lease: if
   * it is not reconciled within it (its process died), the store frees it.
   */
  readonly reserve: (tokens: number) => Effect.Effect<Reservation, RateLimitError>
  /**
   * Sets a reservation's cost to what was really used. An overrun is charged at once (it
   * delays later callers); a refund frees the difference at once with the default
   * `"sliding-window"` algorithm — Effect's algorithms cannot give tokens back, so there
   * a refund is a no-op.
   */
  readonly reconcile: (reservation: Reservation, used: number) => Effect.Effect<void, RateLimiter.RateLimiterError | LimitStoreError>
  /** Tokens counted in the window that ends now (`"sliding-window"`; `NaN` for Effect's algorithms or when the store fails). */
  readonly inWindow: Effect.Effect<number>
  /**
   * Tokens counted in the window that ends now, read from the store (across every process
   * sharing it); `NaN` for Effect's algorithms. Also exported as the gauge `usageMetric`.
   */
  readonly usage: Effect.Effect<number, LimitStoreError>
  readonly limit: number
  readonly window: Duration.Duration
  /** The limit's key (its name in a shared store and the `limit` attribute of `usageMetric`). */
  readonly key: string
}

/**
 * What a `RateLimit` can fail with: Effect's `RateLimiter` failed, a call's cost can never
 * fit, or a shared store failed.
 *
 * @example
 * ```ts
 * import type { Limit } from "@hybrid/core"
 *
 * const describe = (error: Limit.RateLimitError): string => error._tag
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export type RateLimitError = RateLimiter.RateLimiterError | CostExceedsLimit | LimitStoreError

/**
 * Tokens taken from a `RateLimit`, reconcilable with the real cost.
 *
 * @example
 * ```ts
 * import type { Limit } from "@hybrid/core"
 *
 * const estimated = (reservation: Limit.Reservation): number => reservation.tokens
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Reservation {
  readonly tokens: number
}

/**
 * The options of `rate`: how many tokens per window, the algorithm, a call's cost, and an
 * optional shared store.
 *
 * @example
 * ```ts
 * import type { Limit } from "@hybrid/core"
 *
 * const rpm: Limit.RateOptions = { limit: 60, window: "1 minute", cost: 1 }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface RateOptions<R = never> {
  /** Tokens per window. */
  readonly limit: number
  readonly window: Duration.Input
  /**
   * `"sliding-window"` (the default): in **any** interval of length `window`, at most
   * `limit` tokens are consumed — exact, in this process, or across every process sharing
   * `store`. `"fixed-window"` and `"token-bucket"` are Effect's `RateLimiter` algorithms
   * (shareable between processes through its store); they average `limit` per `window`
   * but allow bursts, so a window can see up to twice the limit.
   */
  readonly algorithm?: "sliding-window" | "fixed-window" | "token-bucket" | undefined
  /** Tokens one wrapped call consumes. Default 1. */
  readonly cost?: number | undefined
  /**
   * The limiter key, naming the limit in a shared store (required with `store`) or a
   * shared `RateLimiter`. Default: unique to this limiter.
   */
  readonly key?: string | undefined
  /**
   * Added to the window when admitting (`"sliding-window"`): the time between this
   * limiter's admission and the upstream's count of it varies (network, event-loop
   * delays), so a limit used to the last token would meet an upstream whose window has
   * not yet freed the slot. Default 0.
   */
  readonly margin?: Duration.Input | undefined
  /**
   * Where the sliding window's log lives: `memoryStore` (the default, this process) or a
   * shared store such as `RedisLimit.store(...)` (every process using the same `key`).
   */
  readonly store?: RateStore<R> | undefined
}

/**
 * A sliding-window log: where `Limit.rate` keeps the tokens it admitted. `memoryStore`
 * keeps them in this process; `RedisLimit.store` in Redis, for a fleet.
 *
 * @example
 * ```ts
 * import type { Limit } from "@hybrid/core"
 *
 * const describe = (store: Limit.RateStore<unknown>): string => `tokens kept in ${store.name}`
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface RateStore<R = never> {
  /** Names the store in errors and in the `store` attribute of `usageMetric`. */
  readonly name: string
  /** The log of one limit. */
  readonly ledger: (spec: RateSpec) => Effect.Effect<RateLedger, never, R>
}

/**
 * One limit, as `Limit.rate` asks a `RateStore` for it.
 *
 * @example
 * ```ts
 * import type { Limit } from "@hybrid/core"
 *
 * const spec: Limit.RateSpec = { key: "openai-tpm", limit: 90_000, windowMillis: 60_000 }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface RateSpec {
  readonly key: string
  readonly limit: number
  readonly windowMillis: number
}

/**
 * A limit's log in a `RateStore`. `take` waits until `tokens` fit and records them,
 * returning the entry (with `usage`, the tokens in the window just after it); `hold`
 * marks a reservation (to be reconciled; a shared store gives it a lease).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Limit } from "@hybrid/core"
 *
 * const program = Effect.gen(function*() {
 *   const ledger: Limit.RateLedger = yield* Limit.memoryStore.ledger({ key: "k", limit: 10, windowMillis: 1_000 })
 *   const entry = yield* ledger.take(4, true)
 *   yield* ledger.reconcile(entry, 1)
 *   return yield* ledger.usage // 1
 * })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface RateLedger {
  readonly take: (tokens: number, hold: boolean) => Effect.Effect<RateEntry, LimitStoreError>
  readonly reconcile: (entry: RateEntry, used: number) => Effect.Effect<void, LimitStoreError>
  readonly usage: Effect.Effect<number, LimitStoreError>
}

/**
 * A recorded admission: when (`at`, the store's clock, in milliseconds), how many tokens,
 * and the window's usage right after it.
 *
 * @example
 * ```ts
 * import type { Limit } from "@hybrid/core"
 *
 * const admittedAt = (entry: Limit.RateEntry): number => entry.at
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface RateEntry {
  readonly at: number
  readonly tokens: number
  readonly usage: number
}

/**
 * The tokens each sliding-window rate limit counts in its current window, as a gauge
 * (`hybrid_limit_usage`, attributes `limit` = the key and `store`), set at every
 * admission and every `usage` read.
 *
 * @example
 * ```ts
 * import { Effect, Metric } from "effect"
 * import { Limit } from "@hybrid/core"
 *
 * const program = Effect.gen(function*() {
 *   const rpm = yield* Limit.rate({ limit: 60, window: "1 minute", key: "search-rpm" })
 *   yield* rpm.consume(1)
 *   return yield* Metric.snapshot // includes hybrid_limit_usage{limit="search-rpm",store="memory"} = 1
 * })
 * ```
 *
 * @since 0.1.0
 * @category metrics
 */
export const usageMetric = Metric.gauge("hybrid_limit_usage", {
  description: "tokens a sliding-window rate limit counts in its current window"
})

/**
 * The store every `Limit.rate` **with a `key`** and no `store` option uses when this
 * service is provided — how an application shares all its named limits through one
 * Redis (`RedisLimit.layer`) without passing a store to each. Unkeyed limits stay in
 * memory.
 *
 * @example
 * ```ts
 * import { Effect, Layer } from "effect"
 * import { Limit } from "@hybrid/core"
 *
 * const program = Limit.rate({ limit: 60, window: "1 minute", key: "search-rpm" }).pipe(
 *   Effect.provide(Layer.succeed(Limit.SharedRateStore, Limit.memoryStore))
 * )
 * ```
 *
 * @since 0.1.0
 * @category services
 */
export class SharedRateStore extends Context.Service<SharedRateStore, RateStore>()("@hybrid/core/Limit/SharedRateStore") {}

let rateKeys = 0

/**
 * Builds a rate limit: the exact sliding window (in memory, or in a shared `store`), or
 * one of `effect/persistence`'s `RateLimiter` algorithms (in memory, unless a
 * `RateLimiter` service is provided).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Limit } from "@hybrid/core"
 *
 * declare const callApi: Effect.Effect<string>
 *
 * const program = Effect.gen(function*() {
 *   const rpm = yield* Limit.rate({ limit: 60, window: "1 minute" })
 *   return yield* callApi.pipe(rpm)
 * })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const rate = <R = never>(opts: RateOptions<R>): Effect.Effect<RateLimit, never, R> => {
  const where = "Limit.rate"
  const limit = options.integer(where, "limit", opts.limit)
  const windowMillis = options.duration(where, "window", opts.window, true)
  const algorithm = options.oneOf(where, "algorithm", opts.algorithm ?? "sliding-window", [
    "sliding-window",
    "fixed-window",
    "token-bucket"
  ])
  const cost = options.finite(where, "cost", opts.cost ?? 1, 0)
  if (cost > limit) options.ordered(where, "cost", cost, "limit", limit)
  if (opts.store !== undefined && algorithm !== "sliding-window") {
    options.oneOf(where, "algorithm", algorithm, ["sliding-window"])
  }
  if (opts.store !== undefined && opts.store !== memoryStore && opts.key === undefined) {
    throw new InvalidOption({ where, option: "key", value: "undefined", expected: "a key naming the shared limit (with store)" })
  }
  const margin = options.duration(where, "margin", opts.margin ?? 0)
  const key = opts.key ?? `@hybrid/core/Limit.rate/${++rateKeys}`
  const window = Duration.millis(windowMillis)
  return Effect.gen(function*() {
    const shared = opts.store === undefined && opts.key !== undefined
      ? yield* Effect.serviceOption(SharedRateStore)
      : Option.none()
    const store: RateStore<R> = opts.store ?? (Option.isSome(shared) ? shared.value : memoryStore as RateStore<R>)
    const ledger: AnyLedger = algorithm === "sliding-window"
      ? yield* store.ledger({ key, limit, windowMillis: windowMillis + margin })
      : yield* effectRateLimiter(key, limit, window, algorithm)
    const gauge = Metric.withAttributes(usageMetric, { limit: key, store: store.name })
    const record = (usage: number) => Number.isNaN(usage) ? Effect.void : Metric.update(gauge, usage)
    const counters: Counters = { running: 0, waiting: 0 }
    const take = (tokens: number, hold: boolean): Effect.Effect<RateEntry, RateLimitError> =>
      !(tokens >= 0) || tokens > limit
        ? Effect.fail(new CostExceedsLimit({ cost: tokens, limit }))
        : tokens === 0
        ? Effect.succeed({ at: 0, tokens: 0, usage: Number.NaN })
        : Effect.tap(ledger.take(tokens, hold), (entry) => record(entry.usage))
    const consume = (tokens: number) => Effect.asVoid(take(tokens, false))
    const withCost = (tokens: number) => <A, E, R1>(self: Effect.Effect<A, E, R1>) =>
      Effect.suspend(() => {
        counters.waiting++
        return consume(tokens).pipe(
          Effect.ensuring(Effect.sync(() => counters.waiting--)),
          Effect.andThen(Effect.suspend(() => {
            counters.running++
            return Effect.ensuring(self, Effect.sync(() => counters.running--))
          }))
        )
      })
    const usage = Effect.tap(ledger.usage, record)
    return Object.assign(makeLimiter<RateLimitError>(counters, withCost(cost)), {
      withCost,
      consume,
      reserve: (tokens: number): Effect.Effect<Reservation, RateLimitError> => take(tokens, true),
      reconcile: (reservation: Reservation, used: number) =>
        (reservation as RateEntry).at === 0 && reservation.tokens === 0 && used <= 0
          ? Effect.void
          : ledger.reconcile(reservation as RateEntry, used),
      inWindow: Effect.orElseSucceed(usage, () => Number.NaN),
      usage,
      limit,
      window,
      key
    })
  })
}

/** A store's ledger, or Effect's `RateLimiter` behind the same shape. */
interface AnyLedger {
  readonly take: (tokens: number, hold: boolean) => Effect.Effect<RateEntry, LimitStoreError | RateLimiter.RateLimiterError>
  readonly reconcile: (entry: RateEntry, used: number) => Effect.Effect<void, LimitStoreError | RateLimiter.RateLimiterError>
  readonly usage: Effect.Effect<number, LimitStoreError>
}

/**
 * Effect's `RateLimiter` (`"fixed-window"` or `"token-bucket"`), in memory unless a
 * `RateLimiter` service is provided.
 */
const effectRateLimiter = (
  key: string,
  limit: number,
  window: Duration.Duration,
  algorithm: "fixed-window" | "token-bucket"
) =>
  Effect.gen(function*() {
    const provided = yield* Effect.serviceOption(RateLimiter.RateLimiter)
    const limiter = Option.isSome(provided)
      ? provided.value
      : yield* RateLimiter.make.pipe(Effect.provide(RateLimiter.layerStoreMemory))
    const charge = (tokens: number) => limiter.consume({ key, limit, window, algorithm, onExceeded: "delay", tokens })
    return {
      take: (tokens: number, _hold: boolean): Effect.Effect<RateEntry, RateLimiter.RateLimiterError> =>
        Effect.flatMap(charge(tokens), (result) =>
          Effect.as(
            Duration.isZero(result.delay) ? Effect.void : Effect.sleep(result.delay),
            { at: 0, tokens, usage: Number.NaN }
          )),
      // an overrun is charged without waiting (later callers wait for it); no refunds
      reconcile: (entry: RateEntry, used: number): Effect.Effect<void, RateLimiter.RateLimiterError> =>
        used > entry.tokens ? Effect.asVoid(charge(used - entry.tokens)) : Effect.void,
      usage: Effect.succeed(Number.NaN)
    }
  })

/** A reservation as the in-memory log keeps it: mutable, so a refund can shrink it in place. */
interface MemoryEntry {
  readonly at: number
  tokens: number
  usage: number
}

/**
 * The exact sliding-window log, in this process: a call is admitted at the first instant
 * when the tokens admitted in the preceding `window` plus its own fit in `limit`. Callers
 * are admitted one at a time, in arrival order; a reconciled entry changes in place (a
 * refund makes room at once). Written here because Effect's algorithms bound the average
 * rate, not every window, and cannot give tokens back. The default store of `Limit.rate`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Limit } from "@hybrid/core"
 *
 * const program = Limit.rate({ limit: 10, window: "1 second", store: Limit.memoryStore })
 * ```
 *
 * @since 0.1.0
 * @category stores
 */
export const memoryStore: RateStore = {
  name: "memory",
  ledger: ({ limit, windowMillis }) => slidingWindow(limit, windowMillis)
}

const slidingWindow = (limit: number, window: number): Effect.Effect<RateLedger> =>
  Effect.map(Semaphore.make(1), (turn) => {
    const log: Array<MemoryEntry> = []
    const prune = (now: number) => {
      while (log.length > 0 && log[0]!.at <= now - window) log.shift()
    }
    const inUse = () => log.reduce((sum, entry) => sum + entry.tokens, 0)
    const admit = (tokens: number) =>
      Effect.gen(function*() {
        while (true) {
          const now = yield* Clock.currentTimeMillis
          prune(now)
          let used = inUse()
          if (used + tokens <= limit) {
            const entry: MemoryEntry = { at: now, tokens, usage: used + tokens }
            log.push(entry)
            return entry as RateEntry
          }
          // wait until enough of the oldest entries have left the window
          let until = now
          for (const entry of log) {
            used -= entry.tokens
            until = entry.at + window
            if (used + tokens <= limit) break
          }
          // wake at least once a second: a refund may make room sooner
          yield* Effect.sleep(Math.max(1, Math.min(until - now, 1_000)))
        }
      })
    return {
      take: (tokens) => Semaphore.withPermit(turn, admit(tokens)),
      reconcile: (reservation, used) =>
        Effect.flatMap(Clock.currentTimeMillis, (now) =>
          Effect.sync(() => {
            const entry = reservation as MemoryEntry
            if (used <= entry.tokens || log.includes(entry)) entry.tokens = Math.max(0, used)
            else log.push({ at: now, tokens: used - entry.tokens, usage: Number.NaN }) // the entry left the window: charge the overrun now
          })),
      usage: Effect.map(Clock.currentTimeMillis, (now) => {
        prune(now)
        return inUse()
      })
    }
  })

/**
 * Whether an error says "the other side is overloaded": it carries a `retryAfter`, an
 * HTTP status 429 or 503 (`status`, or `response.status`), or is a timeout
 * (`TimeoutExceeded`, `DeadlineExceeded`, Effect's `TimeoutError`), a full bulkhead or a
 * rate limiter's refusal. The default signal of `adaptive`.
 *
 * @example
 * ```ts
 * import { Limit, Retry } from "@hybrid/core"
 *
 * // retry only what says "slow down": 429/503, Retry-After, timeouts, a full bulkhead
 * const policy = Retry.policy({ times: 5, while: Limit.isOverload })
 * const yes = Limit.isOverload({ status: 429 }) // true
 * const no = Limit.isOverload({ status: 404 }) // false
 * ```
 *
 * @since 0.1.0
 * @category predicates
 */
export const isOverload = (error: unknown): boolean => {
  if (Option.isSome(retryAfter(error))) return true
  const status = (value: unknown): unknown => Predicate.hasProperty(value, "status") ? value.status : undefined
  const code = status(error) ?? (Predicate.hasProperty(error, "response") ? status(error.response) : undefined)
  if (code === 429 || code === 503) return true
  return Predicate.isTagged(error, "TimeoutExceeded") || Predicate.isTagged(error, "DeadlineExceeded") ||
    Predicate.isTagged(error, "TimeoutError") || Predicate.isTagged(error, "BulkheadFull") ||
    Predicate.isTagged(error, "RateLimiterError")
}

/**
 * The options of `adaptive`: where the limit starts, its bounds, and what counts as an
 * overload signal.
 *
 * @example
 * ```ts
 * import { Limit } from "@hybrid/core"
 *
 * // start at 8 in flight, never below 2 or above 64; back off by 20 % on each overload signal
 * const options: Limit.AdaptiveOptions = { initial: 8, min: 2, max: 64, backoff: 0.8 }
 * const limiter = Limit.adaptive(options)
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface AdaptiveOptions {
  readonly initial: number
  readonly min: number
  readonly max: number
  /** Limit multiplier on an overload signal, in (0, 1). Default 0.9. */
  readonly backoff?: number | undefined
  /** A success slower than `latencyTolerance` × the fastest seen is an overload signal. Default 2. */
  readonly latencyTolerance?: number | undefined
  /** Which failures are overload signals. Default `isOverload`. */
  readonly isOverload?: ((error: unknown) => boolean) | undefined
}

/**
 * A concurrency limit that adjusts itself.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Limit } from "@hybrid/core"
 *
 * const program = Effect.gen(function*() {
 *   const limiter: Limit.AdaptiveLimiter = yield* Limit.adaptive({ initial: 4, min: 1, max: 32 })
 *   yield* limiter(Effect.succeed("ok"))
 *   return yield* limiter.limit // 4 or 5: it grows while calls succeed with the limit in use
 * })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface AdaptiveLimiter extends Limiter {
  /** The current limit. */
  readonly limit: Effect.Effect<number>
}

/**
 * A concurrency limit that finds its own level, AIMD-style (Netflix concurrency-limits'
 * `AIMDLimit`): while calls succeed at normal latency and the limit is in use (at least
 * half of it in flight), each success raises it by one; an overload signal (see
 * `isOverload`, or a success slower than `latencyTolerance` × the fastest seen)
 * multiplies it by `backoff`. It stays within [min, max]; other failures leave it alone.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Limit } from "@hybrid/core"
 *
 * declare const callModel: (prompt: string) => Effect.Effect<string, { readonly status: number }>
 *
 * // finds how many calls the model endpoint takes at once: 429s and slow answers lower it
 * const program = Effect.gen(function*() {
 *   const limiter = yield* Limit.adaptive({ initial: 4, min: 1, max: 64 })
 *   return yield* Effect.forEach(["a", "b", "c"], (p) => limiter(callModel(p)), { concurrency: "unbounded" })
 * })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const adaptive = (opts: AdaptiveOptions): Effect.Effect<AdaptiveLimiter> => {
  const where = "Limit.adaptive"
  const min = options.integer(where, "min", opts.min)
  const max = options.integer(where, "max", opts.max)
  options.ordered(where, "min", min, "max", max)
  const initial = options.integer(where, "initial", opts.initial)
  if (initial < min || initial > max) options.ordered(where, "initial", Math.max(initial, min), "max", Math.min(initial, max))
  const backoff = options.finite(where, "backoff", opts.backoff ?? 0.9)
  if (!(backoff > 0 && backoff < 1)) options.ratio(where, "backoff", Number.NaN)
  const tolerance = options.finite(where, "latencyTolerance", opts.latencyTolerance ?? 2, 1)
  const overload = opts.isOverload ?? isOverload
  return Effect.map(Semaphore.make(initial), (semaphore) => {
    const counters: Counters = { running: 0, waiting: 0 }
    let limit = initial
    let fastest = Number.POSITIVE_INFINITY
    const setLimit = (next: number) => {
      const clamped = Math.min(max, Math.max(min, next))
      const changed = Math.floor(clamped) !== Math.floor(limit)
      limit = clamped
      return changed ? Semaphore.resize(semaphore, Math.floor(limit)) : Effect.void
    }
    const observe = <A, E>(exit: Exit.Exit<A, E>, millis: number, inFlight: number) => {
      if (Exit.isSuccess(exit)) {
        const slow = millis > 0 && Number.isFinite(fastest) && millis > tolerance * Math.max(fastest, 1)
        fastest = Math.min(fastest, millis)
        if (slow) return setLimit(limit * backoff)
        return inFlight * 2 >= limit ? setLimit(limit + 1) : Effect.void
      }
      const failure = exit.cause.reasons.find(Predicate.isTagged("Fail"))
      const signal = failure !== undefined && "error" in failure && overload(failure.error)
      return signal ? setLimit(limit * backoff) : Effect.void
    }
    const wrap = <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
      withPermit(
        semaphore,
        counters,
        Effect.gen(function*() {
          const inFlight = counters.running
          const start = yield* Clock.currentTimeMillis
          const exit = yield* Effect.exit(self)
          const end = yield* Clock.currentTimeMillis
          yield* observe(exit, end - start, inFlight)
          return yield* exit
        })
      )
    return Object.assign(makeLimiter<never>(counters, wrap), { limit: Effect.sync(() => limit) })
  })
}

/**
 * The options of `learned`: the bounds of the window it learns and how it reads an
 * upstream's 429s and headers.
 *
 * @example
 * ```ts
 * import type { Limit } from "@hybrid/core"
 *
 * const openAi: Limit.LearnedOptions = { maxWindow: "1 minute", margin: "50 millis", key: "openai" }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface LearnedOptions<R = never> {
  /** The longest window the upstream may use (and the longest wait a 429 may ask). Default 1 minute. */
  readonly maxWindow?: Duration.Input | undefined
  /** Added to the learned window, for the network between here and there. Default 1 % of it, at least 5 ms. */
  readonly margin?: Duration.Input | undefined
  /** The wait after a 429 that says nothing. Default 1 s. */
  readonly defaultRetryAfter?: Duration.Input | undefined
  /**
   * Reads a failure: its HTTP `status`, `retryAfterMillis`, and the stated `limit` per
   * `windowMillis` if any. Default: `status` or `response.status`; `retryAfter` (as
   * `Retry.retryAfter` reads it) or the `retry-after-ms` / `retry-after` /
   * `x-ratelimit-reset-requests` headers (`headers` or `response.headers`);
   * `x-ratelimit-limit-requests` as the limit per minute.
   */
  readonly feedback?: ((error: unknown) => LearnedFeedback | undefined) | undefined
  /**
   * The upstream's name in a shared store (required with `store`): every process using
   * it learns together and paces together. Default: unique to this limit.
   */
  readonly key?: string | undefined
  /**
   * Where the pacer's log and what it learned live: `memoryLearnedStore` (the default,
   * this process) or a shared one such as `RedisLimit.learnedStore()`. Without `store`,
   * a keyed limit uses `SharedLearnedStore` when it is provided.
   */
  readonly store?: LearnedStore<R> | undefined
}

/**
 * One learned limit, as `Limit.learned` asks a `LearnedStore` for it (milliseconds).
 *
 * @example
 * ```ts
 * import type { Limit } from "@hybrid/core"
 *
 * const spec: Limit.LearnedSpec = { key: "openai", maxWindow: 60_000, margin: undefined, defaultRetryAfter: 1_000 }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface LearnedSpec {
  readonly key: string
  readonly maxWindow: number
  /** `undefined`: 1 % of the learned window, at least 5 ms. */
  readonly margin: number | undefined
  readonly defaultRetryAfter: number
}

/**
 * Where `Limit.learned` keeps its log of sends and what it learned from the upstream's
 * 429s: `memoryLearnedStore` in this process, `RedisLimit.learnedStore` in Redis — then a
 * rate learned by one process paces them all, and a `Retry-After` told to one pauses
 * them all.
 *
 * @example
 * ```ts
 * import type { Limit } from "@hybrid/core"
 *
 * const describe = (store: Limit.LearnedStore<unknown>): string => `learned limits kept in ${store.name}`
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface LearnedStore<R = never> {
  readonly name: string
  readonly pacer: (spec: LearnedSpec) => Effect.Effect<LearnedPacer, never, R>
}

/**
 * A learned limit's pacer in a `LearnedStore`: `admit` waits for a slot and logs the
 * send; `observe` learns from a 429 (its `LearnedFeedback`); `learned` reads N per W.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Limit } from "@hybrid/core"
 *
 * const program = Effect.gen(function*() {
 *   const pacer: Limit.LearnedPacer = yield* Limit.memoryLearnedStore.pacer({ key: "k", maxWindow: 60_000, margin: 0, defaultRetryAfter: 1_000 })
 *   const sent = yield* pacer.admit
 *   yield* pacer.observe(sent, { status: 429, limit: 100, windowMillis: 60_000 })
 *   return yield* pacer.learned // { limit: 100, windowMillis: 60000 }
 * })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type LearnedPacer = learnedRate.Paced<LimitStoreError>

/**
 * What a 429 said, as `LearnedOptions.feedback` reads it: the status, how long to wait,
 * and the limit per window when the upstream states it.
 *
 * @example
 * ```ts
 * import type { Limit } from "@hybrid/core"
 *
 * const said: Limit.LearnedFeedback = { status: 429, retryAfterMillis: 1_200 }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type LearnedFeedback = learnedRate.Feedback

/**
 * The default `LearnedStore`: the pacer in this process (`Clock` time).
 *
 * @example
 * ```ts
 * import { Limit } from "@hybrid/core"
 *
 * const program = Limit.learned({ store: Limit.memoryLearnedStore })
 * ```
 *
 * @since 0.1.0
 * @category stores
 */
export const memoryLearnedStore: LearnedStore = {
  name: "memory",
  pacer: (spec) => Effect.sync(() => new learnedRate.Pacer(spec))
}

/**
 * The store every `Limit.learned` **with a `key`** and no `store` option uses when this
 * service is provided (by `RedisLimit.layer`, or the agent's `Fleet.layer`).
 *
 * @example
 * ```ts
 * import { Effect, Layer } from "effect"
 * import { Limit } from "@hybrid/core"
 *
 * const program = Limit.learned({ key: "openai" }).pipe(
 *   Effect.provide(Layer.succeed(Limit.SharedLearnedStore, Limit.memoryLearnedStore))
 * )
 * ```
 *
 * @since 0.1.0
 * @category services
 */
export class SharedLearnedStore extends Context.Service<SharedLearnedStore, LearnedStore>()("@hybrid/core/Limit/SharedLearnedStore") {}

/**
 * A rate limit learned from the upstream.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Limit } from "@hybrid/core"
 *
 * const program = Effect.gen(function*() {
 *   const paced: Limit.LearnedLimit = yield* Limit.learned()
 *   return yield* paced.learned // undefined until the upstream's first 429
 * })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface LearnedLimit extends Limiter {
  /** The upstream's limit as learned so far (requests per window), if any — across the fleet on a shared store. */
  readonly learned: Effect.Effect<{ readonly limit: number; readonly window: Duration.Duration } | undefined>
  /** The limit's key (its name in a shared store). */
  readonly key: string
}

let learnedKeys = 0

/**
 * A rate limit that learns the upstream's sliding-window limit (N requests per W) from
 * its 429s — `Retry-After` / `retry-after-ms`, or `x-ratelimit-*` headers when it states
 * them — and then queues callers here at that rate instead of sending them to be
 * refused. Nothing is paced until the first 429: the first one gives N (the requests it
 * admitted since the first) and W (from the first send to the moment its `Retry-After`
 * points at). A later 429 lowers N to what the upstream's window shows and pauses every
 * call for its `Retry-After`; a whole window without one raises N by one. Put it inside
 * the retry and outside the per-attempt timeout: waiting for a slot is not an attempt.
 *
 * On a shared `store` (`RedisLimit.learnedStore`, or `SharedLearnedStore` with a `key`)
 * the log of sends and what was learned are the fleet's: the first 429 any process gets
 * sets N and W for all, and they pace together, N per W in all, not N each. If the
 * store fails, each process goes on with a pacer of its own (one warning logged): the
 * upstream still enforces its limit, so a failed store costs 429s, never a stall.
 *
 * Effect's `RateLimiter.adaptiveConsume` / `adaptiveFeedback` were tried first: their
 * learning phase counts every request *started* until the next 429, so a queue released
 * at the end of a cool-down learns the burst, not the rate (see the notes of issue 10).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Limit, Retry } from "@hybrid/core"
 *
 * declare const callUpstream: Effect.Effect<string, { readonly status: number; readonly retryAfter?: number }>
 *
 * const program = Effect.gen(function*() {
 *   const paced = yield* Limit.learned()
 *   return yield* callUpstream.pipe(paced, Retry.retry(Retry.policy({ times: 3 })))
 * })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const learned = <R = never>(opts: LearnedOptions<R> = {}): Effect.Effect<LearnedLimit, never, R> => {
  const where = "Limit.learned"
  const spec: Omit<LearnedSpec, "key"> = {
    maxWindow: options.duration(where, "maxWindow", opts.maxWindow ?? 60_000, true),
    margin: opts.margin === undefined ? undefined : options.duration(where, "margin", opts.margin),
    defaultRetryAfter: options.duration(where, "defaultRetryAfter", opts.defaultRetryAfter ?? 1_000)
  }
  if (opts.store !== undefined && opts.store !== memoryLearnedStore && opts.key === undefined) {
    options.reject(where, "key", undefined, "a key naming the upstream (with store)")
  }
  const key = opts.key ?? `@hybrid/core/Limit.learned/${++learnedKeys}`
  const feedback = opts.feedback ?? learnedRate.defaultFeedback
  return Effect.gen(function*() {
    const shared = opts.store === undefined && opts.key !== undefined
      ? yield* Effect.serviceOption(SharedLearnedStore)
      : Option.none()
    const store: LearnedStore<R> = opts.store ?? (Option.isSome(shared) ? shared.value : memoryLearnedStore as LearnedStore<R>)
    const pacer = store === memoryLearnedStore
      ? new learnedRate.Pacer(spec)
      : yield* Effect.map(store.pacer({ key, ...spec }), (remote) => learnedRate.withLocal(remote, new learnedRate.Pacer(spec), key))
    const counters: Counters = { running: 0, waiting: 0 }
    const wrap = <A, E, R1>(self: Effect.Effect<A, E, R1>): Effect.Effect<A, E, R1> =>
      Effect.suspend(() => {
        counters.waiting++
        return pacer.admit.pipe(
          Effect.ensuring(Effect.sync(() => counters.waiting--)),
          Effect.flatMap((entry) => {
            counters.running++
            return self.pipe(
              Effect.tapError((error) => {
                const said = feedback(error)
                return said?.status === 429 ? pacer.observe(entry, said) : Effect.void
              }),
              Effect.ensuring(Effect.sync(() => counters.running--))
            )
          })
        )
      })
    return Object.assign(makeLimiter<never>(counters, wrap), {
      key,
      learned: Effect.map(pacer.learned, (l) => l === undefined ? undefined : { limit: l.limit, window: Duration.millis(l.windowMillis) })
    })
  })
}

/**
 * Reserve-then-reconcile as one combinator: before `self` runs, `tokens` (an estimate)
 * are reserved from `limit` — waiting for them to fit; when `self` succeeds, the
 * reservation is set to `used(result)` (an overrun charged, a surplus refunded; see
 * `RateLimit.reconcile`). A failed call keeps its reservation (the server may have
 * counted it). With `limit` undefined, `self` runs as is: callers need no branch for an
 * unlimited budget. The LLM provider and `Batch` both meter tokens with it.
 *
 * `used` returning `undefined` (no usage reported) keeps the estimate.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Limit } from "@hybrid/core"
 *
 * declare const complete: (prompt: string) => Effect.Effect<{ readonly text: string; readonly totalTokens: number }>
 *
 * const program = Effect.gen(function*() {
 *   const tpm = yield* Limit.rate({ limit: 10_000, window: "1 minute" })
 *   // reserve 600 tokens, then charge what the reply says it used
 *   return yield* complete("…").pipe(Limit.metered(tpm, 600, (reply) => reply.totalTokens))
 * })
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const metered = <A>(
  limit: RateLimit | undefined,
  tokens: number,
  used: (result: A) => number | undefined
) =>
<E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E | RateLimitError, R> =>
  limit === undefined ? self : Effect.flatMap(limit.reserve(tokens), (reservation) =>
    Effect.tap(self, (result) => {
      const actual = used(result)
      return actual === undefined ? Effect.void : limit.reconcile(reservation, actual)
    }))
