/**
 * The one HTTP boundary of the agent: every request to an upstream — a source's API or
 * the LLM — goes out and comes back through `json` (or `events`, for a streamed reply),
 * so the rules for what an answer means live in one place:
 *
 * | answer                                   | becomes                                             |
 * |------------------------------------------|-----------------------------------------------------|
 * | refused, reset, bad URL, unencodable body | `UpstreamError` `kind: "connection"` (`cause`: the transport's tag) |
 * | a status outside 2xx                     | `kind: "status"`, `status`, `retryAfter` (see `parseRetryAfter`), and the server's own `error.message` when the body is OpenAI-style |
 * | a 2xx body that is not the Schema / not JSON | `kind: "decode"`                                 |
 * | a 2xx body that is                       | the decoded value                                   |
 *
 * `isRetryableStatus` is the status policy both callers retry by (openai-node's: 408,
 * 409, 429, 5xx). Callers map `UpstreamError` to their own typed errors — `Source` to a
 * `SourceError`, the OpenAI provider to an `AiError` — and add their own timeouts,
 * retries and limits around the call; this module adds none.
 *
 * Gotcha: the body of an error answer is read (so the connection is released) but only
 * the `error.message` of an OpenAI-style body is kept, at most 200 characters; nothing
 * else of it, and no header but `Retry-After`, leaves this module.
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
 *   return yield* Upstream.json(client, HttpClientRequest.get("http://127.0.0.1:8080/health"), Health)
 * }).pipe(Effect.provide(NodeHttpClient.layerUndici))
 * // fails with UpstreamError { kind: "connection" } when nothing listens there
 * ```
 *
 * @since 0.1.0
 */
import { Clock, Duration, Effect, Option, Schema, Stream } from "effect"
import { type HttpClient, type HttpClientRequest, HttpClientResponse } from "effect/http"
import type { HttpClientError } from "effect/http/HttpClientError"

/**
 * What went wrong with an upstream answer.
 *
 * @example
 * ```ts
 * import { Upstream } from "@hybrid/agent"
 *
 * const advice = (kind: Upstream.Kind) => kind === "decode" ? "the server's answer changed shape" : "try again"
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export const Kind = Schema.Literals(["connection", "status", "decode"])
/** @since 0.1.0 @category models */
export type Kind = typeof Kind.Type

/**
 * An upstream call failed before it produced a value: `kind` says how; `status` and
 * `retryAfter` come from the answer, when there was one; `cause` is the transport's tag
 * for a connection error (`TransportError`, `EncodeError`, `InvalidUrlError`).
 *
 * @example
 * ```ts
 * import { Effect, Schema } from "effect"
 * import { HttpClient, HttpClientRequest } from "effect/http"
 * import { Upstream } from "@hybrid/agent"
 *
 * const Quote = Schema.Struct({ text: Schema.String })
 * const quote = Effect.flatMap(HttpClient.HttpClient, (client) =>
 *   Upstream.json(client, HttpClientRequest.get("http://127.0.0.1:8080/quote"), Quote)).pipe(
 *   Effect.catchTag("UpstreamError", (e) => Effect.succeed({ text: `unavailable (${e.kind}${e.status === undefined ? "" : ` ${e.status}`})` }))
 * )
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class UpstreamError extends Schema.TaggedError<UpstreamError>()("UpstreamError", {
  kind: Kind,
  method: Schema.String,
  url: Schema.String,
  /** A human-readable detail (never a header or a secret). */
  detail: Schema.String,
  cause: Schema.optional(Schema.String),
  status: Schema.optional(Schema.Number),
  retryAfter: Schema.optional(Schema.Duration),
  /** The `error.message` of an OpenAI-style error body, at most 200 characters. */
  serverMessage: Schema.optional(Schema.String)
}) {
  override get message(): string {
    return `${this.method} ${this.url}: ${this.kind}: ${this.detail}`
  }
}

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

const ErrorBody = Schema.Struct({ error: Schema.Struct({ message: Schema.String }) })
const decodeErrorBody = Schema.decodeUnknownOption(Schema.fromJsonString(ErrorBody))

const fail = (request: HttpClientRequest.HttpClientRequest, fields: {
  readonly kind: Kind
  readonly detail: string
  readonly cause?: string | undefined
  readonly status?: number | undefined
  readonly retryAfter?: Duration.Duration | undefined
  readonly serverMessage?: string | undefined
}) => new UpstreamError({ method: request.method, url: request.url, ...fields })

/** An `HttpClientError` as an `UpstreamError`: request errors are connection errors. */
const fromHttp = (request: HttpClientRequest.HttpClientRequest, error: HttpClientError): UpstreamError => {
  const reason = error.reason
  switch (reason._tag) {
    case "StatusCodeError":
      return fail(request, { kind: "status", status: reason.response.status, detail: `HTTP ${reason.response.status}` })
    case "DecodeError":
    case "EmptyBodyError":
      return fail(request, { kind: "decode", detail: `unreadable body (${reason._tag})` })
    default:
      return fail(request, { kind: "connection", cause: reason._tag, detail: `${reason._tag}: ${reason.description ?? "request failed"}` })
  }
}

/** Sends `request`; a status outside 2xx is an `UpstreamError` of kind `status`. */
const send = (client: HttpClient.HttpClient, request: HttpClientRequest.HttpClientRequest) =>
  Effect.gen(function*() {
    const response = yield* client.execute(request).pipe(Effect.mapError((e) => fromHttp(request, e)))
    if (response.status >= 200 && response.status < 300) return response
    const text = yield* response.text.pipe(Effect.orElseSucceed(() => ""))
    const now = yield* Clock.currentTimeMillis
    const serverMessage = Option.getOrUndefined(Option.map(decodeErrorBody(text), (b) => b.error.message.slice(0, 200)))
    return yield* fail(request, {
      kind: "status",
      status: response.status,
      detail: `HTTP ${response.status}`,
      retryAfter: parseRetryAfter(response.headers, now),
      serverMessage
    })
  })

/**
 * Sends `request` and decodes a 2xx JSON body with `schema`; every other outcome is an
 * `UpstreamError` (see the module comment).
 *
 * @example
 * ```ts
 * import { Effect, Schema } from "effect"
 * import { HttpClient, HttpClientRequest } from "effect/http"
 * import { Upstream } from "@hybrid/agent"
 *
 * const Quote = Schema.Struct({ text: Schema.String })
 * const quote = Effect.flatMap(HttpClient.HttpClient, (client) =>
 *   Upstream.json(client, HttpClientRequest.get("http://127.0.0.1:8080/quote"), Quote))
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const json = <S extends Schema.Top & { readonly DecodingServices: never }>(
  client: HttpClient.HttpClient,
  request: HttpClientRequest.HttpClientRequest,
  schema: S
): Effect.Effect<S["Type"], UpstreamError> =>
  Effect.flatMap(send(client, request), (response) =>
    HttpClientResponse.schemaBodyJson(schema)(response).pipe(
      Effect.mapError((error) =>
        Schema.isSchemaError(error)
          ? fail(request, { kind: "decode", detail: `body does not match the schema: ${error.message}` })
          : fromHttp(request, error)
      )
    ))

/**
 * Sends `request` and reads a `text/event-stream` answer: once the status is 2xx, a
 * `Stream` of each event's `data` decoded as JSON with `schema`, ending at the stream's
 * end or at a `data: [DONE]` event (OpenAI's `stream: true`). A status outside 2xx fails
 * the effect; a broken connection or an event that is not the Schema fails the stream.
 *
 * @example
 * ```ts
 * import { Effect, Schema, Stream } from "effect"
 * import { HttpClient, HttpClientRequest } from "effect/http"
 * import { Upstream } from "@hybrid/agent"
 *
 * const Chunk = Schema.Struct({ delta: Schema.String })
 * const deltas = Effect.flatMap(HttpClient.HttpClient, (client) =>
 *   Upstream.events(client, HttpClientRequest.post("http://127.0.0.1:8080/stream"), Chunk)).pipe(
 *   Effect.map(Stream.map((chunk) => chunk.delta))
 * )
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const events = <S extends Schema.Top & { readonly DecodingServices: never }>(
  client: HttpClient.HttpClient,
  request: HttpClientRequest.HttpClientRequest,
  schema: S
): Effect.Effect<Stream.Stream<S["Type"], UpstreamError>, UpstreamError> => {
  const decode = Schema.decodeUnknownEffect(Schema.fromJsonString(schema))
  return Effect.map(send(client, request), (response) =>
    response.stream.pipe(
      Stream.mapError((e) => fromHttp(request, e)),
      Stream.decodeText(),
      Stream.splitLines,
      Stream.filter((line) => line.startsWith("data:")),
      Stream.map((line) => line.slice(5).trim()),
      Stream.takeWhile((data) => data !== "[DONE]"),
      Stream.mapEffect((data) =>
        decode(data).pipe(
          Effect.mapError((error) => fail(request, { kind: "decode", detail: `event does not match the schema: ${error.message}` }))
        )
      )
    ))
}
