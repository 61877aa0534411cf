/**
 * The shedding fast path of `hybrid serve`: a `POST` to an answer path that `Admission`
 * would refuse now (the queue full, its expected wait past `maxWaitMs`, or draining) is
 * answered `503` by Node's own request event, before the request reaches Effect's HTTP
 * stack — no request object, router, fiber, body read or schema encode. Under overload
 * refusing is most of what a server does (a client that ignores `Retry-After` asks again
 * at once), so a 503 must cost next to nothing: no Effect runs per refusal (the admission
 * counts are read synchronously, the bodies are built once per count), and the counters
 * and log lines of all the refusals of one event-loop turn are recorded by one fiber
 * after it. Measured on the shared 2-core machine (200 autocannon connections, 8 s): the
 * server's main thread spent ≈ 33 µs of CPU per 503 (load 6.6), against ≈ 170 µs (load
 * 1.7) when each refusal ran its own fiber and refusals for their expected wait went
 * through the Effect path.
 *
 * The response is the one the Effect path sends: `{ error: { tag, message } }`,
 * `Retry-After`, `x-request-id` (the client's when well-formed, else a new one),
 * `Connection: close` while draining; the shed and request counters are updated and the
 * request log line written through Effect's logger (so `--log-level` applies; at `Warn`
 * and above no line is even built). Not traced: a shed request has no span.
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
import { type Context, Effect, LogLevel } from "effect"
import type * as Admission from "./Admission.ts"
import * as Api from "./Api.ts"
import * as ServeMetrics from "./Metrics.ts"
import { logRequest, pathOf, requestId } from "./Middleware.ts"

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
  /**
   * The wait in the queue the fast path allows a request (`Admission.admits`' bound): the
   * body, where a request names its own budget, is not read yet, so the server passes half
   * its default budget (the handler's own bound for a request that names none). Without
   * it only a full queue is shed here, and a request refused for its expected wait costs
   * a body read, a decode and an encoded error.
   */
  readonly maxWaitMs?: number | undefined
  /** The budget the fast path assumes (`Admission.admits`' `budgetMs`): the server's default budget. */
  readonly budgetMs?: number | undefined
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
  const tally = new Tally(options.context)
  const retryAfter = String(options.admission.options.retryAfterSeconds)
  const bodies = new Bodies(options.admission.options.retryAfterSeconds)
  return (request: IncomingMessage, response: ServerResponse): boolean => {
    if (request.method !== "POST") return false
    const path = pathOf(request.url ?? "/")
    if (!paths.has(path)) return false
    const length = Number(request.headers["content-length"] ?? 0)
    if (length > options.maxBodyBytes || options.admission.admits(options.maxWaitMs, options.budgetMs)) return false
    const start = performance.now()
    const snapshot = options.admission.peek()
    const header = request.headers["x-request-id"]
    const id = requestId(typeof header === "string" ? header : undefined)
    const body = bodies.of(snapshot)
    response.writeHead(503, {
      "content-type": "application/json",
      "content-length": body.bytes,
      "retry-after": retryAfter,
      "x-request-id": id,
      ...(snapshot.draining ? { connection: "close" } : {})
    })
    response.end(body.text)
    tally.add(path, snapshot.draining, id, start)
    return true
  }
}

/** The 503 bodies, one per (in flight, queued, draining): built once each, not per request. */
class Bodies {
  private readonly cache = new Map<string, { readonly text: string; readonly bytes: number }>()
  private readonly retryAfterSeconds: number
  constructor(retryAfterSeconds: number) {
    this.retryAfterSeconds = retryAfterSeconds
  }
  of(snapshot: Admission.Snapshot): { readonly text: string; readonly bytes: number } {
    const key = snapshot.draining ? "draining" : `${snapshot.inFlight}/${snapshot.queued}`
    const cached = this.cache.get(key)
    if (cached !== undefined) return cached
    const { error } = snapshot.draining
      ? Api.Draining.of()
      : Api.Overloaded.of(snapshot.inFlight, snapshot.queued, this.retryAfterSeconds)
    const text = JSON.stringify({ error })
    const body = { text, bytes: Buffer.byteLength(text) }
    if (this.cache.size >= 1_024) this.cache.clear()
    this.cache.set(key, body)
    return body
  }
}

interface Line {
  readonly path: string
  readonly id: string
  readonly ms: number
}

/**
 * The sheds of one turn of the event loop, recorded together after it (`setImmediate`):
 * one fiber for the counters and the log lines of all of them, not one per 503 — under
 * overload the sheds are most of the requests. Log lines are kept only when `Info` is
 * enabled in the server's context (`--log-level`).
 */
class Tally {
  private readonly run: (effect: Effect.Effect<void>) => unknown
  private readonly logs: boolean
  private readonly counts = new Map<string, { path: string; draining: boolean; n: number }>()
  private lines: Array<Line> = []
  private scheduled = false
  constructor(context: Context.Context<never>) {
    this.run = Effect.runForkWith(context)
    this.logs = Effect.runSyncWith(context)(LogLevel.isEnabled("Info"))
  }
  add(path: string, draining: boolean, id: string, start: number): void {
    const key = `${draining ? "d" : "o"} ${path}`
    const count = this.counts.get(key)
    if (count === undefined) this.counts.set(key, { path, draining, n: 1 })
    else count.n++
    if (this.logs) this.lines.push({ path, id, ms: Math.round((performance.now() - start) * 10) / 10 })
    if (!this.scheduled) {
      this.scheduled = true
      setImmediate(() => this.flush())
    }
  }
  private flush(): void {
    this.scheduled = false
    const counts = [...this.counts.values()]
    const lines = this.lines
    this.counts.clear()
    this.lines = []
    this.run(Effect.gen(function*() {
      for (const { draining, n, path } of counts) {
        yield* ServeMetrics.recordShed(draining ? "draining" : "overloaded", n)
        yield* ServeMetrics.recordRequest("POST", path, 503, n)
      }
      for (const { id, ms, path } of lines) {
        yield* logRequest({ requestId: id, method: "POST", path, status: 503, ms, shed: true })
      }
    }))
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
