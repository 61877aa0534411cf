/**
 * The one global middleware of `hybrid serve`, around every route:
 *
 * - **request id**: `x-request-id` from the client when it is 1–128 characters of
 *   `[A-Za-z0-9._:-]`, else a new UUID; echoed on the response, on the log line and on
 *   the request's span (`http.request_id`).
 * - **shedding before parsing**: a `POST` to one of `answerPaths` that `Admission` would
 *   refuse now (queue full, or draining) is answered `503 Overloaded` / `Draining` with
 *   `Retry-After` before its body is read or decoded — under overload, refusing is most
 *   of what the server does, so it must cost next to nothing.
 * - **body limit**: `maxBodyBytes` for every body read (`HttpIncomingMessage.MaxBodySize`);
 *   a `Content-Length` past it is refused before a byte is read, a chunked body as soon as
 *   it passes the limit — never buffered beyond it — with `413 PayloadTooLarge` and
 *   `Connection: close`.
 * - **errors as JSON**: what the router and HttpApi answer on their own — an unknown path
 *   (404 `NotFound`), a known path with another method (405 `MethodNotAllowed`, with
 *   `Allow`), a body that does not decode (400 `BadRequest` naming the field; HttpApi's
 *   own is empty), an unsupported content type (415), a defect (500 `Internal`) — all
 *   become `{ error: { tag, message, field? } }`. A 503 gets `Retry-After`.
 * - **draining**: while the server shuts down every response says `Connection: close`,
 *   so keep-alive clients let go and the drain ends with the last answer.
 * - **request log**: one line per request at Info (method, path, status, ms, request
 *   id), through Effect's logger, so `--log-level` applies.
 *
 * Underneath: `HttpRouter.middleware(…, { global: true })`. Written here: the error
 * mapping and the log line (Effect's `HttpMiddleware.logger` logs neither the time nor a
 * request id).
 *
 * Gotchas: HttpApi reports decode failures and an oversized body as *defects*
 * (`HttpApiSchemaError`, `HttpServerError` `BodyTooLarge`), so this middleware looks at
 * the whole `Cause`, not only at typed failures.
 *
 * @example
 * ```ts
 * import { Layer } from "effect"
 * import { HttpRouter, HttpServerResponse } from "effect/http"
 * import { Admission, Middleware } from "@hybrid/agent"
 *
 * const routes = Layer.mergeAll(
 *   HttpRouter.add("GET", "/hello", HttpServerResponse.text("hi")),
 *   Middleware.layer({ maxBodyBytes: 65_536, routes: new Map([["/hello", ["GET"]]]) })
 * ).pipe(Layer.provide(Admission.layer({ maxInFlight: 4, maxQueued: 4 })))
 * ```
 *
 * @since 0.1.0
 */
import { randomUUID } from "node:crypto"
import { ByteSize, Cause, Effect, Exit, Predicate, type Schema, SchemaIssue } from "effect"
import { HttpIncomingMessage, HttpRouter, HttpServerError, HttpServerRequest, HttpServerResponse } from "effect/http"
import { HttpApiError } from "effect/http-api"
import * as Admission from "./Admission.ts"
import * as Api from "./Api.ts"
import * as ServeMetrics from "./Metrics.ts"

/**
 * The options of the server's middleware: the body size limit, the routes (for 404/405)
 * and the scrubber.
 *
 * @example
 * ```ts
 * import type { Middleware } from "@hybrid/agent"
 *
 * const options: Middleware.Options = { maxBodyBytes: 65_536, routes: new Map([["/healthz", ["GET"]]]) }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The largest request body accepted, in bytes. */
  readonly maxBodyBytes: number
  /** Every path the server answers, with its methods (for 405 and `Allow`). */
  readonly routes: ReadonlyMap<string, ReadonlyArray<string>>
  /** Applied to every message shown (default: none). */
  readonly scrub?: ((text: string) => string) | undefined
  /** The `POST` paths that run under `Admission` (refused before their body is read when it is full). Default none. */
  readonly answerPaths?: ReadonlyArray<string> | undefined
}

const requestIdPattern = /^[A-Za-z0-9._:-]{1,128}$/

/**
 * The request id to use: the client's `x-request-id` when it is well-formed, else a new UUID.
 *
 * @example
 * ```ts
 * import { Middleware } from "@hybrid/agent"
 *
 * Middleware.requestId("abc-123") // "abc-123"
 * Middleware.requestId("<script>").length // 36 (a new UUID)
 * ```
 *
 * @since 0.1.0
 * @category utils
 */
export const requestId = (header: string | undefined): string =>
  header !== undefined && requestIdPattern.test(header) ? header : randomUUID()

/**
 * The path of a request's URL: everything before its query or fragment.
 *
 * @example
 * ```ts
 * import { Middleware } from "@hybrid/agent"
 *
 * Middleware.pathOf("/v1/answer?debug=1") // "/v1/answer"
 * ```
 *
 * @since 0.1.0
 * @category utils
 */
export const pathOf = (url: string): string => {
  const end = url.search(/[?#]/)
  return end === -1 ? url : url.slice(0, end)
}

/**
 * One line of the request log, at Info: `GET /healthz 200 0.4ms`, annotated with the same
 * fields (and `shed: true` for a 503 of `Shed`'s fast path).
 *
 * @example
 * ```ts
 * import { Middleware } from "@hybrid/agent"
 *
 * const line = Middleware.logRequest({ requestId: "abc-123", method: "GET", path: "/healthz", status: 200, ms: 0.4 })
 * ```
 *
 * @since 0.1.0
 * @category logging
 */
export const logRequest = (line: { requestId: string; method: string; path: string; status: number; ms: number; shed?: true }) =>
  Effect.logInfo(`${line.method} ${line.path} ${line.status} ${line.ms}ms`).pipe(Effect.annotateLogs(line))

// --- decode failures -------------------------------------------------------------------

const formatter = SchemaIssue.makeFormatterStandardSchemaV1()

/** The value at `path` in `json`, or `undefined`. */
const at = (json: unknown, path: ReadonlyArray<string>): unknown =>
  path.reduce<unknown>((value, key) => Predicate.isObject(value) ? (value as Record<string, unknown>)[key] : undefined, json)

/**
 * A `BadRequest` from a decode failure: the first issue's field and message, and what
 * was given there (at most `Api.maxEcho` characters of it).
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import { Middleware, ServeApi } from "@hybrid/agent"
 *
 * const error = Schema.decodeUnknownExit(ServeApi.AnswerRequest)({ query: 1 })
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export const badRequest = (error: Schema.SchemaError, body: unknown, where: string): Api.BadRequest => {
  const issues = formatter(error.issue).issues
  const first = issues[0]
  if (first === undefined) return Api.BadRequest.of(`${where}: invalid`, where)
  const path = (first.path ?? []).map((p) => String(typeof p === "object" && p !== null && "key" in p ? p.key : p))
  const field = path.length === 0 ? where : path.join(".")
  const given = path.length === 0 ? undefined : at(body, path)
  const got = given === undefined || first.message.includes("got ") ? "" : `, got ${Api.echo(given)}`
  return Api.BadRequest.of(`${field}: ${first.message}${got}`, field)
}

// --- the middleware --------------------------------------------------------------------

interface Shown {
  readonly status: number
  readonly tag: string
  readonly message: string
  readonly field?: string | undefined
  readonly headers?: Record<string, string> | undefined
}

const json = (shown: Shown) =>
  HttpServerResponse.jsonUnsafe(
    { error: { tag: shown.tag, message: shown.message, ...(shown.field === undefined ? {} : { field: shown.field }) } },
    { status: shown.status, headers: shown.headers }
  )

/** The error or defect of a `Cause` reason (nothing for an interrupt). */
const errorOf = (reason: Cause.Reason<unknown>): unknown =>
  reason._tag === "Fail" ? reason.error : reason._tag === "Die" ? reason.defect : undefined

/** What a failed request is shown as. */
const fromCause = (
  cause: Cause.Cause<unknown>,
  request: HttpServerRequest.HttpServerRequest,
  options: Options,
  body: unknown
): Shown => {
  const path = pathOf(request.url)
  for (const reason of cause.reasons) {
    const error = errorOf(reason)
    if (error instanceof Api.Overloaded || error instanceof Api.Draining) return { status: 503, ...error.error }
    if (HttpApiError.HttpApiSchemaError.is(error)) {
      return { status: 400, ...badRequest(error.cause, body, error.kind === "Payload" ? "body" : error.kind.toLowerCase()).error }
    }
    if (HttpApiError.HttpApiPayloadTooLarge.is(error)) return tooLarge(options)
    if (HttpServerError.isHttpServerError(error)) {
      const inner = error.reason
      if (inner._tag === "RequestParseError" && inner.reason === "BodyTooLarge") return tooLarge(options)
      if (inner._tag === "RequestParseError") {
        return { status: 400, tag: "BadRequest", message: "the body could not be read", field: "body" }
      }
      if (inner._tag === "RouteNotFound") {
        const methods = options.routes.get(path)
        return methods === undefined
          ? { status: 404, tag: "NotFound", message: `no route ${request.method} ${Api.echo(path).slice(1, -1)}` }
          : {
            status: 405,
            tag: "MethodNotAllowed",
            message: `${path} answers ${methods.join(", ")}, not ${request.method}`,
            headers: { allow: methods.join(", ") }
          }
      }
    }
  }
  const squashed = Cause.squash(cause)
  const message = squashed instanceof Error ? squashed.message : String(squashed)
  return { status: 500, tag: "Internal", message: `internal error: ${message}` }
}

const tooLarge = (options: Options): Shown => ({
  status: 413,
  ...Api.PayloadTooLarge.of(options.maxBodyBytes).error,
  headers: { connection: "close" }
})

/** A non-JSON error response of the router or HttpApi (415, HttpApi's empty 400 …) as JSON. */
const normalize = (response: HttpServerResponse.HttpServerResponse): HttpServerResponse.HttpServerResponse => {
  if (response.status < 400) return response
  const type = response.headers["content-type"] ?? ""
  if (type.includes("json")) return response
  const tag = response.status === 415 ? "UnsupportedMediaType" : response.status === 400 ? "BadRequest" : "Error"
  const message = response.status === 415
    ? "the body must be application/json"
    : `HTTP ${response.status}`
  const { "content-length": _length, "content-type": _type, ...headers } = response.headers
  return json({ status: response.status, tag, message, headers })
}

/**
 * The middleware as a layer over the router (see the module comment).
 *
 * @example
 * ```ts
 * import { Middleware } from "@hybrid/agent"
 *
 * const layer = Middleware.layer({ maxBodyBytes: 65_536, routes: new Map() })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options) =>
  HttpRouter.middleware(
    Effect.gen(function*() {
      const admission = yield* Admission.Admission
      const maxBody = ByteSize.bytes(options.maxBodyBytes)
      const scrub = options.scrub ?? ((text: string) => text)
      const retryAfter = String(admission.options.retryAfterSeconds)
      const answerPaths = new Set(options.answerPaths ?? [])
      return (app) =>
        Effect.gen(function*() {
          const request = yield* HttpServerRequest.HttpServerRequest
          const start = performance.now()
          const id = requestId(request.headers["x-request-id"])
          const path = pathOf(request.url)
          const length = Number(request.headers["content-length"] ?? Number.NaN)
          yield* Effect.annotateCurrentSpan("http.request_id", id)
          // every body is read as JSON, whatever it is labelled (`curl -d` says form-urlencoded)
          const type = request.headers["content-type"]
          const asJson = type !== undefined && !type.includes("json")
            ? request.modify({ headers: { ...request.headers, "content-type": "application/json" } })
            : request
          const served = app.pipe(
            Effect.provideService(HttpIncomingMessage.MaxBodySize, maxBody),
            Effect.provideService(HttpServerRequest.HttpServerRequest, asJson)
          )
          const exit = Number.isFinite(length) && length > options.maxBodyBytes
            ? Exit.succeed(json(tooLarge(options)))
            : request.method === "POST" && answerPaths.has(path) && !admission.admits()
            // refused (with the shed metric) before the body is read — unless a slot freed meanwhile
            ? yield* Effect.exit(Effect.andThen(admission.run(Effect.void), served))
            : yield* Effect.exit(served)
          const ms = () => Math.round((performance.now() - start) * 10) / 10
          const log = (status: number) => logRequest({ requestId: id, method: request.method, path, status, ms: ms() })
          if (Exit.isFailure(exit) && Cause.hasInterruptsOnly(exit.cause)) {
            // the client went away (or the server is force-stopping): nobody to answer; 499 as nginx logs it
            yield* log(499)
            return yield* Effect.failCause(exit.cause)
          }
          let response: HttpServerResponse.HttpServerResponse
          if (Exit.isSuccess(exit)) response = normalize(exit.value)
          else {
            // the body (already read, so cached) only to quote a bad field's value
            const undecodable = exit.cause.reasons.some((r) => HttpApiError.HttpApiSchemaError.is(errorOf(r)))
            const body = undecodable ? yield* asJson.json.pipe(Effect.orElseSucceed(() => undefined)) : undefined
            const shown = fromCause(exit.cause, request, options, body)
            response = json({ ...shown, message: scrub(shown.message) })
          }
          const { draining } = admission.peek()
          const headers: Record<string, string> = { "x-request-id": id }
          if (response.status === 503 && response.headers["retry-after"] === undefined) headers["retry-after"] = retryAfter
          if (draining) headers.connection = "close"
          response = HttpServerResponse.setHeaders(response, headers)
          yield* ServeMetrics.recordRequest(request.method, options.routes.has(path) ? path : "other", response.status)
          yield* log(response.status)
          return response
        })
    }),
    { global: true }
  )

