/**
 * The contract of `hybrid serve`: its endpoints, the request and answer Schemas, and every
 * error with its HTTP status — one `HttpApi` value, from which the server is built
 * (`HttpApiBuilder`), the OpenAPI document is generated (`/openapi.json`, `OpenApi.fromApi`)
 * and a typed client can be derived (`HttpApiClient.make(Api)`).
 *
 * | endpoint               | success                       | errors                                          |
 * |------------------------|-------------------------------|-------------------------------------------------|
 * | `POST /v1/answer`      | 200 `Agent.Answer`            | 400 `BadRequest`, 413 `PayloadTooLarge`, 503 `Overloaded` / `NoAnswer` / `Draining` |
 * | `POST /v1/answer/stream` | 200 `text/event-stream` of `StreamEvent`s | 400, 413, 503 `Overloaded` / `Draining` (before the stream starts) |
 * | `GET /healthz`         | 200 `Health`                  |                                                 |
 * | `GET /readyz`          | 200 `Ready`                   | 503 `NotReady`                                  |
 *
 * Every error body has one shape, `{ "error": { "tag", "message", "field"? } }` (`NoAnswer`
 * adds what happened to each source and the LLM); so do the 404 (`NotFound`) and 405
 * (`MethodNotAllowed`) the router answers for paths and methods outside this table
 * (`Middleware`). A message echoes at most `maxEcho` characters of a bad value.
 *
 * The stream's events (`event:` name, then its JSON `data:`): `source` (a `SourceReport`,
 * as each source settles), `context` (every source settled: `{ ms, ok }`), `token` (a
 * piece of the LLM's text), then `answer` (the `Agent.Answer`, last) — or `error` (the
 * same `{ error: { tag, message, … } }` as a JSON error body, last), e.g. `NoAnswer` when
 * no source answered: the stream stops there, before the LLM is asked.
 *
 * Gotchas: HttpApi's own 400 for a body that does not decode is an empty response; the
 * server's middleware turns it into a `BadRequest` naming the field (see `Middleware`).
 *
 * @example
 * ```ts
 * import { OpenApi } from "effect/http-api"
 * import { ServeApi as Api } from "@hybrid/agent"
 *
 * const spec = OpenApi.fromApi(Api.Api)
 * console.log(Object.keys(spec.paths)) // ["/v1/answer", "/v1/answer/stream", "/healthz", "/readyz"]
 * ```
 *
 * @since 0.1.0
 */
import { Schema } from "effect"
import { HttpApi, HttpApiEndpoint, HttpApiGroup, HttpApiSchema, OpenApi } from "effect/http-api"
import * as Agent from "../Agent.ts"

/**
 * The most characters of a bad value an error message repeats.
 *
 * @example
 * ```ts
 * import { ServeApi as Api } from "@hybrid/agent"
 *
 * Api.echo("x".repeat(1_000)).length <= Api.maxEcho + 20 // true
 * ```
 *
 * @since 0.1.0
 * @category constants
 */
export const maxEcho = 200

/**
 * A value as an error message may quote it: JSON, cut to `maxEcho` characters with a
 * note of how much was left out.
 *
 * @example
 * ```ts
 * import { ServeApi as Api } from "@hybrid/agent"
 *
 * Api.echo(-5) // "-5"
 * Api.echo("a".repeat(500)) // "\"aaaa…\" … (502 chars)"
 * ```
 *
 * @since 0.1.0
 * @category utils
 */
export const echo = (value: unknown): string => {
  let text: string
  try {
    text = JSON.stringify(value) ?? String(value)
  } catch {
    text = String(value)
  }
  return text.length <= maxEcho ? text : `${text.slice(0, maxEcho)}… (${text.length} chars)`
}

/**
 * The longest budget a request may ask for, in milliseconds (the server's drain at
 * shutdown waits at most this plus its grace).
 *
 * @example
 * ```ts
 * import { ServeApi as Api } from "@hybrid/agent"
 *
 * Api.maxBudgetMs // 60000
 * ```
 *
 * @since 0.1.0
 * @category constants
 */
export const maxBudgetMs = 60_000

/**
 * The most characters of `query`.
 *
 * @example
 * ```ts
 * import { ServeApi as Api } from "@hybrid/agent"
 *
 * Api.maxQueryChars // 2000
 * ```
 *
 * @since 0.1.0
 * @category constants
 */
export const maxQueryChars = 2_000

/**
 * The body of `POST /v1/answer`: the question (non-blank, at most 2,000 characters) and
 * the time for the answer in milliseconds (1 … 60,000; default: the server's).
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import { ServeApi as Api } from "@hybrid/agent"
 *
 * Schema.decodeUnknownSync(Api.AnswerRequest)({ query: "rain in Oslo?", budgetMs: 2000 })
 * ```
 *
 * @since 0.1.0
 * @category schemas
 */
export const AnswerRequest = Schema.Struct({
  query: Schema.String.check(
    Schema.isPattern(/\S/, { message: "Expected a non-empty question" }),
    Schema.isMaxLength(maxQueryChars)
  ),
  budgetMs: Schema.optional(
    Schema.Finite.check(Schema.isGreaterThanOrEqualTo(1), Schema.isLessThanOrEqualTo(maxBudgetMs))
  )
})
/**
 * @example
 * ```ts
 * import type { ServeApi as Api } from "@hybrid/agent"
 *
 * const request: Api.AnswerRequest = { query: "rain in Oslo?" }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type AnswerRequest = typeof AnswerRequest.Type

// --- errors ------------------------------------------------------------------------------

/**
 * The shape of every error body (what `NotFound`, `MethodNotAllowed` and a 500 are sent as).
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import { ServeApi as Api } from "@hybrid/agent"
 *
 * Schema.decodeUnknownSync(Api.ErrorBody)({ error: { tag: "NotFound", message: "no route GET /nope" } })
 * ```
 *
 * @since 0.1.0
 * @category schemas
 */
export const ErrorBody = Schema.Struct({
  error: Schema.Struct({ tag: Schema.String, message: Schema.String, field: Schema.optional(Schema.String) })
})

/** The body of the error `tag`: `{ tag, message, field?, ...extra }`. */
const envelope = <const Tag extends string, const Extra extends Schema.Struct.Fields = {}>(tag: Tag, extra?: Extra) =>
  Schema.Struct({ ...ErrorBody.fields.error.fields, tag: Schema.Literal(tag), ...(extra ?? ({} as Extra)) })

/**
 * 400: the body is not JSON, or a field is missing or invalid. `field` names it
 * (`"query"`, `"budgetMs"`, `"body"`), `message` says what was expected and what was given.
 *
 * @example
 * ```ts
 * import { ServeApi as Api } from "@hybrid/agent"
 *
 * const error = Api.BadRequest.of("budgetMs: Expected a value ≥ 1, got -5", "budgetMs")
 * error.error.field // "budgetMs"
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class BadRequest extends Schema.Error<BadRequest>("BadRequest")({ error: envelope("BadRequest") }, {
  httpApiStatus: 400,
  description: "The body is not JSON, or a field is missing or invalid"
}) {
  /** A `BadRequest` about `field`. */
  static of(message: string, field?: string): BadRequest {
    return new BadRequest({ error: { tag: "BadRequest", message, ...(field === undefined ? {} : { field }) } })
  }
  override get message(): string {
    return this.error.message
  }
}

/**
 * 413: the body is larger than the server's `--max-body`. The connection is closed after it.
 *
 * @example
 * ```ts
 * import { ServeApi as Api } from "@hybrid/agent"
 *
 * Api.PayloadTooLarge.of(65_536).error.message // "the body is larger than 65536 bytes"
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class PayloadTooLarge extends Schema.Error<PayloadTooLarge>("PayloadTooLarge")({ error: envelope("PayloadTooLarge") }, {
  httpApiStatus: 413,
  description: "The body is larger than the server's limit (--max-body)"
}) {
  /** A `PayloadTooLarge` for a limit of `limit` bytes. */
  static of(limit: number): PayloadTooLarge {
    return new PayloadTooLarge({
      error: { tag: "PayloadTooLarge", message: `the body is larger than ${limit} bytes`, field: "body" }
    })
  }
  override get message(): string {
    return this.error.message
  }
}

/**
 * 503 with `Retry-After`: every answer slot and every queue place is taken; the request
 * was not started. Sent within milliseconds, so a client can go elsewhere at once.
 *
 * @example
 * ```ts
 * import { ServeApi as Api } from "@hybrid/agent"
 *
 * Api.Overloaded.of(8, 8, 1).error.message // "8 answers in flight and 8 waiting: try again in 1 s"
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class Overloaded extends Schema.Error<Overloaded>("Overloaded")({ error: envelope("Overloaded") }, {
  httpApiStatus: 503,
  description: "Every answer slot and queue place is taken (Retry-After says when to try again)"
}) {
  /** An `Overloaded` with `inFlight` answers running, `queued` waiting, and the advised wait. */
  static of(inFlight: number, queued: number, retryAfterSeconds: number): Overloaded {
    return new Overloaded({
      error: {
        tag: "Overloaded",
        message: `${inFlight} answers in flight and ${queued} waiting: try again in ${retryAfterSeconds} s`
      }
    })
  }
  override get message(): string {
    return this.error.message
  }
}

/**
 * 503 with `Retry-After`: the server is shutting down and takes no new answers (a
 * request on a connection opened before the signal).
 *
 * @example
 * ```ts
 * import { ServeApi as Api } from "@hybrid/agent"
 *
 * Api.Draining.of().error.tag // "Draining"
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class Draining extends Schema.Error<Draining>("Draining")({ error: envelope("Draining") }, {
  httpApiStatus: 503,
  description: "The server is shutting down and takes no new answers"
}) {
  /** The one `Draining` error. */
  static of(): Draining {
    return new Draining({ error: { tag: "Draining", message: "the server is shutting down: try another instance" } })
  }
  override get message(): string {
    return this.error.message
  }
}

/**
 * 503: no source answered (and so nothing to answer from) — what happened to each
 * source and to the LLM. Never a 200 with an answer written from an empty context.
 *
 * @example
 * ```ts
 * import { ServeApi as Api } from "@hybrid/agent"
 *
 * Api.NoAnswer.of("no source answered", [], "not asked").error.tag // "NoAnswer"
 * Api.NoAnswer.noSource([], "not asked").error.message // "no source answered (): nothing to answer from"
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class NoAnswer extends Schema.Error<NoAnswer>("NoAnswer")({
  error: envelope("NoAnswer", { sources: Schema.Array(Agent.SourceReport), llm: Schema.String })
}, {
  httpApiStatus: 503,
  description: "No source answered: there is nothing to answer from"
}) {
  /** A `NoAnswer` with the sources' reports and what the LLM did. */
  static of(message: string, sources: ReadonlyArray<Agent.SourceReport>, llm: string): NoAnswer {
    return new NoAnswer({ error: { tag: "NoAnswer", message, sources, llm } })
  }
  /** The `NoAnswer` of an answer none of whose `sources` answered: the message names each one's status. */
  static noSource(sources: ReadonlyArray<Agent.SourceReport>, llm: string): NoAnswer {
    const statuses = sources.map((s) => `${s.name} ${s.status}`).join(", ")
    return NoAnswer.of(`no source answered (${statuses}): nothing to answer from`, sources, llm)
  }
  override get message(): string {
    return this.error.message
  }
}

/**
 * 503 from `/readyz`: the server is draining, or a source does not answer its health check.
 *
 * @example
 * ```ts
 * import { ServeApi as Api } from "@hybrid/agent"
 *
 * Api.NotReady.of("draining").error.message // "draining"
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class NotReady extends Schema.Error<NotReady>("NotReady")({ error: envelope("NotReady") }, {
  httpApiStatus: 503,
  description: "Draining, or a source is unreachable"
}) {
  /** A `NotReady` saying why. */
  static of(message: string): NotReady {
    return new NotReady({ error: { tag: "NotReady", message } })
  }
  override get message(): string {
    return this.error.message
  }
}

// --- successes ---------------------------------------------------------------------------

/**
 * `GET /healthz`: the process is up; answers in flight and waiting now, and the limit.
 *
 * @example
 * ```ts
 * import { ServeApi as Api } from "@hybrid/agent"
 *
 * new Api.Health({ status: "ok", inFlight: 0, queued: 0, limit: 8 })
 * ```
 *
 * @since 0.1.0
 * @category schemas
 */
export class Health extends Schema.Class<Health>("@hybrid/agent/serve/Health")({
  status: Schema.Literal("ok"),
  inFlight: Schema.Number,
  queued: Schema.Number,
  /** The adaptive limit on answers in flight now. */
  limit: Schema.Number
}) {}

/**
 * `GET /readyz`: taking answers, and every source answered its health check.
 *
 * @example
 * ```ts
 * import { ServeApi as Api } from "@hybrid/agent"
 *
 * new Api.Ready({ status: "ready", sources: { weather: "ok" } })
 * ```
 *
 * @since 0.1.0
 * @category schemas
 */
export class Ready extends Schema.Class<Ready>("@hybrid/agent/serve/Ready")({
  status: Schema.Literal("ready"),
  sources: Schema.Record(Schema.String, Schema.String)
}) {}

// --- the stream ----------------------------------------------------------------------------

/** One server-sent event: its name, and its data as JSON of `data`. */
const sse = <const Name extends string, S extends Schema.Top & { readonly DecodingServices: never; readonly EncodingServices: never }>(
  name: Name,
  data: S
) => Schema.Struct({ event: Schema.Literal(name), data: Schema.fromJsonString(data) })

/**
 * The `error` event's data: the JSON error body's shape; `NoAnswer` adds the sources' reports
 * and what the LLM did.
 *
 * @example
 * ```ts
 * import { ServeApi as Api } from "@hybrid/agent"
 *
 * const data: Api.StreamError = { error: { tag: "Internal", message: "internal error" } }
 * ```
 *
 * @since 0.1.0
 * @category schemas
 */
export const StreamError = Schema.Struct({
  error: Schema.Struct({
    ...ErrorBody.fields.error.fields,
    sources: Schema.optional(Schema.Array(Agent.SourceReport)),
    llm: Schema.optional(Schema.String)
  })
})
/**
 * @example
 * ```ts
 * import type { ServeApi as Api } from "@hybrid/agent"
 *
 * const data: Api.StreamError = { error: { tag: "NoAnswer", message: "no source answered", sources: [], llm: "not asked" } }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type StreamError = typeof StreamError.Type

/**
 * An event of `POST /v1/answer/stream`, as the handler emits it and a client decodes it:
 * `{ event, data }` with `event` one of `source`, `context`, `token`, `answer`, `error`
 * (see the module comment). On the wire each is `event: <name>` and `data: <JSON>`.
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import { ServeApi as Api } from "@hybrid/agent"
 *
 * Schema.decodeUnknownSync(Api.StreamEvent)({ event: "token", data: "{\"text\":\"Rain\"}" })
 * // { event: "token", data: { text: "Rain" } }
 * ```
 *
 * @since 0.1.0
 * @category schemas
 */
export const StreamEvent = Schema.Union([
  sse("source", Agent.SourceReport),
  sse("context", Schema.Struct({ ms: Schema.Number, ok: Schema.Number })),
  sse("token", Schema.Struct({ text: Schema.String })),
  sse("answer", Agent.Answer),
  sse("error", StreamError)
])
/**
 * @example
 * ```ts
 * import type { ServeApi as Api } from "@hybrid/agent"
 *
 * const event: Api.StreamEvent = { event: "context", data: { ms: 180, ok: 3 } }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type StreamEvent = typeof StreamEvent.Type

// --- the API -----------------------------------------------------------------------------

/**
 * `POST /v1/answer`, and `POST /v1/answer/stream` (the same request; server-sent events).
 *
 * @example
 * ```ts
 * import { ServeApi as Api } from "@hybrid/agent"
 *
 * Api.AnswerGroup.identifier // "answer"
 * ```
 *
 * @since 0.1.0
 * @category api
 */
export class AnswerGroup extends HttpApiGroup.make("answer").add(
  HttpApiEndpoint.post("answer", "/v1/answer", {
    payload: AnswerRequest,
    success: Agent.Answer,
    error: [BadRequest, PayloadTooLarge, Overloaded, Draining, NoAnswer]
  }),
  HttpApiEndpoint.post("stream", "/v1/answer/stream", {
    payload: AnswerRequest,
    success: HttpApiSchema.StreamSse({ events: StreamEvent }),
    error: [BadRequest, PayloadTooLarge, Overloaded, Draining]
  })
) {}

/**
 * `GET /healthz`, `GET /readyz`.
 *
 * @example
 * ```ts
 * import { ServeApi as Api } from "@hybrid/agent"
 *
 * Api.OpsGroup.identifier // "ops"
 * ```
 *
 * @since 0.1.0
 * @category api
 */
export class OpsGroup extends HttpApiGroup.make("ops").add(
  HttpApiEndpoint.get("health", "/healthz", { success: Health }),
  HttpApiEndpoint.get("ready", "/readyz", { success: Ready, error: NotReady })
) {}

/**
 * The whole API.
 *
 * @example
 * ```ts
 * import { HttpApiClient } from "effect/http-api"
 * import { ServeApi as Api } from "@hybrid/agent"
 *
 * const client = HttpApiClient.make(Api.Api, { baseUrl: "http://127.0.0.1:8787" })
 * ```
 *
 * @since 0.1.0
 * @category api
 */
export class Api extends HttpApi.make("hybrid").add(AnswerGroup, OpsGroup)
  .annotate(OpenApi.Title, "Hybrid agent API")
  .annotate(OpenApi.Version, "0.1.0")
  .annotate(
    OpenApi.Description,
    "Answers a question from weather, news and a knowledge base with an LLM, within a time budget. " +
      "Every error body is { error: { tag, message, field? } }."
  )
{}
