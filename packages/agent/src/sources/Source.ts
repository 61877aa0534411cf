/**
 * The one mechanism every agent source shares: an HTTP JSON GET, decoded with Schema,
 * under its own timeout, retry policy, circuit breaker, rate limit and (optional)
 * hedging — all set by `Config`.
 *
 * `Weather`, `News` and `KnowledgeBase` are thin modules over `make`: each names its
 * path, query and Schema, and gets back a `Source` whose `get` never crashes — every
 * failure is a `SourceError` whose `reason` is what the agent reports for the source:
 *
 * | `reason`         | `kind`                             | when                                          |
 * |------------------|------------------------------------|-----------------------------------------------|
 * | `"failed"`       | `"connection"`, `"status"`, `"decode"` | refused / reset, non-2xx, a body that is not the Schema |
 * | `"timeout"`      | `"timeout"`, `"deadline"`          | the source's timeout, or the caller's `Deadline` |
 * | `"circuit-open"` | `"circuit-open"`                   | the breaker rejected the call: no request sent |
 * | `"rate-limited"` | `"status"` (429), `"rate-limit"`   | the server said 429 to the last attempt, or our own RPM limit had no slot within the timeout |
 *
 * How one `get` runs, outside in:
 *
 * ```text
 * Retry.retry(policy)                       connection, timeout, 408/409/429/5xx; waits ≥ Retry-After
 *   Hedge.after(hedgeAfter)                 optional: a backup request when the first is slow
 *     CircuitBreaker.execute({ key })       one circuit per source; open → fails fast, nothing sent
 *       Limit.rate (rpm)                    waits its turn, at most `timeout`
 *       Deadline.timeout(timeout)           per attempt, capped by the caller's Deadline
 *         HttpClient GET + Schema decode
 * ```
 *
 * Underneath: `effect/http` `HttpClient`, `effect/persistence` `CircuitBreaker` (a memory
 * store unless a `CircuitBreakerStore` is provided, e.g. Redis, to share circuits between
 * processes) and `@hybrid/core`'s `Deadline`, `Retry`, `Limit`, `Hedge`. Written here:
 * the error classification, the `Retry-After` parsing and the configuration.
 *
 * Configuration (`NAME` is `WEATHER`, `NEWS`, `KB`; durations are Effect duration strings
 * such as `"300 millis"` or `"5 seconds"`):
 *
 * | variable                      | default                         |
 * |-------------------------------|---------------------------------|
 * | `HYBRID_NAME_URL`             | the running `Fixtures`' URL; required without them |
 * | `HYBRID_NAME_TIMEOUT`         | `5 seconds` (per attempt)       |
 * | `HYBRID_NAME_RETRIES`         | `2` (so at most 3 attempts)     |
 * | `HYBRID_NAME_RETRY_BASE`      | `200 millis` (full jitter, ×2, capped at 5 s) |
 * | `HYBRID_NAME_RPM`             | unlimited (`0` = unlimited)     |
 * | `HYBRID_NAME_HEDGE_AFTER`     | off                             |
 * | `HYBRID_NAME_BREAKER_FAILURES`| `5` consecutive failures open the circuit |
 * | `HYBRID_NAME_BREAKER_OPEN`    | `30 seconds` before a probe     |
 *
 * Metrics: `hybrid_source_latency_ms` (histogram, per `source`, every `get` including
 * retries), `hybrid_source_failures_total` (counter, per `source`, `reason`, `kind`),
 * `hybrid_source_breaker_state` (gauge per `source`: 0 closed, 1 half-open, 2 open).
 *
 * Gotchas:
 * - A `"circuit-open"` error is not retried: an open circuit means "degrade now", and
 *   waiting for it would spend the caller's budget. The error carries the circuit's
 *   `retryAfter`.
 * - A malformed 200 body is not retried (as openai-node does not retry parse errors): a
 *   server that answers garbage rarely stops doing so between two attempts.
 * - Only 5xx, 408, connection errors and timeouts count against the circuit; 429 and
 *   other 4xx are the caller's problem, not the server's health, and are ignored by it.
 * - The timeout is per attempt; `Retry` does not start an attempt that cannot finish
 *   before the caller's `Deadline`, so wrap calls in `Deadline.within(budget)`.
 *
 * @example
 * ```ts
 * import { Effect, Schema } from "effect"
 * import { NodeHttpClient } from "@effect/platform-node"
 * import { Source } from "@hybrid/agent"
 *
 * const Quote = Schema.Struct({ text: Schema.String })
 * const program = Effect.gen(function*() {
 *   // reads HYBRID_QUOTES_URL, HYBRID_QUOTES_TIMEOUT, …
 *   const quotes = yield* Source.make({ name: "quotes", schema: Quote })
 *   return yield* quotes.get("/quote", { topic: "effect" })
 * }).pipe(Effect.scoped, Effect.provide(NodeHttpClient.layerUndici))
 * ```
 *
 * @since 0.1.0
 */
import { Cause, Clock, Config, Duration, Effect, type Exit, Layer, Metric, Option, Predicate, Schema, type Scope, Stream } from "effect"
import { HttpClient, HttpClientRequest, HttpClientResponse } from "effect/http"
import type { HttpClientError } from "effect/http/HttpClientError"
import { CircuitBreaker } from "effect/persistence"
import { Deadline, Hedge, Limit, Retry } from "@hybrid/core"
import * as Fixtures from "../fixtures/Fixtures.ts"

// --- errors ------------------------------------------------------------------------------

/**
 * What the agent reports for a failed source.
 *
 * @since 0.1.0
 * @category models
 */
export const Reason = Schema.Literals(["timeout", "failed", "circuit-open", "rate-limited"])
/** @since 0.1.0 @category models */
export type Reason = typeof Reason.Type

/**
 * What exactly went wrong (finer than `Reason`).
 *
 * @since 0.1.0
 * @category models
 */
export const Kind = Schema.Literals(["connection", "status", "decode", "timeout", "deadline", "circuit-open", "rate-limit"])
/** @since 0.1.0 @category models */
export type Kind = typeof Kind.Type

/**
 * A source call failed. `reason` is the status to report; `kind`, `status`, `attempts`
 * and `retryAfter` are the detail to act on.
 *
 * @since 0.1.0
 * @category errors
 */
export class SourceError extends Schema.TaggedError<SourceError>()("SourceError", {
  /** The source's name (`"weather"`, `"news"`, `"kb"`, …). */
  source: Schema.String,
  reason: Reason,
  kind: Kind,
  /** A human-readable detail (never a header or a secret). */
  detail: Schema.String,
  /** The HTTP status of the last answer, when there was one. */
  status: Schema.optional(Schema.Number),
  /** Attempts made, the first one included (from `Retry.report`). */
  attempts: Schema.optional(Schema.Number),
  /** From `Retry-After` (429, 503) or the open circuit: when trying again makes sense. */
  retryAfter: Schema.optional(Schema.Duration)
}) {
  override get message(): string {
    const status = this.status === undefined ? "" : ` ${this.status}`
    const attempts = this.attempts === undefined ? "" : `, ${this.attempts} attempt${this.attempts === 1 ? "" : "s"}`
    return `${this.source}: ${this.reason} (${this.kind}${status}${attempts}): ${this.detail}`
  }
}

const reasonOf = (kind: Kind, status: number | undefined): Reason => {
  switch (kind) {
    case "timeout":
    case "deadline":
      return "timeout"
    case "circuit-open":
      return "circuit-open"
    case "rate-limit":
      return "rate-limited"
    case "status":
      return status === 429 ? "rate-limited" : "failed"
    default:
      return "failed"
  }
}

const sourceError = (
  source: string,
  kind: Kind,
  detail: string,
  extra: { readonly status?: number | undefined; readonly retryAfter?: Duration.Duration | undefined } = {}
) =>
  new SourceError({
    source,
    reason: reasonOf(kind, extra.status),
    kind,
    detail,
    status: extra.status,
    retryAfter: extra.retryAfter
  })

/**
 * The HTTP statuses openai-node retries (408, 409, 429, 5xx): the one rule shared by the
 * sources and the LLM provider.
 *
 * @since 0.1.0
 * @category predicates
 */
export const isRetryableStatus = (status: number): boolean =>
  status === 408 || status === 409 || status === 429 || status >= 500

/**
 * Whether another attempt may help: connection errors, timeouts, and the statuses of
 * `isRetryableStatus`. Not the caller's deadline, a decode error, an open circuit or our
 * own rate limit.
 *
 * @since 0.1.0
 * @category predicates
 */
export const isRetryable = (error: SourceError): boolean => {
  switch (error.kind) {
    case "connection":
    case "timeout":
      return true
    case "status": {
      return isRetryableStatus(error.status ?? 0)
    }
    default:
      return false
  }
}

// --- Retry-After -------------------------------------------------------------------------

/**
 * The wait a response asks for, as openai-node reads it: `retry-after-ms` (milliseconds),
 * else `retry-after` (seconds, or an HTTP date). Only waits in (0, 60 s] are trusted;
 * anything else is ignored and the retry policy's own backoff applies.
 *
 * @since 0.1.0
 * @category utils
 */
export const parseRetryAfter = (
  headers: Readonly<Record<string, string | undefined>>,
  now: number = Date.now()
): Duration.Duration | undefined => {
  let millis: number | undefined
  const ms = headers["retry-after-ms"]
  if (ms !== undefined && ms.trim() !== "" && Number.isFinite(Number(ms))) millis = Number(ms)
  const after = headers["retry-after"]
  if (millis === undefined && after !== undefined && after.trim() !== "") {
    const seconds = Number(after)
    if (Number.isFinite(seconds)) millis = seconds * 1000
    else {
      const date = Date.parse(after)
      if (Number.isFinite(date)) millis = date - now
    }
  }
  return millis !== undefined && millis > 0 && millis <= 60_000 ? Duration.millis(millis) : undefined
}

// --- settings ----------------------------------------------------------------------------

/**
 * One source's resolved configuration.
 *
 * @since 0.1.0
 * @category models
 */
export interface Settings {
  readonly name: string
  /** Base URL, no trailing slash. */
  readonly url: string
  /** Per attempt. */
  readonly timeout: Duration.Duration
  /** Retries after the first attempt. */
  readonly retries: number
  readonly retryBase: Duration.Duration
  /** Requests per minute; `undefined` = unlimited. */
  readonly rpm: number | undefined
  /** Start a backup request after this long; `undefined` = no hedging. */
  readonly hedgeAfter: Duration.Duration | undefined
  readonly breakerFailures: number
  readonly breakerOpen: Duration.Duration
}

/**
 * Defaults for what the environment does not set.
 *
 * @since 0.1.0
 * @category models
 */
export interface Defaults {
  readonly url?: string | undefined
  readonly timeout?: Duration.Duration | undefined
  readonly retries?: number | undefined
  readonly retryBase?: Duration.Duration | undefined
  readonly rpm?: number | undefined
  readonly hedgeAfter?: Duration.Duration | undefined
  readonly breakerFailures?: number | undefined
  readonly breakerOpen?: Duration.Duration | undefined
}

const intAtLeast = (min: number, name: string) =>
  Config.schema(Schema.NumberFromString.check(Schema.isInt(), Schema.isGreaterThanOrEqualTo(min)), name)

const withOptionalDefault = <A>(config: Config.Config<A>, value: A | undefined): Config.Config<A | undefined> =>
  value === undefined
    ? Config.option(config).pipe(Config.map(Option.getOrUndefined))
    : config.pipe(Config.withDefault(value))

/**
 * The `Config` of source `name`, read from `HYBRID_<NAME>_*` (see the module comment).
 * `defaults.url` is the fallback URL; without it `HYBRID_<NAME>_URL` is required.
 *
 * @since 0.1.0
 * @category config
 */
export const config = (name: string, defaults: Defaults = {}): Config.Config<Settings> => {
  const prefix = `HYBRID_${name.toUpperCase().replace(/[^A-Z0-9]+/g, "_")}_`
  const url = Config.String(`${prefix}URL`)
  return Config.all({
    url: defaults.url === undefined ? url : url.pipe(Config.withDefault(defaults.url)),
    timeout: Config.Duration(`${prefix}TIMEOUT`).pipe(Config.withDefault(defaults.timeout ?? Duration.seconds(5))),
    retries: intAtLeast(0, `${prefix}RETRIES`).pipe(
      Config.withDefault(defaults.retries ?? 2)
    ),
    retryBase: Config.Duration(`${prefix}RETRY_BASE`).pipe(Config.withDefault(defaults.retryBase ?? Duration.millis(200))),
    rpm: withOptionalDefault(intAtLeast(0, `${prefix}RPM`), defaults.rpm),
    hedgeAfter: withOptionalDefault(Config.Duration(`${prefix}HEDGE_AFTER`), defaults.hedgeAfter),
    breakerFailures: intAtLeast(1, `${prefix}BREAKER_FAILURES`).pipe(
      Config.withDefault(defaults.breakerFailures ?? 5)
    ),
    breakerOpen: Config.Duration(`${prefix}BREAKER_OPEN`).pipe(Config.withDefault(defaults.breakerOpen ?? Duration.seconds(30)))
  }).pipe(Config.map((s): Settings => ({
    name,
    ...s,
    url: s.url.replace(/\/+$/, ""),
    rpm: s.rpm === 0 ? undefined : s.rpm,
    hedgeAfter: s.hedgeAfter !== undefined && Duration.isZero(s.hedgeAfter) ? undefined : s.hedgeAfter
  })))
}

// --- metrics -----------------------------------------------------------------------------

/**
 * Latency of every `get`, retries included, in milliseconds (attribute `source`).
 *
 * @since 0.1.0
 * @category metrics
 */
export const latency = Metric.histogram("hybrid_source_latency_ms", {
  description: "latency of a source call, retries included (ms)",
  boundaries: Metric.exponentialBoundaries({ start: 5, factor: 2, count: 14 })
})

/**
 * Failed `get`s (attributes `source`, `reason`, `kind`).
 *
 * @since 0.1.0
 * @category metrics
 */
export const failures = Metric.counter("hybrid_source_failures_total", { description: "failed source calls" })

/**
 * Circuit state per source (attribute `source`): 0 closed, 1 half-open, 2 open.
 *
 * @since 0.1.0
 * @category metrics
 */
export const breakerState = Metric.gauge("hybrid_source_breaker_state", {
  description: "circuit breaker state: 0 closed, 1 half-open, 2 open"
})

/**
 * @since 0.1.0
 * @category models
 */
export type CircuitState = "closed" | "half-open" | "open"

const stateCode = { closed: 0, "half-open": 1, open: 2 } as const

// --- the source --------------------------------------------------------------------------

/**
 * A configured source of `A`s.
 *
 * @since 0.1.0
 * @category models
 */
export interface Source<A> {
  readonly settings: Settings
  /** GET `settings.url + path` with `query`, decoded with the source's Schema. */
  readonly get: (path: string, query?: Readonly<Record<string, string>>) => Effect.Effect<A, SourceError>
  /** The circuit's state now. */
  readonly circuit: Effect.Effect<CircuitState>
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Spec<S extends Schema.Top> {
  /** Names the source: config prefix `HYBRID_<NAME>_`, breaker key, metric attribute. */
  readonly name: string
  /** The body's Schema (its decoding must need no services). */
  readonly schema: S
  /** Defaults under the environment; `url` defaults to the running `Fixtures`' `fixture` service. */
  readonly defaults?: Defaults | undefined
  /** The `Fixtures` service whose URL is the default when none is configured. */
  readonly fixture?: "weather" | "news" | "kb" | undefined
}

/**
 * Reads the source's `Config` (the URL defaulting to the running `Fixtures`, if any) and
 * builds its breaker, rate limit and retry policy. Scoped: the breaker's metric updater
 * stops with the scope.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <S extends Schema.Top & { readonly DecodingServices: never }>(
  spec: Spec<S>
): Effect.Effect<Source<S["Type"]>, Config.ConfigError, HttpClient.HttpClient | Scope.Scope> =>
  Effect.gen(function*() {
    const fixtures = yield* Effect.serviceOption(Fixtures.Fixtures)
    const fixtureUrl = spec.fixture !== undefined && Option.isSome(fixtures) ? fixtures.value.urls[spec.fixture] : undefined
    const settings = yield* config(spec.name, { ...spec.defaults, url: spec.defaults?.url ?? fixtureUrl })
    return yield* fromSettings(spec, settings)
  })

/**
 * Builds a source from settings already resolved (no `Config` read).
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromSettings = <S extends Schema.Top & { readonly DecodingServices: never }>(
  spec: Pick<Spec<S>, "name" | "schema">,
  settings: Settings
): Effect.Effect<Source<S["Type"]>, never, HttpClient.HttpClient | Scope.Scope> =>
  Effect.gen(function*() {
    const name = spec.name
    const client = yield* HttpClient.HttpClient
    const store = yield* Effect.serviceOption(CircuitBreaker.CircuitBreakerStore)
    const storeContext = Option.isSome(store)
      ? Layer.succeed(CircuitBreaker.CircuitBreakerStore, store.value)
      : CircuitBreaker.layerStoreMemory()
    const breaker = yield* CircuitBreaker.make({
      tripPolicy: CircuitBreaker.consecutive(settings.breakerFailures),
      openDuration: settings.breakerOpen
    }).pipe(Effect.provide(storeContext))
    const key = `@hybrid/agent/source/${name}`
    const gauge = Metric.withAttributes(breakerState, { source: name })
    yield* Metric.update(gauge, 0)
    yield* breaker.transitions.pipe(
      Stream.filter((t) => t.key === key),
      Stream.runForEach((t) => Metric.update(gauge, stateCode[t.to === "HalfOpen" ? "half-open" : t.to === "Open" ? "open" : "closed"])),
      Effect.forkScoped
    )
    const rate = settings.rpm === undefined ? undefined : yield* Limit.rate({ limit: settings.rpm, window: "1 minute" })
    const policy = Retry.policy<SourceError>({
      times: settings.retries,
      base: settings.retryBase,
      cap: Duration.max(settings.retryBase, Duration.seconds(5)),
      jitter: "full",
      while: isRetryable
    })
    const decode = HttpClientResponse.schemaBodyJson(spec.schema)
    const timeoutMs = Duration.toMillis(settings.timeout)
    const histogram = Metric.withAttributes(latency, { source: name })

    const fromHttp = (error: HttpClientError): SourceError => {
      const reason = error.reason
      switch (reason._tag) {
        case "StatusCodeError":
          return sourceError(name, "status", `HTTP ${reason.response.status}`, { status: reason.response.status })
        case "DecodeError":
        case "EmptyBodyError":
          return sourceError(name, "decode", `unreadable body (${reason._tag})`)
        default:
          return sourceError(name, "connection", `${reason._tag}: ${reason.description ?? "request failed"}`)
      }
    }

    /** One HTTP request: GET, status check, decode. */
    const request = (path: string, query: Readonly<Record<string, string>>) =>
      Effect.gen(function*() {
        const req = HttpClientRequest.get(`${settings.url}${path}`).pipe(
          HttpClientRequest.setUrlParams(query),
          HttpClientRequest.acceptJson
        )
        const response = yield* client.execute(req).pipe(Effect.mapError(fromHttp))
        if (response.status < 200 || response.status >= 300) {
          // read (and so release) the body; its text is not kept: it may echo anything
          yield* Effect.ignore(response.text)
          const now = yield* Clock.currentTimeMillis
          return yield* sourceError(name, "status", `HTTP ${response.status}`, {
            status: response.status,
            retryAfter: parseRetryAfter(response.headers, now)
          })
        }
        return yield* decode(response).pipe(
          Effect.mapError((error) =>
            Schema.isSchemaError(error)
              ? sourceError(name, "decode", `body does not match the schema: ${error.message}`)
              : fromHttp(error)
          )
        )
      })

    const onTimeout = (error: Deadline.TimeoutExceeded | Deadline.DeadlineExceeded) =>
      error._tag === "TimeoutExceeded"
        ? sourceError(name, "timeout", `no answer within ${error.timeout} ms`)
        : sourceError(name, "deadline", `the caller's deadline passed after ${error.elapsed} ms`)

    const waitTurn: Effect.Effect<void, SourceError> = rate === undefined ? Effect.void : rate.consume(1).pipe(
      Deadline.timeout(settings.timeout),
      Effect.mapError((error) =>
        Predicate.isTagged(error, "TimeoutExceeded") || Predicate.isTagged(error, "DeadlineExceeded")
          ? sourceError(name, "rate-limit", `no slot of ${settings.rpm} requests/minute within ${timeoutMs} ms`)
          : sourceError(name, "rate-limit", String(error.message))
      )
    )

    const classify = (exit: Exit.Exit<unknown, SourceError>): CircuitBreaker.Outcome => {
      if (exit._tag === "Success") return CircuitBreaker.success
      const error = exit.cause.reasons.find(Cause.isFailReason)?.error
      if (error === undefined) return CircuitBreaker.failure()
      switch (error.kind) {
        case "connection":
        case "timeout":
        case "decode":
          return CircuitBreaker.failure()
        case "status":
          return error.status !== undefined && (error.status >= 500 || error.status === 408)
            ? CircuitBreaker.failure()
            : CircuitBreaker.ignored
        default:
          return CircuitBreaker.ignored
      }
    }

    const fromBreaker = (error: CircuitBreaker.CircuitBreakerError): SourceError => {
      const reason = error.reason
      switch (reason._tag) {
        case "CircuitOpen":
          return sourceError(name, "circuit-open", `circuit open; next probe in ${Duration.format(reason.retryAfter)}`, {
            retryAfter: reason.retryAfter
          })
        case "CircuitHalfOpen":
          return sourceError(name, "circuit-open", "circuit half-open; a probe is running")
        default:
          return sourceError(name, "circuit-open", `circuit store unavailable: ${reason.message}`)
      }
    }

    const attempt = (path: string, query: Readonly<Record<string, string>>) => {
      const one = waitTurn.pipe(
        Effect.andThen(request(path, query).pipe(Deadline.timeout(settings.timeout), Effect.mapError((e) =>
          e._tag === "SourceError" ? e : onTimeout(e)
        ))),
        breaker.execute({ key, classify }),
        Effect.catchTag("CircuitBreakerError", (e) => Effect.fail(fromBreaker(e)))
      )
      return settings.hedgeAfter === undefined ? one : one.pipe(Hedge.after(settings.hedgeAfter))
    }

    const get = (path: string, query: Readonly<Record<string, string>> = {}) =>
      Effect.gen(function*() {
        const start = yield* Clock.currentTimeMillis
        const exit = yield* Effect.exit(attempt(path, query).pipe(Retry.retry(policy)))
        const end = yield* Clock.currentTimeMillis
        yield* Metric.update(histogram, end - start)
        if (exit._tag === "Success") return exit.value
        const error = exit.cause.reasons.find(Cause.isFailReason)?.error
        if (error === undefined) return yield* Effect.failCause(exit.cause as Cause.Cause<never>)
        const report = Retry.report(exit.cause)
        const final = new SourceError({
          source: error.source,
          reason: error.reason,
          kind: error.kind,
          detail: error.detail,
          status: error.status,
          retryAfter: error.retryAfter,
          attempts: Option.isSome(report) ? report.value.attempts : 1
        })
        yield* Metric.update(Metric.withAttributes(failures, { source: name, reason: final.reason, kind: final.kind }), 1)
        yield* Effect.annotateCurrentSpan({ "source.reason": final.reason, "source.kind": final.kind, "source.attempts": final.attempts ?? 1 })
        return yield* final
      }).pipe(Effect.withSpan(`Source.get`, { attributes: { source: name, path } }))

    const circuit: Effect.Effect<CircuitState> = breaker.state(key).pipe(
      Effect.map((s): CircuitState => s._tag === "Closed" ? "closed" : s._tag === "Open" ? "open" : "half-open"),
      Effect.orElseSucceed((): CircuitState => "closed")
    )

    return { settings, get, circuit }
  })
