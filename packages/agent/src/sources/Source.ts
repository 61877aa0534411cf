/**
 * A source of the agent is one definition — its name, label, response Schema, how to
 * build the request from the query, how to turn the decoded body into documents for
 * processing, and its default resilience settings — and `make` turns a definition into a
 * running source: an HTTP JSON GET through the `Upstream` boundary, under its own
 * timeout, retry policy, circuit breaker, rate limit, concurrency limit and (optional)
 * hedging, all set by `Config` under `HYBRID_<NAME>_*`.
 *
 * `Weather`, `News` and `KnowledgeBase` are definitions (`Weather.source`, …); adding a
 * source is one more definition passed to `Agent.layer({ sources })`. A running source's
 * `get` never crashes — every failure is a `SourceError` whose `reason` is what the agent
 * reports for the source:
 *
 * | `reason`         | `kind`                             | when                                          |
 * |------------------|------------------------------------|-----------------------------------------------|
 * | `"failed"`       | `"connection"`, `"status"`, `"decode"`, `"too-large"` | refused / reset (also mid-body), non-2xx, a whole body that is not the Schema, a body past `HYBRID_NAME_MAX_BYTES` |
 * | `"timeout"`      | `"timeout"`, `"deadline"`          | the source's timeout, or the caller's `Deadline` |
 * | `"circuit-open"` | `"circuit-open"`                   | the breaker rejected the call: no request sent |
 * | `"rate-limited"` | `"status"` (429), `"rate-limit"`   | the server said 429 to the last attempt, or our own RPM limit had no slot within the timeout |
 *
 * How one `get` runs, outside in:
 *
 * ```text
 * Limit.concurrency (concurrency)           optional: calls past it queue (the breaker never sees them)
 *   Retry.retry(policy)                     connection (a body broken off too), timeout, 408/409/429/5xx; waits ≥ Retry-After
 *     Hedge.after(hedgeAfter)               optional: a backup request when the first is slow
 *       CircuitBreaker.execute({ key })     one circuit per source; open → fails fast, nothing sent
 *         Limit.rate (rpm)                  waits its turn, at most `timeout`
 *         Deadline.timeout(timeout)         per attempt, capped by the caller's Deadline
 *           Upstream.json                   GET + status policy + capped read (maxBytes) + Schema decode
 * ```
 *
 * Configuration (`NAME` is the definition's name upper-cased — `WEATHER`, `NEWS`, `KB`;
 * durations are Effect duration strings such as `"300 millis"` or `"5 seconds"`; the
 * definition's `defaults` replace the defaults below):
 *
 * | variable                      | default                         |
 * |-------------------------------|---------------------------------|
 * | `HYBRID_NAME_URL`             | required (`Fixtures.layerConfig` provides the fixtures' URLs) |
 * | `HYBRID_NAME_TIMEOUT`         | `5 seconds` (per attempt)       |
 * | `HYBRID_NAME_RETRIES`         | `2` (so at most 3 attempts)     |
 * | `HYBRID_NAME_RETRY_BASE`      | `200 millis` (full jitter, ×2, capped at 5 s) |
 * | `HYBRID_NAME_RPM`             | unlimited (`0` = unlimited)     |
 * | `HYBRID_NAME_CONCURRENCY`     | unlimited (`0` = unlimited): calls in flight at once |
 * | `HYBRID_NAME_HEDGE_AFTER`     | off                             |
 * | `HYBRID_NAME_BREAKER_FAILURES`| `5`: the fewest failures that open the circuit (from a fresh circuit: 5 in a row) |
 * | `HYBRID_NAME_BREAKER_RATE`    | `0.5`: …once this share of the last `BREAKER_WINDOW` recorded calls failed |
 * | `HYBRID_NAME_BREAKER_WINDOW`  | `20` recorded calls                 |
 * | `HYBRID_NAME_BREAKER_OPEN`    | `30 seconds` before the circuit lets probes through |
 * | `HYBRID_NAME_BREAKER_PROBES`  | `3` calls at once while half-open (the first decides) |
 * | `HYBRID_NAME_MAX_BYTES`       | `8MiB`: the largest body read (`"512KiB"`, `"2 MB"` or bytes); past it `too-large`, read no further |
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
 *   server that answers garbage rarely stops doing so between two attempts. Neither is
 *   a body past the cap. A body that breaks off mid-way is a transport failure: retried.
 * - Only 5xx, 408, connection errors, timeouts, undecodable and oversized bodies count
 *   against the circuit; 429 and other 4xx are the caller's problem, not the server's
 *   health, and are ignored by it — and so are calls cut by the caller's own deadline,
 *   and calls waiting for a `concurrency` slot (they queue outside the breaker).
 * - The circuit trips on a failure *rate* (Effect's `CircuitBreaker.rate`), not on a run
 *   of consecutive failures: under concurrency a burst of slow answers ends many calls
 *   at once, and a run of 5 is no evidence that a source is failing. From a fresh circuit
 *   `BREAKER_FAILURES` failures in a row still open it.
 * - Half-open, Effect's breaker admits one probe and rejects every other call; here up to
 *   `BREAKER_PROBES − 1` more calls run beside the probe (their outcomes are not
 *   recorded: the probe's closes or reopens the circuit), so a recovering source is not
 *   reported `circuit-open` to every concurrent caller. Past that, `circuit-open`. With a
 *   Redis store (`Fleet`) the probe is the fleet's and the companions are each process's.
 * - The timeout is per attempt; `Retry` does not start an attempt that cannot finish
 *   before the caller's `Deadline`, so wrap calls in `Deadline.within(budget)`.
 *
 * @example
 * ```ts
 * import { Effect, Schema } from "effect"
 * import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
 * import { Query, Source } from "@hybrid/agent"
 *
 * const Quotes = Source.define({
 *   name: "quotes",
 *   label: "Quotes",
 *   schema: Schema.Struct({ quotes: Schema.Array(Schema.Struct({ id: Schema.String, text: Schema.String })) }),
 *   request: (query) => ({ path: "/quotes", params: { q: query.terms } }),
 *   documents: (body) => body.quotes.map((q) => ({ id: q.id, title: "Quote", text: q.text }))
 * })
 * const program = Effect.gen(function*() {
 *   const quotes = yield* Source.make(Quotes) // reads HYBRID_QUOTES_URL, HYBRID_QUOTES_TIMEOUT, …
 *   return yield* quotes.get(Query.make("effect systems"))
 * }).pipe(Effect.scoped, Effect.provide(NodeHttpClient.layerUndici))
 * ```
 *
 * @since 0.1.0
 */
import { Cause, Clock, Config, Duration, Effect, Metric, Option, Result, Schema, type Scope, Semaphore, Stream } from "effect"
import { HttpClient, HttpClientRequest } from "effect/http"
import { CircuitBreaker } from "effect/persistence"
import { Deadline, Hedge, Limit, Retry } from "@hybrid/core"
import type * as Processing from "../processing/Processing.ts"
import * as Scrub from "../Scrub.ts"
import * as Common from "../internal/upstream.ts"
import * as Upstream from "../Upstream.ts"
import type { Query } from "./Query.ts"

// --- errors ------------------------------------------------------------------------------

/**
 * What the agent reports for a failed source.
 *
 * @example
 * ```ts
 * import { Source } from "@hybrid/agent"
 *
 * const advice = (reason: Source.Reason) => reason === "rate-limited" ? "slow down" : reason === "circuit-open" ? "wait" : "retry later"
 * ```
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
 * @example
 * ```ts
 * import { Source } from "@hybrid/agent"
 *
 * // kind is finer than reason: which step of the call failed
 * const transient = (kind: Source.Kind) => kind === "connection" || kind === "timeout"
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export const Kind = Schema.Literals(["connection", "status", "decode", "too-large", "timeout", "deadline", "circuit-open", "rate-limit"])
/** @since 0.1.0 @category models */
export type Kind = typeof Kind.Type

/**
 * A source call failed. `reason` is the status to report; `kind`, `status`, `attempts`
 * and `retryAfter` are the detail to act on.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Query, Source } from "@hybrid/agent"
 *
 * declare const news: Source.Source
 * const headlines = news.documents(Query.make("electric cars")).pipe(
 *   Effect.catchTag("SourceError", (e) => Effect.logWarning(`${e.source} ${e.reason}: ${e.detail}`).pipe(Effect.as([])))
 * )
 * ```
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

/** The reason a kind of failure is reported as (a 429 status is `rate-limited`). */
const reasons: { readonly [K in Kind]: Reason } = {
  connection: "failed",
  status: "failed",
  decode: "failed",
  "too-large": "failed",
  timeout: "timeout",
  deadline: "timeout",
  "circuit-open": "circuit-open",
  "rate-limit": "rate-limited"
}
const reasonOf = (kind: Kind, status: number | undefined): Reason => kind === "status" && status === 429 ? "rate-limited" : reasons[kind]

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
 * Whether another attempt may help: connection errors, timeouts, and the statuses of
 * `Upstream.isRetryableStatus`. Not the caller's deadline, a decode error, an open circuit or our
 * own rate limit.
 *
 * @example
 * ```ts
 * import { Source } from "@hybrid/agent"
 *
 * const error = new Source.SourceError({ source: "news", reason: "failed", kind: "status", status: 503, detail: "503 Service Unavailable" })
 * Source.isRetryable(error) // true: a 503 may pass on the next attempt
 * ```
 *
 * @since 0.1.0
 * @category predicates
 */
export const isRetryable = (error: SourceError): boolean =>
  error.kind === "connection" || error.kind === "timeout" || (error.kind === "status" && Upstream.isRetryableStatus(error.status ?? 0))


// --- settings ----------------------------------------------------------------------------

/**
 * One source's resolved configuration.
 *
 * @example
 * ```ts
 * import { Duration } from "effect"
 * import { Source } from "@hybrid/agent"
 *
 * declare const weather: Source.Source
 * const describe = (s: Source.Settings) => `${s.name} at ${s.url}: ${Duration.toMillis(s.timeout)} ms per attempt, ${s.retries} retries`
 * const line = describe(weather.settings)
 * ```
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
  /** Calls in flight at once (the others queue); `undefined` = unlimited. */
  readonly concurrency: number | undefined
  /** Start a backup request after this long; `undefined` = no hedging. */
  readonly hedgeAfter: Duration.Duration | undefined
  /** The fewest recorded failures that open the circuit (the rate policy's `minimumCalls`). */
  readonly breakerFailures: number
  /** The share of failures in the window that opens the circuit, in (0, 1]. */
  readonly breakerRate: number
  /** The recorded calls the rate is taken over (at least `breakerFailures`). */
  readonly breakerWindow: number
  readonly breakerOpen: Duration.Duration
  /** Calls allowed at once while half-open, the probe included (≥ 1). */
  readonly breakerProbes: number
  /** The largest body read, in bytes; past it the call fails with kind `too-large`. */
  readonly maxBytes: number
}

/**
 * A definition's defaults under the environment (`HYBRID_<NAME>_*` still wins).
 *
 * @example
 * ```ts
 * import { Duration } from "effect"
 * import { Source } from "@hybrid/agent"
 *
 * // what a definition sets under the environment (HYBRID_<NAME>_… still wins)
 * const defaults: Source.Defaults = { timeout: Duration.seconds(2), retries: 1, rpm: 600 }
 * const settings = Source.config("tickets", defaults)
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type Defaults = { readonly [K in Exclude<keyof Settings, "name">]?: Settings[K] | undefined }

/**
 * The `HYBRID_<NAME>_` prefix of a source's variables.
 *
 * @example
 * ```ts
 * import { Source } from "@hybrid/agent"
 *
 * Source.envPrefix("kb") // "HYBRID_KB_"
 * ```
 *
 * @since 0.1.0
 * @category config
 */
export const envPrefix = (name: string): string => `HYBRID_${name.toUpperCase().replace(/[^A-Z0-9]+/g, "_")}_`

/**
 * The `Config` of source `name`, read from `HYBRID_<NAME>_*` (see the module comment).
 * `defaults.url` is the fallback URL; without it `HYBRID_<NAME>_URL` is required.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Source } from "@hybrid/agent"
 *
 * const settings = Effect.gen(function*() {
 *   return yield* Source.config("weather", { retries: 0 })
 * })
 * // with HYBRID_WEATHER_URL=http://127.0.0.1:8080 → { url: "http://127.0.0.1:8080", retries: 0, … }
 * ```
 *
 * @since 0.1.0
 * @category config
 */
export const config = (name: string, defaults: Defaults = {}): Config.Config<Settings> => {
  const prefix = envPrefix(name)
  const url = Config.String(`${prefix}URL`)
  return Config.all({
    url: defaults.url === undefined ? url : url.pipe(Config.withDefault(defaults.url)),
    timeout: Config.Duration(`${prefix}TIMEOUT`).pipe(Config.withDefault(defaults.timeout ?? Duration.seconds(5))),
    retries: Common.intConfig(`${prefix}RETRIES`, 0, defaults.retries ?? 2),
    retryBase: Config.Duration(`${prefix}RETRY_BASE`).pipe(Config.withDefault(defaults.retryBase ?? Duration.millis(200))),
    rpm: Common.limitConfig(`${prefix}RPM`, defaults.rpm),
    concurrency: Common.limitConfig(`${prefix}CONCURRENCY`, defaults.concurrency),
    hedgeAfter: Config.Duration(`${prefix}HEDGE_AFTER`).pipe(Config.withDefault(defaults.hedgeAfter)),
    breakerFailures: Common.intConfig(`${prefix}BREAKER_FAILURES`, 1, defaults.breakerFailures ?? 5),
    breakerRate: Config.schema(
      Schema.NumberFromString.check(Schema.isGreaterThan(0), Schema.isLessThanOrEqualTo(1)),
      `${prefix}BREAKER_RATE`
    ).pipe(Config.withDefault(defaults.breakerRate ?? 0.5)),
    breakerWindow: Common.intConfig(`${prefix}BREAKER_WINDOW`, 1, defaults.breakerWindow ?? 20),
    breakerOpen: Config.Duration(`${prefix}BREAKER_OPEN`).pipe(Config.withDefault(defaults.breakerOpen ?? Duration.seconds(30))),
    breakerProbes: Common.intConfig(`${prefix}BREAKER_PROBES`, 1, defaults.breakerProbes ?? 3),
    maxBytes: Upstream.maxBytesConfig(`${prefix}MAX_BYTES`, defaults.maxBytes ?? Upstream.defaultMaxBytes)
  }).pipe(Config.map((s): Settings => ({
    name,
    ...s,
    breakerWindow: Math.max(s.breakerWindow, s.breakerFailures),
    url: s.url.replace(/\/+$/, ""),
    hedgeAfter: s.hedgeAfter !== undefined && Duration.isZero(s.hedgeAfter) ? undefined : s.hedgeAfter
  })))
}

// --- metrics -----------------------------------------------------------------------------

/**
 * Latency of every `get`, retries included, in milliseconds (attribute `source`).
 *
 * @example
 * ```ts
 * import { Effect, Metric } from "effect"
 * import { Source } from "@hybrid/agent"
 *
 * const p = Metric.value(Source.latency.pipe(Metric.withAttributes({ source: "news" }))).pipe(Effect.map((s) => s.count))
 * ```
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
 * @example
 * ```ts
 * import { Effect, Metric } from "effect"
 * import { Source } from "@hybrid/agent"
 *
 * const failed = Metric.value(Source.failures.pipe(Metric.withAttributes({ source: "weather" }))).pipe(Effect.map((s) => s.count))
 * ```
 *
 * @since 0.1.0
 * @category metrics
 */
export const failures = Metric.counter("hybrid_source_failures_total", { description: "failed source calls" })

/**
 * Circuit state per source (attribute `source`): 0 closed, 1 half-open, 2 open.
 *
 * @example
 * ```ts
 * import { Effect, Metric } from "effect"
 * import { Source } from "@hybrid/agent"
 *
 * // 0 closed, 1 half-open, 2 open
 * const state = Metric.value(Source.breakerState.pipe(Metric.withAttributes({ source: "kb" }))).pipe(Effect.map((s) => s.value))
 * ```
 *
 * @since 0.1.0
 * @category metrics
 */
export const breakerState = Metric.gauge("hybrid_source_breaker_state", {
  description: "circuit breaker state: 0 closed, 1 half-open, 2 open"
})

/**
 * The state of a source's circuit breaker: closed (calls go through), half-open (one
 * probe), open (calls fail fast).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Source } from "@hybrid/agent"
 *
 * declare const sources: ReadonlyArray<Source.Source>
 * const open = Effect.filter(sources, (s) => Effect.map(s.circuit, (state: Source.CircuitState) => state === "open"))
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type CircuitState = "closed" | "half-open" | "open"

const stateCode = { closed: 0, "half-open": 1, open: 2 } as const

// --- the definition ----------------------------------------------------------------------

/**
 * The GET a source makes for a query: `path` under its URL, and the URL parameters.
 *
 * @example
 * ```ts
 * import { Source } from "@hybrid/agent"
 *
 * // GET <url>/tickets?q=<terms>&status=open
 * const request = (terms: string): Source.Request => ({ path: "/tickets", params: { q: terms, status: "open" } })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Request {
  readonly path: string
  readonly params: Readonly<Record<string, string>>
}

/**
 * Everything that makes a source: see the module comment. `S` is the body's Schema (its
 * decoding must need no services).
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import { Source } from "@hybrid/agent"
 *
 * const Body = Schema.Struct({ items: Schema.Array(Schema.Struct({ id: Schema.String, body: Schema.String })) })
 * const Tickets: Source.Definition<typeof Body> = Source.define({
 *   name: "tickets",
 *   label: "Support tickets",
 *   schema: Body,
 *   request: Source.search("/tickets", 5),
 *   documents: (b) => b.items.map((t) => ({ id: t.id, title: `Ticket ${t.id}`, text: t.body }))
 * })
 * ```
 *
 * @since 0.1.0
 * @category models
 */

export interface Definition<S extends Schema.Top & { readonly DecodingServices: never } = any> { // any: a list holds definitions of different bodies
  /** Names the source: the report's `name`, config prefix `HYBRID_<NAME>_`, breaker key, metric attribute. */
  readonly name: string
  /** How a person reads it, e.g. `"Knowledge base"` (prompt and extractive lines). */
  readonly label: string
  /** The body's Schema. */
  readonly schema: S
  /** The request for a query. */
  readonly request: (query: Query) => Request
  /** The decoded body as documents for processing. */
  readonly documents: (body: S["Type"]) => ReadonlyArray<Processing.Document>
  /** Resilience defaults under the environment. */
  readonly defaults?: Defaults | undefined
}

/**
 * The request of a search API: `GET path?q=<the query's terms>&limit=<limit>`.
 *
 * @example
 * ```ts
 * import { Query, Source } from "@hybrid/agent"
 *
 * Source.search("/news", 5)(Query.make("electric cars")) // { path: "/news", params: { q: "electric cars", limit: "5" } }
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const search = (path: string, limit: number) => (query: Query): Request => ({
  path,
  params: { q: query.terms, limit: String(limit) }
})

/**
 * A search API's definition: `GET path?q=<the query's terms>&limit=<limit>`;
 * `withLimit(n)` is the same definition asking for `n` results. `News.source` and
 * `KnowledgeBase.source` are two.
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import { Source } from "@hybrid/agent"
 *
 * const Body = Schema.Struct({ items: Schema.Array(Schema.Struct({ id: Schema.String, body: Schema.String })) })
 * const tickets = Source.searchApi({
 *   name: "tickets",
 *   label: "Support tickets",
 *   schema: Body,
 *   path: "/tickets",
 *   limit: 5,
 *   documents: (b) => b.items.map((t) => ({ id: t.id, title: `Ticket ${t.id}`, text: t.body }))
 * })
 * const more = tickets.withLimit(20) // GET /tickets?q=…&limit=20
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const searchApi = <S extends Schema.Top & { readonly DecodingServices: never }>(
  spec: Omit<Definition<S>, "request" | "defaults"> & {
    readonly path: string
    readonly limit: number
    readonly defaults?: DefaultsInput | undefined
  }
): Definition<S> & { readonly withLimit: (limit: number) => Definition<S> } => {
  const { limit, path, ...definition } = spec
  return { ...define({ ...definition, request: search(path, limit) }), withLimit: (n) => searchApi({ ...spec, limit: n }) }
}

/**
 * A definition, its body's type inferred from `schema` (an identity function).
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import { Source } from "@hybrid/agent"
 *
 * const Docs = Source.define({
 *   name: "docs",
 *   label: "Docs",
 *   schema: Schema.Struct({ pages: Schema.Array(Schema.Struct({ url: Schema.String, text: Schema.String })) }),
 *   request: (query) => ({ path: "/search", params: { q: query.terms } }),
 *   documents: (body) => body.pages.map((p) => ({ id: p.url, title: p.url, text: p.text })),
 *   defaults: { timeout: "2 seconds", concurrency: 4 }
 * })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const define = <S extends Schema.Top & { readonly DecodingServices: never }>(
  definition: Omit<Definition<S>, "defaults"> & { readonly defaults?: DefaultsInput | undefined }
): Definition<S> => ({
  ...definition,
  defaults: definition.defaults === undefined ? undefined : defaultsOf(definition.defaults)
})

/**
 * `Defaults` as written in a definition: durations as `Duration.Input` ("2 seconds", 500).
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import { Source } from "@hybrid/agent"
 *
 * // durations as Effect's inputs ("2 seconds"); define turns them into Durations
 * const defaults: Source.DefaultsInput = { timeout: "2 seconds", hedgeAfter: "300 millis", breakerFailures: 3 }
 * const Status = Source.define({
 *   name: "status",
 *   label: "Status page",
 *   schema: Schema.Struct({ text: Schema.String }),
 *   request: () => ({ path: "/status", params: {} }),
 *   documents: (b) => [{ id: "status", title: "Status", text: b.text }],
 *   defaults
 * })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type DefaultsInput = {
  readonly [K in keyof Defaults]?: Settings[K] extends Duration.Duration | undefined ? Duration.Input | undefined : Defaults[K]
}

const defaultsOf = (input: DefaultsInput): Defaults => {
  const duration = (value: Duration.Input | undefined) => value === undefined ? undefined : Duration.fromInputUnsafe(value)
  return {
    ...input,
    timeout: duration(input.timeout),
    retryBase: duration(input.retryBase),
    hedgeAfter: duration(input.hedgeAfter),
    breakerOpen: duration(input.breakerOpen)
  }
}

// --- the running source ------------------------------------------------------------------

/**
 * A running source of `A`s.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Query, Source, Weather } from "@hybrid/agent"
 *
 * const program = Effect.gen(function*() {
 *   const weather: Source.Source<Weather.Body> = yield* Source.make(Weather.source)
 *   const body = yield* weather.get(Query.make("weather in Oslo"))
 *   return `${body.city}: ${body.temperatureC} °C, circuit ${yield* weather.circuit}`
 * })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Source<A = unknown> {
  readonly definition: Definition
  readonly settings: Settings
  /** GETs the definition's request for `query`, decoded with its Schema. */
  readonly get: (query: Query) => Effect.Effect<A, SourceError>
  /** `get`, then the definition's documents. */
  readonly documents: (query: Query) => Effect.Effect<ReadonlyArray<Processing.Document>, SourceError>
  /** The circuit's state now. */
  readonly circuit: Effect.Effect<CircuitState>
}

/**
 * Reads the source's `Config` (`HYBRID_<NAME>_*` over the definition's defaults) and
 * builds it. Scoped: the breaker's metric updater stops with the scope.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
 * import { Query, Source, Weather } from "@hybrid/agent"
 *
 * const program = Effect.gen(function*() {
 *   const weather = yield* Source.make(Weather.source) // needs HYBRID_WEATHER_URL
 *   return yield* weather.get(Query.make("Will it rain in Oslo?"))
 * }).pipe(Effect.scoped, Effect.provide(NodeHttpClient.layerUndici))
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <S extends Schema.Top & { readonly DecodingServices: never }>(
  definition: Definition<S>
): Effect.Effect<Source<S["Type"]>, Config.ConfigError, HttpClient.HttpClient | Scope.Scope> =>
  Effect.flatMap(config(definition.name, definition.defaults), (settings) => fromSettings(definition, settings))

/** What counts against the circuit: the server's health (connection, timeout, undecodable or oversized bodies, 5xx, 408). */
const classify = Common.classifyBy((error: SourceError) =>
  ["connection", "timeout", "decode", "too-large"].includes(error.kind) || (error.kind === "status" && Common.isServerFault(error.status))
)

const fromUpstream = (name: string, error: Upstream.UpstreamError): SourceError =>
  sourceError(name, error.kind, error.kind === "too-large" ? `${error.detail} (${envPrefix(name)}MAX_BYTES)` : error.detail, {
    status: error.status,
    retryAfter: error.retryAfter
  })

const fromTimeout = (name: string, error: Deadline.TimeoutExceeded | Deadline.DeadlineExceeded) =>
  sourceError(name, error._tag === "TimeoutExceeded" ? "timeout" : "deadline", Common.timeoutDetail(error))

/** The final error of a `get`: the last attempt's, with the attempts made. */
const withAttempts = (error: SourceError, cause: Cause.Cause<SourceError>): SourceError =>
  new SourceError({ ...error, attempts: Option.match(Retry.report(cause), { onNone: () => 1, onSome: (report) => report.attempts }) })

/**
 * The trip policy of a source: open once `breakerFailures` calls are recorded and
 * `breakerRate` of the last `breakerWindow` failed.
 *
 * @example
 * ```ts
 * import { Source } from "@hybrid/agent"
 *
 * Source.tripPolicy({ breakerFailures: 5, breakerRate: 0.5, breakerWindow: 20 })
 * // { _tag: "Rate", threshold: 0.5, size: 20, minimumCalls: 5 }
 * ```
 *
 * @since 0.1.0
 * @category config
 */
export const tripPolicy = (settings: Pick<Settings, "breakerFailures" | "breakerRate" | "breakerWindow">): CircuitBreaker.TripPolicy =>
  CircuitBreaker.rate({
    threshold: settings.breakerRate,
    size: Math.max(settings.breakerWindow, settings.breakerFailures),
    minimumCalls: settings.breakerFailures
  })

/** The breaker of one source (a memory store unless a `CircuitBreakerStore` is provided), its state on a gauge. */
const breakerOf = (settings: Settings) =>
  Effect.gen(function*() {
    const key = `@hybrid/agent/source/${settings.name}`
    const { breaker, circuit, refusal } = yield* Common.breaker({ key, tripPolicy: tripPolicy(settings), openDuration: settings.breakerOpen })
    const refused = (e: CircuitBreaker.CircuitBreakerError) => {
      const { detail, retryAfter } = refusal(e)
      return sourceError(settings.name, "circuit-open", detail, { retryAfter })
    }
    // half-open: the breaker's own probe, and up to breakerProbes − 1 calls beside it
    const companions = yield* Semaphore.make(settings.breakerProbes - 1)
    const gauge = Metric.withAttributes(breakerState, { source: settings.name })
    yield* Metric.update(gauge, 0)
    yield* breaker.transitions.pipe(
      Stream.filter((t) => t.key === key),
      Stream.runForEach((t) => Metric.update(gauge, stateCode[Common.circuitState[t.to]])),
      Effect.forkScoped
    )
    return {
      circuit,
      execute: <A>(self: Effect.Effect<A, SourceError>) =>
        self.pipe(
          breaker.execute({ key, classify }),
          Effect.catchTag("CircuitBreakerError", (e) =>
            e.reason._tag !== "CircuitHalfOpen" || settings.breakerProbes === 1
              ? Effect.fail(refused(e))
              : self.pipe(
                Semaphore.withPermitsIfAvailable(companions, 1),
                Effect.flatMap(Effect.fromOption(() => refused(e)))
              ))
        )
    }
  })

/**
 * Builds a source from settings already resolved (no `Config` read).
 *
 * @example
 * ```ts
 * import { Duration, Effect } from "effect"
 * import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
 * import { News, Source } from "@hybrid/agent"
 *
 * const news = Source.fromSettings(News.source, {
 *   name: "news",
 *   url: "http://127.0.0.1:8080",
 *   timeout: Duration.seconds(2),
 *   retries: 1,
 *   retryBase: Duration.millis(100),
 *   rpm: undefined,
 *   concurrency: 4,
 *   hedgeAfter: undefined,
 *   breakerFailures: 5,
 *   breakerRate: 0.5,
 *   breakerWindow: 20,
 *   breakerOpen: Duration.seconds(30),
 *   breakerProbes: 3,
 *   maxBytes: 2 * 1024 * 1024
 * }).pipe(Effect.scoped, Effect.provide(NodeHttpClient.layerUndici))
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromSettings = <S extends Schema.Top & { readonly DecodingServices: never }>(
  definition: Definition<S>,
  settings: Settings
): Effect.Effect<Source<S["Type"]>, never, HttpClient.HttpClient | Scope.Scope> =>
  Effect.gen(function*() {
    const name = definition.name
    const client = yield* HttpClient.HttpClient
    const breaker = yield* breakerOf(settings)
    const rate = settings.rpm === undefined ? undefined : yield* Limit.rate({ limit: settings.rpm, window: "1 minute", key: `@hybrid/agent/source/${name}/rpm` })
    const slots = settings.concurrency === undefined ? undefined : yield* Limit.concurrency(settings.concurrency)
    const policy = Retry.policy<SourceError>({
      times: settings.retries,
      base: settings.retryBase,
      cap: Duration.max(settings.retryBase, Duration.seconds(5)),
      jitter: "full",
      while: isRetryable
    })
    const histogram = Metric.withAttributes(latency, { source: name })

    const waitTurn: Effect.Effect<void, SourceError> = rate === undefined ? Effect.void : rate.consume(1).pipe(
      Deadline.timeout(settings.timeout),
      Effect.mapError((error) =>
        error._tag === "TimeoutExceeded" || error._tag === "DeadlineExceeded"
          ? sourceError(name, "rate-limit", `no slot of ${settings.rpm} requests/minute within ${Duration.toMillis(settings.timeout)} ms`)
          : sourceError(name, "rate-limit", Scrub.patterns.text(String(error.message)))
      )
    )

    const attempt = (request: HttpClientRequest.HttpClientRequest) => {
      const one = waitTurn.pipe(
        Effect.andThen(Upstream.json(client, request, definition.schema, { maxBytes: settings.maxBytes }).pipe(
          Effect.mapError((e) => fromUpstream(name, e)),
          Deadline.timeout(settings.timeout),
          Effect.mapError((e) => e._tag === "SourceError" ? e : fromTimeout(name, e))
        )),
        breaker.execute
      )
      return settings.hedgeAfter === undefined ? one : one.pipe(Hedge.after(settings.hedgeAfter))
    }

    const get = (query: Query): Effect.Effect<S["Type"], SourceError> => {
      const { params, path } = definition.request(query)
      const request = HttpClientRequest.get(`${settings.url}${path}`).pipe(
        HttpClientRequest.setUrlParams(params),
        HttpClientRequest.acceptJson
      )
      const call = Effect.gen(function*() {
        const start = yield* Clock.currentTimeMillis
        const exit = yield* Effect.exit(attempt(request).pipe(Retry.retry(policy)))
        yield* Metric.update(histogram, (yield* Clock.currentTimeMillis) - start)
        if (exit._tag === "Success") return exit.value
        const error = Cause.findError(exit.cause)
        if (Result.isFailure(error)) return yield* Effect.failCause(error.failure)
        const final = withAttempts(error.success, exit.cause)
        yield* Metric.update(Metric.withAttributes(failures, { source: name, reason: final.reason, kind: final.kind }), 1)
        yield* Effect.annotateCurrentSpan({ "source.reason": final.reason, "source.kind": final.kind, "source.attempts": final.attempts ?? 1 })
        return yield* final
      }).pipe(Effect.withSpan("Source.get", { attributes: { source: name, path } }))
      return slots === undefined ? call : slots(call)
    }

    return {
      definition,
      settings,
      get,
      documents: (query) => Effect.map(get(query), definition.documents),
      circuit: breaker.circuit
    }
  })
