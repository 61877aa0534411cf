/**
 * The one HTTP boundary of the agent: every request to an upstream — a source's API or
 * the LLM — goes out and comes back through `json` (or `events`, for a streamed reply),
 * and every byte of every answer is read through one capped reader (`body`), so the
 * rules for what an answer means live in one place:
 *
 * | answer                                              | becomes                                             |
 * |-----------------------------------------------------|-----------------------------------------------------|
 * | refused, reset, bad URL, unencodable body           | `UpstreamError` `kind: "connection"` (`cause`: the transport's tag) |
 * | a body that breaks off: reset, aborted, closed early | `kind: "connection"`, `cause: "TransportError"`, `bytes` read before the break — a transport failure, retried like a refused connection |
 * | a body past `maxBytes` (declared by `Content-Length`, or counted while streaming) | `kind: "too-large"`, `maxBytes`, `bytes` read (nothing past the cap is read, nothing is buffered whole) |
 * | a status outside 2xx                                | `kind: "status"`, `status`, `retryAfter` (see `parseRetryAfter`), and the provider's message (`serverMessage`) |
 * | a 2xx body, arrived whole, that is not JSON / not the Schema | `kind: "decode"` (not worth retrying)      |
 * | a 2xx body that is                                  | the decoded value                                   |
 *
 * `isRetryableStatus` is the status policy both callers retry by (openai-node's: 408,
 * 409, 429, 5xx). Callers map `UpstreamError` to their own typed errors — `Source` to a
 * `SourceError`, the OpenAI provider to an `AiError` — and add their own timeouts,
 * retries and limits around the call; this module adds none.
 *
 * **What an `UpstreamError` holds is safe to print.** Everything in it that came from
 * outside — the provider's message, a transport's description, a Schema error quoting
 * the body — is passed through `Scrub` when the error is built: cut to ~200 characters,
 * with the request's own credentials (its `Authorization` / `api-key` header values, the
 * password of its URL), the `secrets` given in `Options`, and anything else that looks
 * like a credential removed; `url` is the request's URL without userinfo and with
 * credential-like query parameters redacted. So a user's code that logs our errors
 * whole (`console.log(error)`, `JSON.stringify`, `Cause.pretty`) leaks no key, even
 * when an LLM proxy's 401 echoes the `Authorization` header.
 *
 * Gotchas:
 * - The body of an error answer is read only up to 64 KiB (then the connection is
 *   closed), and only a message out of it is kept: `error.message` (OpenAI style),
 *   `error` or `message` of a JSON body, or a `text/plain` body — at most 200 characters.
 *   No header but `Retry-After` leaves this module.
 * - Every call is scoped: the connection is released (aborted if need be) as soon as
 *   the call ends, however it ends. `events` needs the `Scope` the stream is read in.
 * - A body whose end is the connection's close (no `Content-Length`, not chunked) that
 *   is cut short cannot be told from a whole one: it arrives as `decode`.
 *
 * @example
 * ```ts
 * import { Effect, Schema } from "effect"
 * import { HttpClient, HttpClientRequest } from "effect/http"
 * import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
 * import { Upstream } from "@hybrid/agent"
 *
 * const Health = Schema.Struct({ status: Schema.String })
 * const program = Effect.gen(function*() {
 *   const client = yield* HttpClient.HttpClient
 *   return yield* Upstream.json(client, HttpClientRequest.get("http://127.0.0.1:8080/health"), Health, { maxBytes: 64 * 1024 })
 * }).pipe(Effect.provide(NodeHttpClient.layerUndici))
 * // fails with UpstreamError { kind: "connection" } when nothing listens there,
 * // { kind: "too-large", maxBytes: 65536 } when the answer is larger than 64 KiB
 * ```
 *
 * @since 0.1.0
 */
import { ByteSize, Clock, Config, Duration, Effect, Option, Predicate, Redacted, Schema, type Scope, Stream } from "effect"
import { HttpClient, type HttpClientRequest, type HttpClientResponse } from "effect/http"
import type { HttpClientError } from "effect/http/HttpClientError"
import { Options as Check } from "@hybrid/core"
import * as Scrub from "./Scrub.ts"

// --- models ------------------------------------------------------------------------------

/**
 * What went wrong with an upstream answer.
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import { Upstream } from "@hybrid/agent"
 *
 * Schema.is(Upstream.Kind)("too-large") // true
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export const Kind = Schema.Literals(["connection", "status", "decode", "too-large"])
/** @since 0.1.0 @category models */
export type Kind = typeof Kind.Type

/**
 * An upstream call failed before it produced a value: `kind` says how; `status` and
 * `retryAfter` come from the answer, when there was one; `cause` is the transport's tag
 * for a connection error (`TransportError`, `EncodeError`, `InvalidUrlError`); `maxBytes`
 * and `bytes` say how large a body was allowed to be and how much of it was read.
 * Every field is safe to print (see the module comment).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Upstream } from "@hybrid/agent"
 *
 * const shown = (call: Effect.Effect<unknown, Upstream.UpstreamError>) =>
 *   call.pipe(Effect.catchTag("UpstreamError", (e) =>
 *     Effect.succeed(e.kind === "too-large" ? `answer over ${e.maxBytes} bytes` : e.message)))
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class UpstreamError extends Schema.TaggedError<UpstreamError>()("UpstreamError", {
  kind: Kind,
  method: Schema.String,
  /** The request's URL without userinfo, credential-like query parameters redacted. */
  url: Schema.String,
  /** A human-readable detail, scrubbed (never a header or a secret). */
  detail: Schema.String,
  cause: Schema.optional(Schema.String),
  status: Schema.optional(Schema.Number),
  retryAfter: Schema.optional(Schema.Duration),
  /** The provider's own message about an error status, scrubbed, at most 200 characters. */
  serverMessage: Schema.optional(Schema.String),
  /** The cap on the body's size, in bytes (`too-large`). */
  maxBytes: Schema.optional(Schema.Number),
  /** Bytes of the body read before it ended early (`too-large`, or a body that broke off). */
  bytes: Schema.optional(Schema.Number)
}) {
  override get message(): string {
    return `${this.method} ${this.url}: ${this.kind}: ${this.detail}`
  }
}

/**
 * How a call reads its answer.
 *
 * @example
 * ```ts
 * import { Redacted } from "effect"
 * import type { Upstream } from "@hybrid/agent"
 *
 * const options: Upstream.Options = { maxBytes: 1024 * 1024, secrets: [Redacted.make("sk-live-abcdef123456")] }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The most bytes of a body read; past it the call fails with kind `too-large`. Default `defaultMaxBytes` (8 MiB). */
  readonly maxBytes?: number | undefined
  /**
   * Secrets to remove from any text of the answer kept in an error, beside the
   * credentials the request itself carries (found in its headers and URL).
   */
  readonly secrets?: ReadonlyArray<string | Redacted.Redacted<string> | undefined> | undefined
}

/**
 * The default cap on a body: 8 MiB.
 *
 * @example
 * ```ts
 * import { Upstream } from "@hybrid/agent"
 *
 * Upstream.defaultMaxBytes // 8388608
 * ```
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultMaxBytes = 8 * 1024 * 1024

/** A byte count as written in configuration: `"8MiB"`, `"512 KiB"`, `"1.5 MB"` or a number of bytes; at least 1. */
const parseBytes = (input: string): number | undefined => {
  const trimmed = input.trim()
  const n = /^\d+$/.test(trimmed)
    ? Number(trimmed)
    : Option.getOrUndefined(Option.flatMap(ByteSize.fromString(trimmed), ByteSize.toNumber))
  return n !== undefined && Number.isSafeInteger(n) && n >= 1 ? n : undefined
}

const ByteCount = Schema.String.check(Schema.makeFilter((input: string) =>
  parseBytes(input) !== undefined ||
  `expected a size such as "8MiB", "512 KiB" or a number of bytes (at least 1), got ${JSON.stringify(input.slice(0, 40))}`
))

/**
 * A body cap read from the variable `name`: a size such as `"8MiB"`, `"512 KiB"`,
 * `"1.5 MB"` (decimal units are powers of 1,000, binary ones of 1,024) or a number of
 * bytes; `fallback` when unset. Anything else is a `ConfigError` naming the variable.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Upstream } from "@hybrid/agent"
 *
 * const cap = Effect.gen(function*() {
 *   return yield* Upstream.maxBytesConfig("HYBRID_WEATHER_MAX_BYTES", Upstream.defaultMaxBytes)
 * })
 * // HYBRID_WEATHER_MAX_BYTES=2MiB → 2097152; unset → 8388608
 * ```
 *
 * @since 0.1.0
 * @category config
 */
export const maxBytesConfig = (name: string, fallback: number): Config.Config<number> =>
  Config.schema(ByteCount, name).pipe(
    Config.map((input) => parseBytes(input) ?? fallback),
    Config.withDefault(fallback)
  )

/** Bytes of an error answer's body read for its message. */
const errorBodyBytes = 64 * 1024

// --- policies ----------------------------------------------------------------------------

/**
 * The HTTP statuses openai-node retries (408, 409, 429, 5xx): the one rule shared by the
 * sources and the LLM provider.
 *
 * @example
 * ```ts
 * import { Upstream } from "@hybrid/agent"
 *
 * ;[503, 429, 404].map(Upstream.isRetryableStatus) // [true, true, false]
 * ```
 *
 * @since 0.1.0
 * @category predicates
 */
export const isRetryableStatus = (status: number): boolean =>
  status === 408 || status === 409 || status === 429 || status >= 500

/**
 * The wait a response asks for, as openai-node reads it: `retry-after-ms` (milliseconds),
 * else `retry-after` (seconds, or an HTTP date). Only waits in (0, 60 s] are trusted;
 * anything else is ignored and the caller's own backoff applies.
 *
 * @example
 * ```ts
 * import { Upstream } from "@hybrid/agent"
 *
 * Upstream.parseRetryAfter({ "retry-after": "2" }) // Duration 2 seconds
 * Upstream.parseRetryAfter({ "retry-after": "120" }) // undefined: over 60 s
 * ```
 *
 * @since 0.1.0
 * @category utils
 */
export const parseRetryAfter = (
  headers: Readonly<Record<string, string | undefined>>,
  now: number = Date.now()
): Duration.Duration | undefined => {
  const number = (text: string | undefined) =>
    text !== undefined && text.trim() !== "" && Number.isFinite(Number(text)) ? Number(text) : undefined
  const after = headers["retry-after"]
  const seconds = number(after)
  // not a number of seconds: an HTTP date (NaN when it is not one either: ignored below)
  const millis = number(headers["retry-after-ms"]) ??
    (seconds !== undefined ? seconds * 1000 : after === undefined ? undefined : Date.parse(after) - now)
  return millis !== undefined && millis > 0 && millis <= 60_000 ? Duration.millis(millis) : undefined
}

// --- errors, scrubbed at construction ----------------------------------------------------

/** Request headers whose values are credentials. */
const credentialHeader = /^(?:proxy-)?authorization$|api[-_]?key|auth[-_]?token|^cookie$/i

const urlPassword = (url: string): string => {
  try {
    return new URL(url).password
  } catch {
    return "" // not a URL: no password in it
  }
}

/** The credentials `request` carries: its credential headers' values (and the token after a scheme), its URL's password. */
const requestSecrets = (request: HttpClientRequest.HttpClientRequest): Array<string> => {
  const found: Array<string> = []
  for (const [name, value] of Object.entries(request.headers)) {
    if (!credentialHeader.test(name)) continue
    const text = Redacted.isRedacted(value) ? String(Redacted.value(value)) : String(value)
    found.push(text)
    const token = /^\s*[A-Za-z]+\s+(\S+)\s*$/.exec(text)?.[1]
    if (token !== undefined) found.push(token)
  }
  const password = urlPassword(request.url)
  if (password !== "") {
    found.push(password)
    try {
      found.push(decodeURIComponent(password))
    } catch {
      // a malformed %-escape: the raw form is enough
    }
  }
  return found
}

/** An `UpstreamError`'s fields but those `fail` takes from the request. */
type Fields = Omit<ConstructorParameters<typeof UpstreamError>[0], "method" | "url">

/**
 * The only way this module builds an `UpstreamError`: `detail` and `serverMessage` are
 * scrubbed with the request's credentials and `options.secrets`, `url` loses its userinfo.
 */
const fail = (request: HttpClientRequest.HttpClientRequest, options: Options, fields: Fields): UpstreamError => {
  const scrub = Scrub.make({ secrets: [...(options.secrets ?? []), ...requestSecrets(request)] })
  return new UpstreamError({
    ...fields,
    method: request.method,
    url: scrub.text(Scrub.url(request.url)),
    detail: scrub.text(fields.detail),
    serverMessage: fields.serverMessage === undefined ? undefined : scrub.text(fields.serverMessage)
  })
}

/** An `HttpClientError` of sending (no answer yet) as an `UpstreamError`. */
const fromHttp = (request: HttpClientRequest.HttpClientRequest, options: Options, error: HttpClientError): UpstreamError => {
  const reason = error.reason
  switch (reason._tag) {
    case "StatusCodeError":
      return fail(request, options, { kind: "status", status: reason.response.status, detail: `HTTP ${reason.response.status}` })
    case "DecodeError":
    case "EmptyBodyError":
      return fail(request, options, { kind: "decode", detail: `unreadable body (${reason._tag})` })
    default:
      return fail(request, options, { kind: "connection", cause: reason._tag, detail: `${reason._tag}: ${reason.description ?? "request failed"}` })
  }
}

const causeText = (error: HttpClientError): string => {
  const cause: unknown = error.reason.cause ?? error.cause
  return Predicate.hasProperty(cause, "message") && typeof cause.message === "string" && cause.message !== ""
    ? cause.message
    : error.reason._tag
}

const size = (bytes: number): string => ByteSize.format(ByteSize.bytes(bytes))

// --- the capped reader -------------------------------------------------------------------

const declaredLength = (response: HttpClientResponse.HttpClientResponse): number | undefined => {
  const header = response.headers["content-length"]
  return header !== undefined && /^\s*\d+\s*$/.test(header) ? Number(header) : undefined
}

/**
 * The body of `response` as it streams in, through the cap: a `Content-Length` over
 * `maxBytes` fails at once, before a byte is read; otherwise the bytes are counted as they
 * arrive and the stream fails with kind `too-large` at the chunk that passes the cap —
 * nothing more is read (the connection is closed when the stream ends). A body that
 * breaks off (reset, aborted, closed early) fails with kind `connection`, a transport
 * failure. Every body `json` and `events` read goes through here.
 *
 * @example
 * ```ts
 * import { Effect, Stream } from "effect"
 * import { HttpClient, HttpClientRequest } from "effect/http"
 * import { Upstream } from "@hybrid/agent"
 *
 * const request = HttpClientRequest.get("http://127.0.0.1:8080/large.csv")
 * // the number of lines of a CSV of at most 1 MiB, never holding more than a chunk of it
 * const lines = Effect.gen(function*() {
 *   const client = yield* HttpClient.HttpClient
 *   const response = yield* client.execute(request)
 *   return yield* Upstream.body(request, response, { maxBytes: 1024 * 1024 }).pipe(
 *     Stream.decodeText(),
 *     Stream.splitLines,
 *     Stream.runCount
 *   )
 * })
 * ```
 *
 * @since 0.1.0
 * @category readers
 */
export const body = (
  request: HttpClientRequest.HttpClientRequest,
  response: HttpClientResponse.HttpClientResponse,
  options: Options = {}
): Stream.Stream<Uint8Array, UpstreamError> =>
  Stream.suspend(() => {
    const maxBytes = Check.integer("Upstream", "maxBytes", options.maxBytes ?? defaultMaxBytes)
    const declared = declaredLength(response)
    if (declared !== undefined && declared > maxBytes) {
      return Stream.fail(fail(request, options, {
        kind: "too-large",
        detail: `the answer declares ${size(declared)} (Content-Length ${declared}), over the ${size(maxBytes)} cap (${maxBytes} bytes); nothing was read`,
        maxBytes,
        bytes: 0
      }))
    }
    let bytes = 0
    return response.stream.pipe(
      Stream.mapError((error) =>
        fail(request, options, {
          kind: "connection",
          cause: "TransportError",
          detail: `the body broke off after ${bytes} bytes: ${causeText(error)}`,
          bytes
        })
      ),
      Stream.mapEffect((chunk) => {
        bytes += chunk.length
        return bytes <= maxBytes ? Effect.succeed(chunk) : Effect.fail(fail(request, options, {
          kind: "too-large",
          detail: `the body passed the ${size(maxBytes)} cap (${maxBytes} bytes); stopped reading at ${bytes} bytes`,
          maxBytes,
          bytes
        }))
      })
    )
  })

/** A stream of bytes as text (UTF-8, decoded chunk by chunk: no copy of the whole in bytes). */
const collectText = <E>(stream: Stream.Stream<Uint8Array, E>): Effect.Effect<string, E> => Stream.mkString(Stream.decodeText(stream))

/** At most the first `errorBodyBytes` (and a chunk) of an error answer's body, as text; "" when it cannot be read. */
const errorText = (request: HttpClientRequest.HttpClientRequest, response: HttpClientResponse.HttpClientResponse) =>
  Effect.suspend(() => {
    let bytes = 0
    return collectText(
      body(request, response, { maxBytes: Number.MAX_SAFE_INTEGER }).pipe(
        Stream.takeUntil((chunk) => (bytes += chunk.length) >= errorBodyBytes)
      )
    ).pipe(Effect.orElseSucceed(() => ""))
  })

const ErrorBody = Schema.Union([
  Schema.Struct({ error: Schema.Struct({ message: Schema.String }) }),
  Schema.Struct({ error: Schema.String }),
  Schema.Struct({ message: Schema.String })
])
const decodeErrorBody = Schema.decodeUnknownOption(Schema.fromJsonString(ErrorBody))

/** The provider's message in an error answer's body, if it has one (not yet scrubbed or cut). */
const messageOf = (response: HttpClientResponse.HttpClientResponse, text: string): string | undefined => {
  const decoded = decodeErrorBody(text)
  if (Option.isSome(decoded)) {
    const b = decoded.value
    return "message" in b ? b.message : typeof b.error === "string" ? b.error : b.error.message
  }
  const type = response.headers["content-type"] ?? ""
  return type.startsWith("text/plain") && text.trim() !== "" ? text : undefined
}

// --- calls -------------------------------------------------------------------------------

/** A 2xx `body` or `event` that is not the Schema: kind `decode`. */
const mismatch = (request: HttpClientRequest.HttpClientRequest, options: Options, what: "body" | "event") => (error: Schema.SchemaError) =>
  fail(request, options, { kind: "decode", detail: `${what} does not match the schema: ${error.message}` })

/** Sends `request` in the current scope; a status outside 2xx is an `UpstreamError` of kind `status`. */
const send = (client: HttpClient.HttpClient, request: HttpClientRequest.HttpClientRequest, options: Options) =>
  Effect.gen(function*() {
    const response = yield* HttpClient.withScope(client).execute(request).pipe(Effect.mapError((e) => fromHttp(request, options, e)))
    if (response.status >= 200 && response.status < 300) return response
    const text = yield* errorText(request, response)
    const now = yield* Clock.currentTimeMillis
    return yield* fail(request, options, {
      kind: "status",
      status: response.status,
      detail: `HTTP ${response.status}`,
      retryAfter: parseRetryAfter(response.headers, now),
      serverMessage: messageOf(response, text)
    })
  })

/**
 * Sends `request` and decodes a 2xx JSON body with `schema`, the body read through the
 * cap (`options.maxBytes`, default 8 MiB); every other outcome is an `UpstreamError` (see
 * the module comment). The connection is released when the call ends.
 *
 * @example
 * ```ts
 * import { Effect, Schema } from "effect"
 * import { HttpClient, HttpClientRequest } from "effect/http"
 * import { Upstream } from "@hybrid/agent"
 *
 * const Quote = Schema.Struct({ text: Schema.String })
 * const quote = Effect.gen(function*() {
 *   const client = yield* HttpClient.HttpClient
 *   return yield* Upstream.json(client, HttpClientRequest.get("http://127.0.0.1:8080/quote"), Quote, { maxBytes: 64 * 1024 })
 * })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const json = <S extends Schema.Top & { readonly DecodingServices: never }>(
  client: HttpClient.HttpClient,
  request: HttpClientRequest.HttpClientRequest,
  schema: S,
  options: Options = {}
): Effect.Effect<S["Type"], UpstreamError> => {
  const decode = Schema.decodeUnknownEffect(Schema.fromJsonString(schema))
  const call: Effect.Effect<S["Type"], UpstreamError, Scope.Scope> = Effect.gen(function*() {
    const response = yield* send(client, request, options)
    const text = yield* collectText(body(request, response, options))
    return yield* decode(text).pipe(Effect.mapError(mismatch(request, options, "body")))
  })
  return Effect.scoped(call)
}

/**
 * Sends `request` and reads a `text/event-stream` answer: once the status is 2xx, a
 * `Stream` of each event's `data` decoded as JSON with `schema`, ending at the stream's
 * end or at a `data: [DONE]` event (OpenAI's `stream: true`). A status outside 2xx fails
 * the effect; a body that breaks off, passes `options.maxBytes` in all (default 8 MiB)
 * or has an event that is not the Schema fails the stream. The connection lives as long
 * as the `Scope`: read the stream inside it.
 *
 * @example
 * ```ts
 * import { Effect, Schema, Stream } from "effect"
 * import { HttpClient, HttpClientRequest } from "effect/http"
 * import { Upstream } from "@hybrid/agent"
 *
 * const Chunk = Schema.Struct({ delta: Schema.String })
 * const text = Effect.gen(function*() {
 *   const client = yield* HttpClient.HttpClient
 *   const chunks = yield* Upstream.events(client, HttpClientRequest.post("http://127.0.0.1:8080/stream"), Chunk, { maxBytes: 1024 * 1024 })
 *   return yield* chunks.pipe(Stream.map((chunk) => chunk.delta), Stream.mkString)
 * }).pipe(Effect.scoped)
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const events = <S extends Schema.Top & { readonly DecodingServices: never }>(
  client: HttpClient.HttpClient,
  request: HttpClientRequest.HttpClientRequest,
  schema: S,
  options: Options = {}
): Effect.Effect<Stream.Stream<S["Type"], UpstreamError>, UpstreamError, Scope.Scope> => {
  const decode = Schema.decodeUnknownEffect(Schema.fromJsonString(schema))
  return Effect.map(send(client, request, options), (response) =>
    body(request, response, options).pipe(
      Stream.decodeText(),
      Stream.splitLines,
      Stream.filter((line) => line.startsWith("data:")),
      Stream.map((line) => line.slice(5).trim()),
      Stream.takeWhile((data) => data !== "[DONE]"),
      Stream.mapEffect((data) => decode(data).pipe(Effect.mapError(mismatch(request, options, "event"))))
    ))
}
