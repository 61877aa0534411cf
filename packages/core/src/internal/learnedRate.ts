/**
 * The controller behind `Limit.learned`: learns an upstream's sliding-window rate limit
 * (N requests per W) from its 429s, and paces sends to it.
 *
 * - Until the first 429 nothing is paced; every send is logged (time, locally).
 * - The first 429 at `t` saying "retry after `d`" means the upstream's window is full
 *   and its oldest entry leaves at `t + d`. If our first logged send is that oldest entry
 *   (a fresh upstream, or we are its only client), then `W = t + d − first` and `N` = the
 *   sends it admitted since (all logged sends but those refused). Headers that state the
 *   limit (`x-ratelimit-limit-requests` with `x-ratelimit-reset-requests`) set `N`/`W`
 *   directly.
 * - From then on sends wait for a free slot of the local sliding window (N per W plus a
 *   small margin for the network): callers queue here instead of being refused there.
 * - A later 429 means the estimate is too high (another client shares the upstream, the
 *   limit dropped, or clocks disagree): `N` drops to what the log shows in the upstream's
 *   window, at most N − 1, and every send waits `d`. After a whole window without a 429,
 *   `N` grows by one (a probe), so a raised limit is found again.
 */
import { Clock, Duration, Effect, Option, Predicate, Semaphore } from "effect"
import { retryAfter } from "../Retry.ts"

/** What one failed call told about the upstream's limit. */
export interface Feedback {
  readonly status: number
  readonly retryAfterMillis?: number | undefined
  /** Requests per `windowMillis`, when the upstream states it (x-ratelimit-limit-*). */
  readonly limit?: number | undefined
  readonly windowMillis?: number | undefined
}

/** The learned limit. */
export interface Learned {
  readonly limit: number
  readonly windowMillis: number
}

/** A send the pacer admitted (opaque to callers: hand it back to `observe`). */
export interface Entry {
  readonly at: number
}

/**
 * What `Limit.learned` needs of a pacer, in this process (`Pacer`) or shared by a fleet
 * (`RedisLimit`'s port of the same rules to one Lua script per step).
 */
export interface Paced<E = never> {
  /** Waits for a slot, then logs the send. */
  readonly admit: Effect.Effect<Entry, E>
  /** A sent call was refused with a 429 saying `feedback`: learn from it. */
  readonly observe: (entry: Entry, feedback: Feedback) => Effect.Effect<void, E>
  /** The limit learned so far. */
  readonly learned: Effect.Effect<Learned | undefined, E>
}

/** Settings, validated by `Limit.learned`. */
export interface Settings {
  readonly maxWindow: number
  /** Added to a learned window; `undefined`: 1 % of it, at least 5 ms. */
  readonly margin: number | undefined
  readonly defaultRetryAfter: number
}

/** The margin added to a window of `window` ms. */
export const marginOf = (settings: Settings, window: number): number =>
  settings.margin ?? Math.max(5, window / 100)

/** `"1s"`, `"6m0s"`, `"20ms"`, `"1.5s"` (OpenAI's reset format), or plain seconds. */
export const parseReset = (value: string): number | undefined => {
  const plain = Number(value)
  if (value.trim() !== "" && Number.isFinite(plain)) return plain * 1000
  const parts = [...value.matchAll(/(\d+(?:\.\d+)?)(ms|h|m|s)/g)]
  if (parts.length === 0) return undefined
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 } as const
  return parts.reduce((sum, [, n, u]) => sum + Number(n) * unit[u as keyof typeof unit], 0)
}

const header = (headers: unknown, name: string): string | undefined => {
  if (headers === undefined || headers === null) return undefined
  if (typeof (headers as { get?: unknown }).get === "function") {
    const value = (headers as { get: (n: string) => unknown }).get(name)
    return typeof value === "string" ? value : undefined
  }
  if (typeof headers === "object") {
    const value = (headers as Record<string, unknown>)[name]
    return typeof value === "string" ? value : Array.isArray(value) ? String(value[0]) : undefined
  }
  return undefined
}

/**
 * Reads a failure's status (`status`, or `response.status`), its `retryAfter` (a
 * `Duration` or milliseconds, as `Retry.retryAfter` reads it) and its headers
 * (`headers` or `response.headers`: `retry-after-ms`, `retry-after`,
 * `x-ratelimit-limit-requests` + `x-ratelimit-reset-requests`).
 */
export const defaultFeedback = (error: unknown): Feedback | undefined => {
  const response = Predicate.hasProperty(error, "response") ? error.response : undefined
  const statusOf = (value: unknown) =>
    Predicate.hasProperty(value, "status") && typeof value.status === "number" ? value.status : undefined
  const status = statusOf(error) ?? statusOf(response)
  if (status === undefined) return undefined
  const headers = Predicate.hasProperty(error, "headers")
    ? error.headers
    : Predicate.hasProperty(response, "headers")
    ? response.headers
    : undefined
  const after = retryAfter(error)
  const ms = Number(header(headers, "retry-after-ms") ?? Number.NaN)
  const seconds = Number(header(headers, "retry-after") ?? Number.NaN)
  const reset = header(headers, "x-ratelimit-reset-requests")
  const resetMillis = reset === undefined ? undefined : parseReset(reset)
  const retryAfterMillis = Option.isSome(after)
    ? Duration.toMillis(after.value)
    : Number.isFinite(ms) && ms >= 0
    ? ms
    : Number.isFinite(seconds) && seconds >= 0
    ? seconds * 1000
    : resetMillis
  // OpenAI-style headers state the requests allowed per minute
  const limit = Number(header(headers, "x-ratelimit-limit-requests") ?? Number.NaN)
  return Number.isInteger(limit) && limit > 0
    ? { status, retryAfterMillis, limit, windowMillis: 60_000 }
    : { status, retryAfterMillis }
}

/** The learning pacer in this process. One per upstream (key). */
export class Pacer implements Paced {
  private readonly log: Array<Entry> = []
  private learnedAt = 0
  private lastThrottle = 0
  private lastProbe = 0
  private blockedUntil = 0
  limit: number | undefined = undefined
  window: number | undefined = undefined
  private readonly turn = Semaphore.makeUnsafe(1)
  private readonly settings: Settings

  constructor(settings: Settings) {
    this.settings = settings
  }

  /** Waits for a slot, then logs the send. */
  readonly admit: Effect.Effect<Entry> = Semaphore.withPermit(
    this.turn,
    Effect.gen({ self: this }, function*() {
      while (true) {
        const now = yield* Clock.currentTimeMillis
        const wait = this.waitAt(now)
        if (wait <= 0) {
          const entry: Entry = { at: now }
          this.log.push(entry)
          return entry
        }
        yield* Effect.sleep(Math.max(1, Math.min(wait, 1_000)))
      }
    })
  )

  private waitAt(now: number): number {
    if (now < this.blockedUntil) return this.blockedUntil - now
    const window = this.window ?? this.settings.maxWindow
    const horizon = window + marginOf(this.settings, window)
    while (this.log.length > 0 && this.log[0]!.at <= now - horizon) this.log.shift()
    if (this.limit === undefined || this.window === undefined) return 0
    if (now - this.lastThrottle > horizon && now - this.lastProbe > horizon && now - this.learnedAt > horizon) {
      this.lastProbe = now
      this.limit++
    }
    if (this.log.length < this.limit) return 0
    return this.log[this.log.length - this.limit]!.at + horizon - now
  }

  readonly learned: Effect.Effect<Learned | undefined> = Effect.sync(() =>
    this.limit === undefined || this.window === undefined ? undefined : { limit: this.limit, windowMillis: this.window }
  )

  /** A call was refused with a 429 saying `feedback`: learn from it. */
  readonly observe = (entry: Entry, feedback: Feedback): Effect.Effect<void> =>
    Effect.flatMap(Clock.currentTimeMillis, (now) =>
      Effect.sync(() => {
        const index = this.log.indexOf(entry)
        if (index >= 0) this.log.splice(index, 1) // the upstream did not admit it
        const wait = Math.min(feedback.retryAfterMillis ?? this.settings.defaultRetryAfter, this.settings.maxWindow)
        this.blockedUntil = Math.max(this.blockedUntil, now + wait)
        if (feedback.limit !== undefined && feedback.windowMillis !== undefined) {
          this.learn(now, feedback.limit, feedback.windowMillis)
        } else if (this.limit === undefined || this.window === undefined) {
          const first = this.log[0]?.at ?? entry.at
          this.learn(now, Math.max(1, this.log.length), Math.min(Math.max(1, now + wait - first), this.settings.maxWindow))
        } else if (entry.at < this.learnedAt) {
          // sent before the limit was learned, so counted in it: not a new signal
          this.limit = Math.max(1, this.limit - 1)
        } else {
          const inWindow = this.log.filter((e) => e.at > now + wait - this.window!).length
          this.limit = Math.max(1, Math.min(this.limit - 1, inWindow))
          this.lastThrottle = now
        }
      }))

  private learn(now: number, limit: number, window: number) {
    this.limit = limit
    this.window = window
    this.learnedAt = now
    this.lastThrottle = now
  }
}

interface RoutedEntry extends Entry {
  readonly inner: Entry
  readonly local: boolean
}

/**
 * A shared pacer that falls back to `local` while its store fails: the call goes on
 * (paced by what this process learns alone), one warning is logged, and the store is
 * asked again after `recheck` ms.
 */
export const withLocal = <E extends { readonly message: string }>(
  remote: Paced<E>,
  local: Pacer,
  key: string,
  recheck = 1_000
): Paced => {
  let localUntil = 0
  let warned = false
  const fallBack = (error: E) =>
    Effect.gen(function*() {
      localUntil = (yield* Clock.currentTimeMillis) + recheck
      if (warned) return
      warned = true
      yield* Effect.logWarning(`Limit.learned ${JSON.stringify(key)}: ${error.message}; pacing from this process alone until the store answers`)
    })
  const isLocal = Effect.map(Clock.currentTimeMillis, (now) => now < localUntil)
  const viaLocal = Effect.map(local.admit, (inner): RoutedEntry => ({ at: inner.at, inner, local: true }))
  return {
    admit: Effect.flatMap(isLocal, (inLocal) =>
      inLocal
        ? viaLocal
        : remote.admit.pipe(
          Effect.map((inner): RoutedEntry => ({ at: inner.at, inner, local: false })),
          Effect.catch((error: E) => Effect.andThen(fallBack(error), viaLocal))
        )),
    observe: (entry, feedback) => {
      const routed = entry as RoutedEntry
      return routed.local
        ? local.observe(routed.inner, feedback)
        : Effect.catch(remote.observe(routed.inner, feedback), fallBack)
    },
    learned: Effect.flatMap(isLocal, (inLocal) =>
      inLocal ? local.learned : Effect.catch(remote.learned, (error: E) => Effect.andThen(fallBack(error), local.learned)))
  }
}
