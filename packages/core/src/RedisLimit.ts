/**
 * A `Limit.rate` store on Redis: the exact sliding window, shared by every process that
 * uses the same Redis and key — in **any** interval of length `window`, the tokens
 * admitted across the whole fleet are ≤ `limit`.
 *
 * ```
 * process A ─┐                      one Lua script per admission, atomic in Redis:
 * process B ─┼─ take(tokens) ──▶    drop expired leases and entries older than window,
 * process C ─┘                      admit if sum + tokens ≤ limit (timestamp = Redis TIME),
 *                                    else answer how long until enough leaves the window
 * ```
 *
 * - **Atomic**: each admission is one `EVALSHA` of a Lua script (through
 *   `effect/persistence`'s `Redis.script`): prune, sum, admit — no other command runs in
 *   between, so no two processes can both take the last tokens. A script, not a
 *   `MULTI` of sorted-set commands, because the decision (admit or not) depends on the
 *   sum read in the same step; the log is still a sorted set (entry → Redis time) with
 *   a hash of costs and a running sum, so an admission costs O(log n + expired).
 * - **One clock**: timestamps come from Redis's `TIME`, so skewed hosts cannot break the
 *   window.
 * - **Reservations**: `reserve` records its entry with a lease (default: the window);
 *   `reconcile` in the same process refunds or charges the shared budget. An entry not
 *   reconciled within its lease (its process was killed) is freed by the next script
 *   that runs; a reconcile after that charges the full use at once.
 * - **Failure**: every store call is bounded by `timeout`; a failure is a typed
 *   `Limit.LimitStoreError`. `onStoreError: "fail"` (the default, fail closed) fails the
 *   call with it; `{ fallback: { expectedProcesses } }` admits from a local sliding window
 *   of `limit / expectedProcesses` instead, logs one warning, and asks Redis again every
 *   `recheck`.
 *
 * The Redis client is not in this module: provide `Redis.Redis` (from `effect/persistence`),
 * e.g. `NodeRedis.layer({ url })` from `@effect/platform-node` (which needs the `redis`
 * package). Effect's own `RateLimiter.layerStoreRedis` remains the way to share the
 * `"fixed-window"` / `"token-bucket"` algorithms.
 *
 * Every process sharing a key must use the same `limit` and `window`.
 *
 * The same Redis shares two more kinds of state, each one Lua script per step:
 * `budgetStore` — a `Retry.budget`'s counts, so a fleet retries at most `ratio` of its
 * combined traffic — and `learnedStore` — a `Limit.learned` pacer's log and what the
 * upstream's 429s taught, so one process's lesson paces them all. `layer` provides all
 * three as the shared stores of keyed limits and budgets.
 *
 * @example
 * ```ts
 * import * as NodeRedis from "@effect/platform-node/NodeRedis"
 * import { Effect } from "effect"
 * import { Limit, RedisLimit } from "@hybrid/core"
 *
 * declare const callLlm: Effect.Effect<string>
 *
 * const program = Effect.gen(function*() {
 *   const tpm = yield* Limit.rate({
 *     limit: 90_000,
 *     window: "1 minute",
 *     key: "openai-tpm",
 *     store: RedisLimit.store({ timeout: "500 millis", onStoreError: { fallback: { expectedProcesses: 8 } } })
 *   })
 *   return yield* callLlm.pipe(tpm.withCost(1_200))
 * }).pipe(Effect.provide(NodeRedis.layer({ url: "redis://127.0.0.1:6379" })))
 * ```
 *
 * @since 0.1.0
 */
import { Clock, Context, Duration, Effect, Layer, Semaphore } from "effect"
import { Redis } from "effect/persistence"
import * as options from "./internal/options.ts"
import * as retryBudget from "./internal/retryBudget.ts"
import * as Limit from "./Limit.ts"
import * as Retry from "./Retry.ts"

/**
 * The options of the Redis store: its key prefix, its timeout, the reservations' lease,
 * and what a call does when Redis fails.
 *
 * @example
 * ```ts
 * import type { RedisLimit } from "@hybrid/core"
 *
 * const failClosed: RedisLimit.StoreOptions = { timeout: "250 millis", onStoreError: "fail" }
 * const fallBack: RedisLimit.StoreOptions = { onStoreError: { fallback: { expectedProcesses: 4 } } }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface StoreOptions {
  /** Prefix of every Redis key. Default `"hybrid:limit:"`; use one per environment. */
  readonly prefix?: string | undefined
  /** The longest one store call may take before it is a `LimitStoreError`. Default 500 ms. */
  readonly timeout?: Duration.Input | undefined
  /** How long a reservation may stay unreconciled before Redis frees it. Default: the window. */
  readonly lease?: Duration.Input | undefined
  /**
   * What a call does when Redis fails or times out: `"fail"` (the default: the call fails
   * with `LimitStoreError` — fail closed), or fall back to a local sliding window of
   * `limit / expectedProcesses`, with one warning logged.
   */
  readonly onStoreError?: "fail" | { readonly fallback: { readonly expectedProcesses: number } } | undefined
  /** With the fallback: how long to stay local before asking Redis again. Default 1 s. */
  readonly recheck?: Duration.Input | undefined
}

/** Runs first in every script: prunes expired leases and entries that left the window. */
const prelude = `
local log, cost, lease = KEYS[1], KEYS[2], KEYS[3]
local window = tonumber(ARGV[1])
local ttl = tonumber(ARGV[2])
local t = redis.call("TIME")
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local sum = tonumber(redis.call("HGET", cost, "#sum") or "0")
local function fmt(x) return string.format("%.3f", x) end
local function num(x) return string.format("%.17g", x) end
local function drop(member)
  sum = sum - tonumber(redis.call("HGET", cost, member) or "0")
  redis.call("HDEL", cost, member)
  redis.call("ZREM", log, member)
  redis.call("ZREM", lease, member)
end
for _, member in ipairs(redis.call("ZRANGEBYSCORE", lease, "-inf", fmt(now))) do drop(member) end
for _, member in ipairs(redis.call("ZRANGEBYSCORE", log, "-inf", fmt(now - window))) do drop(member) end
if redis.call("ZCARD", log) == 0 then sum = 0 end
local function keep()
  redis.call("HSET", cost, "#sum", num(sum))
  redis.call("PEXPIRE", log, ttl)
  redis.call("PEXPIRE", cost, ttl)
  redis.call("PEXPIRE", lease, ttl)
end
`

/** Admits `tokens` if they fit: `{1, at, sum}`; else `{0, millis until they may fit, sum}`. */
const takeScript = Redis.script(
  (
    log: string,
    cost: string,
    lease: string,
    window: number,
    ttl: number,
    id: string,
    tokens: number,
    limit: number,
    leaseMillis: number
  ) => [log, cost, lease, window, ttl, id, tokens, limit, leaseMillis],
  {
    numberOfKeys: 3,
    lua: `${prelude}
local id, tokens, limit, lease_ms = ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
if sum + tokens <= limit + 1e-9 then
  redis.call("ZADD", log, fmt(now), id)
  redis.call("HSET", cost, id, ARGV[4])
  if lease_ms > 0 then redis.call("ZADD", lease, fmt(now + lease_ms), id) end
  sum = sum + tokens
  keep()
  return { 1, fmt(now), num(sum) }
end
keep()
local need = sum + tokens - limit - 1e-9
local freed, wake, offset = 0, now + window, 0
while true do
  local page = redis.call("ZRANGE", log, offset, offset + 31, "WITHSCORES")
  if #page == 0 then break end
  local found = false
  for i = 1, #page, 2 do
    freed = freed + tonumber(redis.call("HGET", cost, page[i]) or "0")
    if freed >= need then
      wake = tonumber(page[i + 1]) + window
      found = true
      break
    end
  end
  if found then break end
  offset = offset + 32
end
local first = redis.call("ZRANGE", lease, 0, 0, "WITHSCORES")
if #first > 0 and tonumber(first[2]) < wake then wake = tonumber(first[2]) end
return { 0, fmt(wake - now), num(sum) }`
  }
).withReturnType<readonly [number, string, string]>()

/**
 * Sets an entry's cost to `used` (refund or overrun); if the entry is gone, charges at
 * now the overrun (it left the window) or all of `used` (its lease was freed).
 */
const reconcileScript = Redis.script(
  (
    log: string,
    cost: string,
    lease: string,
    window: number,
    ttl: number,
    id: string,
    used: number,
    at: number,
    estimate: number,
    chargeId: string
  ) => [log, cost, lease, window, ttl, id, used, at, estimate, chargeId],
  {
    numberOfKeys: 3,
    lua: `${prelude}
local id, used, at, estimate, charge_id = ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]), ARGV[7]
local current = false
if id ~= "" then current = redis.call("HGET", cost, id) end
if current then
  if used > 0 then
    sum = sum + used - tonumber(current)
    redis.call("HSET", cost, id, ARGV[4])
    redis.call("ZREM", lease, id)
  else
    drop(id)
  end
  keep()
  return 1
end
local extra = used
if now - at >= window then extra = used - estimate end
if extra > 0 then
  redis.call("ZADD", log, fmt(now), charge_id)
  redis.call("HSET", cost, charge_id, num(extra))
  sum = sum + extra
end
keep()
return 0`
  }
).withReturnType<number>()

/** The tokens in the window that ends now. */
const usageScript = Redis.script(
  (log: string, cost: string, lease: string, window: number, ttl: number) => [log, cost, lease, window, ttl],
  { numberOfKeys: 3, lua: `${prelude}\nkeep()\nreturn num(sum)` }
).withReturnType<string>()

/** An entry as this store keeps it: its Redis id, or the local entry it fell back to. */
interface RedisEntry extends Limit.RateEntry {
  readonly id: string
  readonly local?: Limit.RateEntry | undefined
}

const instance = `${process.pid.toString(36)}-${globalThis.crypto.randomUUID().slice(0, 8)}`
let entries = 0
const nextId = () => `${instance}:${(++entries).toString(36)}`

/**
 * The settings every Redis store reads alike, checked once (`where` names the store in a
 * bad value's error): the key prefix, the call timeout, the recheck interval and, under a
 * fallback policy, the expected number of processes.
 */
const settingsOf = (where: string, opts: {
  readonly prefix?: string | undefined
  readonly timeout?: Duration.Input | undefined
  readonly recheck?: Duration.Input | undefined
  readonly onStoreError?: StoreOptions["onStoreError"]
}) => {
  const policy = opts.onStoreError ?? "fail"
  return {
    prefix: opts.prefix ?? "hybrid:limit:",
    timeout: options.duration(where, "timeout", opts.timeout ?? 500, true),
    recheck: options.duration(where, "recheck", opts.recheck ?? 1_000, true),
    expected: policy === "fail"
      ? undefined
      : options.integer(where, "onStoreError.fallback.expectedProcesses", policy.fallback.expectedProcesses)
  }
}

/**
 * A `Limit.RateStore` on Redis (see the module): pass it as `Limit.rate({ store, key })`
 * with a `Redis.Redis` service provided.
 *
 * @example
 * ```ts
 * import * as NodeRedis from "@effect/platform-node/NodeRedis"
 * import { Effect } from "effect"
 * import { Limit, RedisLimit } from "@hybrid/core"
 *
 * const program = Effect.gen(function*() {
 *   const rpm = yield* Limit.rate({ limit: 600, window: "1 minute", key: "search-rpm", store: RedisLimit.store() })
 *   yield* rpm.consume(1)
 *   return yield* rpm.usage // across every process sharing "search-rpm"
 * }).pipe(Effect.provide(NodeRedis.layer({ url: "redis://127.0.0.1:6379" })))
 * ```
 *
 * @since 0.1.0
 * @category stores
 */
export const store = (opts: StoreOptions = {}): Limit.RateStore<Redis.Redis> => {
  const where = "RedisLimit.store"
  const { expected, prefix, recheck, timeout } = settingsOf(where, opts)
  const leaseOption = opts.lease === undefined ? undefined : options.duration(where, "lease", opts.lease, true)
  return {
    name: "redis",
    ledger: (spec) =>
      Effect.gen(function*() {
        const redis = yield* Redis.Redis
        const remote = makeRemote(redis, spec, {
          keys: [`${prefix}{${spec.key}}:log`, `${prefix}{${spec.key}}:cost`, `${prefix}{${spec.key}}:lease`],
          timeout,
          lease: leaseOption ?? spec.windowMillis
        })
        return expected === undefined ? remote : yield* withFallback(remote, spec, expected, recheck)
      })
  }
}

/**
 * Provides the shared stores on Redis — `Limit.SharedRateStore` (`store`),
 * `Retry.SharedBudgetStore` (`budgetStore`) and `Limit.SharedLearnedStore`
 * (`learnedStore`): every keyed `Limit.rate`, `Retry.budget` and `Limit.learned`
 * without a `store` option then shares its state through this Redis. `prefix`,
 * `timeout` and `onStoreError` apply to all three (the learned pacer always falls back
 * to pacing alone).
 *
 * @example
 * ```ts
 * import * as NodeRedis from "@effect/platform-node/NodeRedis"
 * import { Effect, Layer } from "effect"
 * import { Limit, RedisLimit } from "@hybrid/core"
 *
 * const Shared = RedisLimit.layer({ prefix: "myapp:limit:" }).pipe(Layer.provide(NodeRedis.layer({ url: "redis://127.0.0.1:6379" })))
 * const program = Limit.rate({ limit: 600, window: "1 minute", key: "search-rpm" }).pipe(Effect.provide(Shared))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  opts: StoreOptions = {}
): Layer.Layer<Limit.SharedRateStore | Retry.SharedBudgetStore | Limit.SharedLearnedStore, never, Redis.Redis> => {
  const rates = store(opts)
  const budgets = budgetStore(opts)
  const learned = learnedStore(opts)
  return Layer.effectContext(Effect.map(Redis.Redis, (redis) => {
    const provided = <A, E>(effect: Effect.Effect<A, E, Redis.Redis>) => Effect.provideService(effect, Redis.Redis, redis)
    return Context.make(Limit.SharedRateStore, { name: rates.name, ledger: (spec) => provided(rates.ledger(spec)) }).pipe(
      Context.add(Retry.SharedBudgetStore, { name: budgets.name, ledger: (spec) => provided(budgets.ledger(spec)) }),
      Context.add(Limit.SharedLearnedStore, { name: learned.name, pacer: (spec) => provided(learned.pacer(spec)) })
    )
  }))
}

const makeRemote = (
  redis: Redis.Redis["Service"],
  spec: Limit.RateSpec,
  config: { readonly keys: readonly [string, string, string]; readonly timeout: number; readonly lease: number }
): Limit.RateLedger => {
  const [log, cost, lease] = config.keys
  const window = spec.windowMillis
  const ttl = Math.ceil(window + config.lease) + 1_000
  const take = redis.eval(takeScript)
  const reconcile = redis.eval(reconcileScript)
  const usage = redis.eval(usageScript)
  const poll = Math.min(250, window)
  const turn = Semaphore.makeUnsafe(1)
  const bounded = <A>(operation: string, effect: Effect.Effect<A, Redis.RedisError>) =>
    effect.pipe(
      Effect.mapError((error) => storeError(spec.key, operation, String(error.cause ?? error).slice(0, 200))),
      Effect.timeoutOrElse({
        duration: config.timeout,
        orElse: () => Effect.fail(storeError(spec.key, operation, `no answer within ${config.timeout} ms`))
      })
    )
  const admit = (tokens: number, hold: boolean) =>
    Effect.gen(function*() {
      const id = nextId()
      while (true) {
        const [admitted, value, sum] = yield* bounded("take", take(log, cost, lease, window, ttl, id, tokens, spec.limit, hold ? config.lease : 0))
        if (admitted === 1) return { at: Number(value), tokens, usage: Number(sum), id } satisfies RedisEntry
        yield* Effect.sleep(Math.max(1, Math.min(Math.ceil(Number(value)), poll)))
      }
    })
  return {
    take: (tokens, hold) => Semaphore.withPermit(turn, admit(tokens, hold)),
    reconcile: (entry, used) => {
      const { at, id, tokens } = entry as RedisEntry
      return Effect.asVoid(bounded("reconcile", reconcile(log, cost, lease, window, ttl, id ?? "", used, at, tokens, nextId())))
    },
    usage: Effect.map(bounded("usage", usage(log, cost, lease, window, ttl)), Number)
  }
}

const storeError = (key: string, operation: string, reason: string) =>
  new Limit.LimitStoreError({ store: "redis", operation, key, reason })

/**
 * The local fallback's state while Redis fails: until when to count locally (`recheck`
 * after the last failure), and the one warning. `route` runs `remote`, or `local` while
 * the fallback is on; a store failure turns it on and runs `local` with that error
 * (`undefined` when the fallback was already on).
 */
class Fallback {
  private until = 0
  private warned = false
  private readonly recheck: number
  private readonly warning: (error: Limit.LimitStoreError) => string
  constructor(recheck: number, warning: (error: Limit.LimitStoreError) => string) {
    this.recheck = recheck
    this.warning = warning
  }

  private enter(error: Limit.LimitStoreError): Effect.Effect<void> {
    return Effect.flatMap(Clock.currentTimeMillis, (now) => {
      this.until = now + this.recheck
      if (this.warned) return Effect.void
      this.warned = true
      return Effect.logWarning(this.warning(error))
    })
  }

  route<A, E>(
    remote: Effect.Effect<A, Limit.LimitStoreError>,
    local: (error: Limit.LimitStoreError | undefined) => Effect.Effect<A, E>
  ): Effect.Effect<A, E> {
    return Effect.flatMap(Clock.currentTimeMillis, (now) =>
      now < this.until
        ? local(undefined)
        : Effect.catchTag(remote, "LimitStoreError", (error) => Effect.andThen(this.enter(error), local(error))))
  }

  /** `remote`'s effect, a store failure turning the fallback on (nothing to do locally). */
  report(remote: Effect.Effect<void, Limit.LimitStoreError>): Effect.Effect<void> {
    return Effect.catchTag(remote, "LimitStoreError", (error) => this.enter(error))
  }
}

/**
 * On a store failure, admits from a local sliding window of `limit / expected` for
 * `recheck`, then asks Redis again; warns once.
 */
const withFallback = (remote: Limit.RateLedger, spec: Limit.RateSpec, expected: number, recheck: number) =>
  Effect.map(
    Limit.memoryStore.ledger({ key: spec.key, limit: spec.limit / expected, windowMillis: spec.windowMillis }),
    (local): Limit.RateLedger => {
      const localLimit = spec.limit / expected
      const fallback = new Fallback(recheck, (error) =>
        `Limit.rate "${spec.key}": ${error.message}; admitting from a local limit of ${localLimit} per window (limit / ${expected} processes) until Redis answers`)
      const unavailable = storeError(spec.key, "take", "Redis unavailable (using the local fallback)")
      const takeLocal = (tokens: number, hold: boolean, error: Limit.LimitStoreError | undefined) =>
        tokens > localLimit
          ? Effect.fail(error ?? unavailable)
          : Effect.map(local.take(tokens, hold), (entry): RedisEntry => ({ ...entry, id: "", local: entry }))
      return {
        take: (tokens, hold) => fallback.route(remote.take(tokens, hold), (error) => takeLocal(tokens, hold, error)),
        reconcile: (entry, used) => {
          const inner = (entry as RedisEntry).local
          if (inner !== undefined) return local.reconcile(inner, used)
          return fallback.report(remote.reconcile(entry, used))
        },
        usage: fallback.route(remote.usage, () => local.usage)
      }
    }
  )

// --- retry budgets ---------------------------------------------------------------------

/**
 * One step of a retry budget (`op`: `"deposit"`, `"withdraw"` or `"available"`), the
 * arithmetic of `Retry.budget` (buckets of a tenth of the window, Redis `TIME`): returns
 * 1/0 for a withdrawal, the balance for `"available"`.
 */
const budgetScript = Redis.script(
  (counts: string, windowMillis: number, buckets: number, ratio: number, minPerSecond: number, op: string) => [
    counts,
    windowMillis,
    buckets,
    ratio,
    minPerSecond,
    op
  ],
  {
    numberOfKeys: 1,
    lua: `
local key = KEYS[1]
local window, buckets, ratio, min, op = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5]
local t = redis.call("TIME")
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local current = math.floor(now / (window / buckets))
local attempts, retries = 0, 0
local fields = redis.call("HGETALL", key)
for i = 1, #fields, 2 do
  local index = tonumber(string.sub(fields[i], 3))
  if index <= current - buckets then
    redis.call("HDEL", key, fields[i])
  elseif string.sub(fields[i], 1, 1) == "a" then
    attempts = attempts + tonumber(fields[i + 1])
  else
    retries = retries + tonumber(fields[i + 1])
  end
end
redis.call("PEXPIRE", key, math.ceil(2 * window))
local balance = math.floor(ratio * attempts + min * window / 1000 + 1e-9) - retries
if op == "deposit" then
  redis.call("HINCRBY", key, "a:" .. current, 1)
  return 1
elseif op == "withdraw" then
  if balance < 1 then return 0 end
  redis.call("HINCRBY", key, "r:" .. current, 1)
  return 1
end
return math.max(0, balance)`
  }
).withReturnType<number>()

/**
 * Options of `budgetStore`: the key prefix, the timeout of each store call, and what a
 * retry budget does when Redis fails.
 *
 * @example
 * ```ts
 * import type { RedisLimit } from "@hybrid/core"
 *
 * const local: RedisLimit.BudgetStoreOptions = { onStoreError: { fallback: { expectedProcesses: 8 } } }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface BudgetStoreOptions {
  /** Prefix of every Redis key. Default `"hybrid:limit:"`. */
  readonly prefix?: string | undefined
  /** The longest one store call may take. Default 500 ms. */
  readonly timeout?: Duration.Input | undefined
  /**
   * When Redis fails: `"fail"` (the default: `Retry.budget` refuses retries — fail
   * closed), or count locally with the same `ratio` and `minPerSecond / expectedProcesses`
   * (one warning logged), asking Redis again every `recheck`.
   */
  readonly onStoreError?: "fail" | { readonly fallback: { readonly expectedProcesses: number } } | undefined
  /** With the fallback: how long to stay local before asking Redis again. Default 1 s. */
  readonly recheck?: Duration.Input | undefined
}

/**
 * A `Retry.BudgetStore` on Redis: the first attempts and retries of every process using
 * the same `key` are counted together, each step one atomic Lua script (`HGETALL` of at
 * most 20 bucket counters, prune, decide, `HINCRBY`) on Redis's clock — two processes can
 * never both take the last retry.
 *
 * @example
 * ```ts
 * import * as NodeRedis from "@effect/platform-node/NodeRedis"
 * import { Effect } from "effect"
 * import { RedisLimit, Retry } from "@hybrid/core"
 *
 * declare const callApi: Effect.Effect<string, { readonly _tag: "Http503" }>
 *
 * const program = Effect.gen(function*() {
 *   const budget = yield* Retry.budget({ ratio: 0.1, minPerSecond: 1, key: "api", store: RedisLimit.budgetStore() })
 *   return yield* callApi.pipe(Retry.retry(Retry.policy({ times: 3 }), { budget }))
 * }).pipe(Effect.provide(NodeRedis.layer({ url: "redis://127.0.0.1:6379" })))
 * ```
 *
 * @since 0.1.0
 * @category stores
 */
export const budgetStore = (opts: BudgetStoreOptions = {}): Retry.BudgetStore<Redis.Redis> => {
  const where = "RedisLimit.budgetStore"
  const { expected, prefix, recheck, timeout } = settingsOf(where, opts)
  return {
    name: "redis",
    ledger: (spec) =>
      Effect.gen(function*() {
        const redis = yield* Redis.Redis
        const run = redis.eval(budgetScript)
        const key = `${prefix}{${spec.key}}:budget`
        const step = (op: "deposit" | "withdraw" | "available") =>
          run(key, spec.windowMillis, retryBudget.BUCKETS, spec.ratio, spec.minPerSecond, op).pipe(
            Effect.mapError((error) => storeError(spec.key, `budget ${op}`, String(error.cause ?? error).slice(0, 200))),
            Effect.timeoutOrElse({
              duration: timeout,
              orElse: () => Effect.fail(storeError(spec.key, `budget ${op}`, `no answer within ${timeout} ms`))
            })
          )
        const remote: Retry.BudgetLedger = {
          deposit: Effect.asVoid(step("deposit")),
          withdraw: Effect.map(step("withdraw"), (taken) => taken === 1),
          available: step("available")
        }
        if (expected === undefined) return remote
        const local = yield* Retry.memoryBudgetStore.ledger({ ...spec, minPerSecond: spec.minPerSecond / expected })
        return yield* withLocal(remote, local, `Retry.budget ${JSON.stringify(spec.key)}`, recheck)
      })
  }
}

/** On a store failure, counts in `local` for `recheck`, then asks Redis again; warns once. */
const withLocal = (
  remote: Retry.BudgetLedger,
  local: Retry.BudgetLedger,
  what: string,
  recheck: number
): Effect.Effect<Retry.BudgetLedger> =>
  Effect.sync(() => {
    const fallback = new Fallback(recheck, (error) => `${what}: ${error.message}; counting in this process until Redis answers`)
    const each = <A>(pick: (ledger: Retry.BudgetLedger) => Effect.Effect<A, Limit.LimitStoreError>) =>
      fallback.route(pick(remote), () => pick(local))
    return { deposit: each((l) => l.deposit), withdraw: each((l) => l.withdraw), available: each((l) => l.available) }
  })

// --- learned limits --------------------------------------------------------------------

/** Runs first in both learned-limit scripts: the clock, the state, the horizon, the pruned log. */
const learnedPrelude = `
local log, state = KEYS[1], KEYS[2]
local max_window, margin_arg, ttl = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local t = redis.call("TIME")
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local s = redis.call("HMGET", state, "limit", "window", "learnedAt", "lastThrottle", "lastProbe", "blocked")
local limit, window = tonumber(s[1]), tonumber(s[2])
local learned_at, last_throttle, last_probe = tonumber(s[3]) or 0, tonumber(s[4]) or 0, tonumber(s[5]) or 0
local blocked = tonumber(s[6]) or 0
local function fmt(x) return string.format("%.3f", x) end
local function margin(w) if margin_arg >= 0 then return margin_arg end return math.max(5, w / 100) end
local horizon = (window or max_window) + margin(window or max_window)
redis.call("ZREMRANGEBYSCORE", log, "-inf", fmt(now - horizon))
local function keep()
  redis.call("PEXPIRE", log, ttl)
  redis.call("PEXPIRE", state, math.max(ttl, 3600000))
end
`

/** Admits a send (`{1, at}`) or says how long until a slot may be free (`{0, millis}`): `Pacer.waitAt` in Lua. */
const learnedAdmitScript = Redis.script(
  (log: string, state: string, maxWindow: number, margin: number, ttl: number, id: string) => [
    log,
    state,
    maxWindow,
    margin,
    ttl,
    id
  ],
  {
    numberOfKeys: 2,
    lua: `${learnedPrelude}
if now < blocked then return { 0, fmt(blocked - now) } end
if limit and window then
  if now - last_throttle > horizon and now - last_probe > horizon and now - learned_at > horizon then
    limit = limit + 1
    redis.call("HSET", state, "limit", limit, "lastProbe", fmt(now))
  end
  local count = redis.call("ZCARD", log)
  if count >= limit then
    local oldest = redis.call("ZRANGE", log, count - limit, count - limit, "WITHSCORES")
    return { 0, fmt(tonumber(oldest[2]) + horizon - now) }
  end
end
redis.call("ZADD", log, fmt(now), ARGV[4])
keep()
return { 1, fmt(now) }`
  }
).withReturnType<readonly [number, string]>()

/**
 * Learns from a 429 (`Pacer.observe` in Lua): `retryAfter`, `statedLimit`,
 * `statedWindow` are -1 when the upstream did not say.
 */
const learnedObserveScript = Redis.script(
  (
    log: string,
    state: string,
    maxWindow: number,
    margin: number,
    ttl: number,
    id: string,
    at: number,
    retryAfter: number,
    defaultRetryAfter: number,
    statedLimit: number,
    statedWindow: number
  ) => [log, state, maxWindow, margin, ttl, id, at, retryAfter, defaultRetryAfter, statedLimit, statedWindow],
  {
    numberOfKeys: 2,
    lua: `${learnedPrelude}
local id, at, retry_after, default_after = ARGV[4], tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local stated_limit, stated_window = tonumber(ARGV[8]), tonumber(ARGV[9])
redis.call("ZREM", log, id)
local wait = default_after
if retry_after >= 0 then wait = retry_after end
wait = math.min(wait, max_window)
blocked = math.max(blocked, now + wait)
local function learn(l, w)
  redis.call("HSET", state, "limit", l, "window", fmt(w), "learnedAt", fmt(now), "lastThrottle", fmt(now))
end
if stated_limit > 0 and stated_window > 0 then
  learn(stated_limit, stated_window)
elseif not (limit and window) then
  local first = at
  local head = redis.call("ZRANGE", log, 0, 0, "WITHSCORES")
  if #head > 0 then first = tonumber(head[2]) end
  learn(math.max(1, redis.call("ZCARD", log)), math.min(math.max(1, now + wait - first), max_window))
elseif at < learned_at then
  redis.call("HSET", state, "limit", math.max(1, limit - 1))
else
  local in_window = redis.call("ZCOUNT", log, "(" .. fmt(now + wait - window), "+inf")
  redis.call("HSET", state, "limit", math.max(1, math.min(limit - 1, in_window)), "lastThrottle", fmt(now))
end
redis.call("HSET", state, "blocked", fmt(blocked))
keep()
return 1`
  }
).withReturnType<number>()

/** What the fleet learned: `{limit, window}` as strings, or nils. */
const learnedStateScript = Redis.script(
  (state: string) => [state],
  { numberOfKeys: 1, lua: `return redis.call("HMGET", KEYS[1], "limit", "window")` }
).withReturnType<readonly [string | null, string | null]>()

/**
 * Options of `learnedStore`: the key prefix and the timeout of each store call.
 *
 * @example
 * ```ts
 * import type { RedisLimit } from "@hybrid/core"
 *
 * const options: RedisLimit.LearnedStoreOptions = { prefix: "myapp:limit:", timeout: "250 millis" }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface LearnedStoreOptions {
  /** Prefix of every Redis key. Default `"hybrid:limit:"`. */
  readonly prefix?: string | undefined
  /** The longest one store call may take; past it the process paces alone for a second. Default 500 ms. */
  readonly timeout?: Duration.Input | undefined
}

/**
 * A `Limit.LearnedStore` on Redis: the log of sends to the upstream and what its 429s
 * taught are the fleet's — the same rules as the in-process pacer (see
 * `Limit.learned`), one Lua script per admission and per 429, on Redis's clock. A
 * `Retry-After` told to one process pauses every process; the N per W learned from
 * the fleet's own log paces the fleet as a whole. When Redis fails or times out, each
 * process paces alone (one warning) and asks again after a second.
 *
 * @example
 * ```ts
 * import * as NodeRedis from "@effect/platform-node/NodeRedis"
 * import { Effect } from "effect"
 * import { Limit, RedisLimit } from "@hybrid/core"
 *
 * declare const callUpstream: Effect.Effect<string, { readonly status: number }>
 *
 * const program = Effect.gen(function*() {
 *   const paced = yield* Limit.learned({ key: "upstream", store: RedisLimit.learnedStore() })
 *   return yield* callUpstream.pipe(paced)
 * }).pipe(Effect.provide(NodeRedis.layer({ url: "redis://127.0.0.1:6379" })))
 * ```
 *
 * @since 0.1.0
 * @category stores
 */
export const learnedStore = (opts: LearnedStoreOptions = {}): Limit.LearnedStore<Redis.Redis> => {
  const where = "RedisLimit.learnedStore"
  const { prefix, timeout } = settingsOf(where, opts)
  return {
    name: "redis",
    pacer: (spec) =>
      Effect.gen(function*() {
        const redis = yield* Redis.Redis
        const admitOnce = redis.eval(learnedAdmitScript)
        const observeOnce = redis.eval(learnedObserveScript)
        const read = redis.eval(learnedStateScript)
        const log = `${prefix}{${spec.key}}:learned:log`
        const state = `${prefix}{${spec.key}}:learned:state`
        const margin = spec.margin ?? -1
        const ttl = Math.ceil(2 * (spec.maxWindow + (spec.margin ?? spec.maxWindow / 100))) + 1_000
        const bounded = <A>(operation: string, effect: Effect.Effect<A, Redis.RedisError>) =>
          effect.pipe(
            Effect.mapError((error) => storeError(spec.key, operation, String(error.cause ?? error).slice(0, 200))),
            Effect.timeoutOrElse({
              duration: timeout,
              orElse: () => Effect.fail(storeError(spec.key, operation, `no answer within ${timeout} ms`))
            })
          )
        const turn = Semaphore.makeUnsafe(1)
        const admit = Effect.gen(function*() {
          const id = nextId()
          while (true) {
            const [admitted, value] = yield* bounded("learned admit", admitOnce(log, state, spec.maxWindow, margin, ttl, id))
            if (admitted === 1) return { at: Number(value), id }
            yield* Effect.sleep(Math.max(1, Math.min(Math.ceil(Number(value)), 250)))
          }
        })
        return {
          admit: Semaphore.withPermit(turn, admit),
          observe: (entry, feedback) => {
            const { at, id } = entry as { readonly at: number; readonly id: string }
            return Effect.asVoid(bounded(
              "learned observe",
              observeOnce(
                log,
                state,
                spec.maxWindow,
                margin,
                ttl,
                id,
                at,
                feedback.retryAfterMillis ?? -1,
                spec.defaultRetryAfter,
                feedback.limit ?? -1,
                feedback.windowMillis ?? -1
              )
            ))
          },
          learned: Effect.map(bounded("learned read", read(state)), ([limit, window]) =>
            limit === null || window === null ? undefined : { limit: Number(limit), windowMillis: Number(window) })
        } satisfies Limit.LearnedPacer
      })
  }
}
