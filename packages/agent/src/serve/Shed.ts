/**
 * The shedding fast path of `hybrid serve`: a `POST` to an answer path that `Admission`
 * would refuse now (the queue full, or draining) is answered `503` by Node's own request
 * event, before the request reaches Effect's HTTP stack — no request object, router,
 * fiber, body read or schema encode. Under overload refusing is most of what a server
 * does (a client that ignores `Retry-After` asks again at once), so a 503 must cost next
 * to nothing. Measured on the shared 2-core machine (load 12, 200 autocannon connections,
 * 8 s): 7,061 shed 503s with the server's main thread 51 % idle, against 3,765 with it
 * 43 % idle when the middleware shed them.
 *
 * The response is the one the Effect path sends: `{ error: { tag, message } }`,
 * `Retry-After`, `x-request-id` (the client's when well-formed, else a new one),
 * `Connection: close` while draining; the shed and request counters are updated and the
 * request log line written through Effect's logger (so `--log-level` applies). Not
 * traced: a shed request has no span.
 *
 * Gotchas: installed by `Server.layer` only when CORS is off (a browser needs the CORS
 * headers even on a 503; with `--cors` the middleware sheds, still before the body is
 * read). A body past `maxBodyBytes` is left to the 413 of the Effect path.
 *
 * @example
 * ```ts
 * import { createServer } from "node:http"
 * import { Effect } from "effect"
 * import { Admission, Shed } from "@hybrid/agent"
 *
 * const program = Effect.gen(function*() {
 *   const admission = yield* Admission.Admission
 *   const context = yield* Effect.context<never>()
 *   return Shed.install(createServer(), { admission, context, answerPaths: ["/v1/answer"], maxBodyBytes: 65_536 })
 * })
 * ```
 *
 * @since 0.1.0
 */
import type { IncomingMessage, Server, ServerResponse } from "node:http"
import { type Context, Effect, Metric } from "effect"
import type * as Admission from "./Admission.ts"
import * as ServeMetrics from "./Metrics.ts"
import { requestId } from "./Middleware.ts"

/**
 * What the fast path needs: the admission control it asks, the context its counters and
 * log line run in, the paths it guards and the body limit it leaves to the Effect path.
 *
 * @example
 * ```ts
 * import type { Shed } from "@hybrid/agent"
 *
 * type Options = Shed.Options
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly admission: Admission.Admission["Service"]
  /** Where the counters and the logger come from (the server layer's context). */
  readonly context: Context.Context<never>
  /** The `POST` paths under admission control. */
  readonly answerPaths: ReadonlyArray<string>
  /** Bodies declared larger are left to the Effect path (its 413). */
  readonly maxBodyBytes: number
}

const pathOf = (url: string): string => {
  const end = url.search(/[?#]/)
  return end === -1 ? url : url.slice(0, end)
}

/**
 * Answers `request` with a 503 when admission would refuse it; `false` (nothing sent)
 * otherwise.
 *
 * @example
 * ```ts
 * import { Shed } from "@hybrid/agent"
 *
 * declare const options: Shed.Options
 * const shed = Shed.make(options) // (request, response) => boolean
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options) => {
  const paths = new Set(options.answerPaths)
  const run = Effect.runForkWith(options.context)
  const retryAfter = String(options.admission.options.retryAfterSeconds)
  return (request: IncomingMessage, response: ServerResponse): boolean => {
    if (request.method !== "POST") return false
    const path = pathOf(request.url ?? "/")
    if (!paths.has(path)) return false
    const length = Number(request.headers["content-length"] ?? 0)
    if (length > options.maxBodyBytes || options.admission.admits()) return false
    const start = performance.now()
    const snapshot = Effect.runSync(options.admission.snapshot)
    const draining = snapshot.draining
    const header = request.headers["x-request-id"]
    const id = requestId(typeof header === "string" ? header : undefined)
    const tag = draining ? "Draining" : "Overloaded"
    const message = draining
      ? "the server is shutting down: try another instance"
      : `${snapshot.inFlight} answers in flight and ${snapshot.queued} waiting: try again in ${retryAfter} s`
    const body = JSON.stringify({ error: { tag, message } })
    response.writeHead(503, {
      "content-type": "application/json",
      "content-length": Buffer.byteLength(body),
      "retry-after": retryAfter,
      "x-request-id": id,
      ...(draining ? { connection: "close" } : {})
    })
    response.end(body)
    const ms = Math.round((performance.now() - start) * 10) / 10
    run(Effect.gen(function*() {
      yield* Metric.update(Metric.withAttributes(ServeMetrics.shed, { reason: draining ? "draining" : "overloaded" }), 1)
      yield* ServeMetrics.recordRequest("POST", path, 503)
      yield* Effect.logInfo(`POST ${path} 503 ${ms}ms`).pipe(
        Effect.annotateLogs({ requestId: id, method: "POST", path, status: 503, ms, shed: true })
      )
    }))
    return true
  }
}

/**
 * Puts the fast path in front of every other `request` listener of `server` (Effect's
 * `NodeHttpServer` adds its own later): a shed request never reaches them. Returns the
 * server.
 *
 * @example
 * ```ts
 * import { createServer } from "node:http"
 * import { Shed } from "@hybrid/agent"
 *
 * declare const options: Shed.Options
 * const server = Shed.install(createServer(), options)
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const install = <S extends Server>(server: S, options: Options): S => {
  const shed = make(options)
  const emit = server.emit.bind(server) as (event: string | symbol, ...args: Array<unknown>) => boolean
  // the one place a request can be kept from the listeners Effect registers: the emit itself
  server.emit = ((event: string | symbol, ...args: Array<unknown>) =>
    event === "request" && shed(args[0] as IncomingMessage, args[1] as ServerResponse) ? true : emit(event, ...args)) as S["emit"]
  return server
}
