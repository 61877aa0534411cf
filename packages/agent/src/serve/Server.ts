/**
 * `hybrid serve` as a layer: the `ServeApi` on `NodeHttpServer`, with admission control,
 * the request log, the body limit, JSON errors, `/openapi.json`, a docs page at `/docs`
 * (Scalar), `/metrics` (Prometheus) and a graceful drain.
 *
 * | route                | what                                                      |
 * |----------------------|-----------------------------------------------------------|
 * | `POST /v1/answer`    | an answer within `budgetMs` (see `ServeApi`)              |
 * | `POST /v1/answer/stream` | the same, as server-sent events (see `Streaming`)     |
 * | `GET /healthz`       | alive; answers in flight and queued                       |
 * | `GET /readyz`        | taking answers (not draining) and the fixtures reachable  |
 * | `GET /metrics`       | Prometheus text: `ServeMetrics` and the sources' metrics  |
 * | `GET /openapi.json`  | the OpenAPI 3.1 document of `ServeApi.Api`                |
 * | `GET /docs`          | the API reference (Scalar, bundled: no network needed)    |
 *
 * An answer starts its budget when the request arrives, waits for a slot in `Admission`
 * — at most half its budget, and only while the wait plus the answer's likely time fits
 * the budget — or is refused at once with a 503 `Overloaded`, and is a 503 `NoAnswer` —
 * never a 200 — when no source answered. An answer whose sources timed out, or that spent
 * more than half its budget in its slot, tells `Admission` the server is overloaded: the
 * limit on answers in flight comes down. Every error body is `{ error: { tag, message, field? } }`.
 *
 * Shutdown (closing the layer): admission stops (`Draining` for anything new, `/readyz`
 * 503), the listener closes, every response says `Connection: close`, and the layer
 * waits for every answer already admitted — each bounded by its budget — for at most
 * `maxBudget + grace`; then the agent and its workers are released.
 *
 * Underneath: `HttpApiBuilder`, `HttpApiScalar`, `PrometheusMetrics.layerHttp`,
 * `HttpRouter.cors`, `NodeHttpServer.layer` (its `gracefulShutdownTimeout` is the drain
 * bound). Written here: the handlers, the drain and the listen error.
 *
 * @example
 * ```ts
 * import { Layer } from "effect"
 * import { Fixtures, Server } from "@hybrid/agent"
 *
 * const App = Server.layer({ host: "127.0.0.1", port: 0, defaultBudgetMs: 1_500 }).pipe(
 *   Layer.provide(Fixtures.layerAgent({ scale: 0.05 }))
 * )
 * // Layer.launch(App) serves until interrupted
 * ```
 *
 * @since 0.1.0
 */
import { createServer } from "node:http"
import type * as Http from "node:http"
import * as os from "node:os"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import { Console, Duration, Effect, Layer, Option, Predicate, Schema } from "effect"
import { HttpRouter, HttpServer } from "effect/http"
import { HttpApiBuilder, HttpApiScalar, OpenApi } from "effect/http-api"
import { PrometheusMetrics } from "effect/observability"
import { Deadline } from "@hybrid/core"
import * as Agent from "../Agent.ts"
import * as Fixtures from "../fixtures/Fixtures.ts"
import * as Scrub from "../Scrub.ts"
import * as Admission from "./Admission.ts"
import * as Api from "./Api.ts"
import * as ServeMetrics from "./Metrics.ts"
import * as Middleware from "./Middleware.ts"
import * as Shed from "./Shed.ts"
import * as Streaming from "./Streaming.ts"

// --- errors ------------------------------------------------------------------------------

/**
 * The server could not listen: `host:port` and why (`address already in use`, …).
 *
 * @example
 * ```ts
 * import { Server } from "@hybrid/agent"
 *
 * new Server.ListenError({ host: "127.0.0.1", port: 8787, reason: "address already in use (EADDRINUSE)" }).message
 * // "cannot listen on 127.0.0.1:8787: address already in use (EADDRINUSE)"
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class ListenError extends Schema.TaggedError<ListenError>()("ListenError", {
  host: Schema.String,
  port: Schema.Number,
  reason: Schema.String
}) {
  override get message(): string {
    return `cannot listen on ${this.host}:${this.port}: ${this.reason}`
  }
}

const listenReason = (cause: unknown): string => {
  const code = Predicate.hasProperty(cause, "code") && typeof cause.code === "string" ? cause.code : undefined
  switch (code) {
    case "EADDRINUSE":
      return "address already in use (EADDRINUSE)"
    case "EACCES":
      return "permission denied (EACCES)"
    case "EADDRNOTAVAIL":
      return "address not available on this machine (EADDRNOTAVAIL)"
    default:
      return cause instanceof Error ? cause.message : String(cause)
  }
}

// --- options -----------------------------------------------------------------------------

/**
 * The options of `hybrid serve`: where it listens, the default budget, the body limit,
 * admission and shutdown.
 *
 * @example
 * ```ts
 * import type { Server } from "@hybrid/agent"
 *
 * const options: Server.Options = { host: "127.0.0.1", port: 8787, defaultBudgetMs: 30_000, maxBodyBytes: 65_536 }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly host: string
  /** 0: any free port. */
  readonly port: number
  /** The budget of a request that names none, in milliseconds. */
  readonly defaultBudgetMs: number
  /** Request bodies past this many bytes are a 413. Default 64 KiB. */
  readonly maxBodyBytes?: number | undefined
  /** The most answers running at once (the adaptive limit's ceiling, and where it starts). Default `defaultMaxInFlight()`. */
  readonly maxInFlight?: number | undefined
  /** Answers waiting for a slot. Default: `maxInFlight`. */
  readonly maxQueued?: number | undefined
  /** An origin allowed by CORS (`*` for any); default none (CORS off). */
  readonly cors?: string | undefined
  /** Time allowed past the longest budget for the drain at shutdown. Default 5 s. */
  readonly graceMs?: number | undefined
  /** Every error message shown goes through it; default `Scrub.patterns` (no configured secrets). */
  readonly scrub?: Scrub.Scrubber | undefined
}

/**
 * The default bound on answers in flight: 4 per core. Each answer's CPU work runs on the
 * worker threads, one core each; past a few answers per core the processing queue, not
 * the sources, sets the latency, and budgets start to run out.
 *
 * @example
 * ```ts
 * import { Server } from "@hybrid/agent"
 *
 * Server.defaultMaxInFlight() >= 4 // true
 * ```
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultMaxInFlight = (): number => 4 * Math.max(1, os.availableParallelism())

/** The paths whose requests run under `Admission` (and are shed before their body is read). */
const answerPaths = ["/v1/answer", "/v1/answer/stream"]

/** Paths outside the HttpApi, with their methods. */
const extraRoutes: ReadonlyArray<readonly [string, ReadonlyArray<string>]> = [
  ["/openapi.json", ["GET"]],
  ["/docs", ["GET"]],
  ["/metrics", ["GET"]]
]

/**
 * Every path the server answers with its methods, from the API's OpenAPI document and
 * the extra routes.
 *
 * @example
 * ```ts
 * import { Server } from "@hybrid/agent"
 *
 * Server.routes().get("/v1/answer") // ["POST"]
 * ```
 *
 * @since 0.1.0
 * @category utils
 */
export const routes = (): ReadonlyMap<string, ReadonlyArray<string>> => {
  const spec = OpenApi.fromApi(Api.Api)
  const out = new Map<string, ReadonlyArray<string>>(extraRoutes)
  for (const [path, item] of Object.entries(spec.paths)) {
    out.set(path, Object.keys(item).filter((k) => ["get", "post", "put", "patch", "delete"].includes(k)).map((k) => k.toUpperCase()))
  }
  return out
}

// --- handlers ----------------------------------------------------------------------------

const answerHandlers = (defaultBudgetMs: number, scrub: Scrub.Scrubber) =>
  HttpApiBuilder.group(Api.Api, "answer", Effect.fnUntraced(function*(handlers) {
    const agent = yield* Agent.Agent
    const admission = yield* Admission.Admission
    return handlers.handle("stream", Streaming.handler({ defaultBudgetMs, scrub })).handle("answer", ({ payload }) =>
      Effect.gen(function*() {
        const arrival = performance.now()
        const budgetMs = payload.budgetMs ?? defaultBudgetMs
        const deadline = Date.now() + budgetMs
        const elapsed = () => Math.round(performance.now() - arrival)
        const answer = yield* admission.run(
          agent.answer(payload.query, { budget: Duration.millis(budgetMs) }).pipe(
            // the budget started on arrival: the wait for a slot counts against it
            Effect.provideService(Deadline.Current, deadline)
          ),
          {
            // waiting longer than half the budget leaves too little for the answer: a 503 now is better
            maxWaitMs: budgetMs / 2,
            // and not at all when what is left after the wait is less than an answer likely needs
            budgetMs,
            // sources cut by the deadline: this server is doing more than it can finish in time
            strained: (a) => Streaming.strained(a.sources, elapsed(), budgetMs),
            overloaded: (e) => e._tag === "NoAnswer" && Streaming.timedOut(e.sources)
          }
        ).pipe(
          // the budget is checked on the way in; an InvalidOption here names it all the same
          Effect.catchTag("InvalidOption", (e) => Effect.fail(Api.BadRequest.of(e.message, "budgetMs"))),
          Effect.catchTag("NoAnswer", (e) =>
            Effect.andThen(
              ServeMetrics.recordAnswer("no-answer", e.sources, elapsed()),
              Effect.fail(Api.NoAnswer.of(scrub.all(e.message), Streaming.shown(scrub, e.sources), scrub.text(e.llm)))
            ))
        )
        if (!answer.sources.some((s) => s.status === "ok")) {
          yield* ServeMetrics.recordAnswer("no-answer", answer.sources, elapsed())
          return yield* Api.NoAnswer.noSource(
            Streaming.shown(scrub, answer.sources),
            answer.synthesis === "llm" ? "answered, but from no context: not sent" : "not asked"
          )
        }
        yield* ServeMetrics.recordAnswer(answer.degraded ? "degraded" : "ok", answer.sources, elapsed())
        return answer.degraded ? new Agent.Answer({ ...answer, sources: Streaming.shown(scrub, answer.sources) }) : answer
      }).pipe(Effect.withSpan("hybrid.serve.answer", { attributes: { budgetMs: payload.budgetMs ?? defaultBudgetMs } })))
  }))

/** `GET /health` of every fixture server, each within 1 s. */
const fixturesReachable = (urls: Fixtures.Urls) =>
  Effect.forEach(
    Object.entries(urls),
    ([name, url]) =>
      Effect.tryPromise(() => fetch(`${url.replace(/\/v1$/, "")}/health`, { signal: AbortSignal.timeout(1_000) })).pipe(
        Effect.map((r) => [name, r.ok ? "ok" : `HTTP ${r.status}`] as const),
        Effect.orElseSucceed(() => [name, "unreachable"] as const)
      ),
    { concurrency: "unbounded" }
  )

const opsHandlers = HttpApiBuilder.group(Api.Api, "ops", Effect.fnUntraced(function*(handlers) {
  const admission = yield* Admission.Admission
  const fixtures = yield* Effect.serviceOption(Fixtures.Fixtures)
  return handlers
    .handle("health", () =>
      Effect.map(admission.snapshot, (s) => new Api.Health({ status: "ok", inFlight: s.inFlight, queued: s.queued, limit: s.limit })))
    .handle("ready", () =>
      Effect.gen(function*() {
        const { draining } = yield* admission.snapshot
        if (draining) return yield* Api.NotReady.of("draining: the server is shutting down")
        const checks = Option.isSome(fixtures) ? yield* fixturesReachable(fixtures.value.urls) : []
        const down = checks.filter(([, status]) => status !== "ok")
        if (down.length > 0) return yield* Api.NotReady.of(`unreachable: ${down.map(([n, s]) => `${n} ${s}`).join(", ")}`)
        return new Api.Ready({ status: "ready", sources: Object.fromEntries(checks) })
      }))
}))

// --- the layer ---------------------------------------------------------------------------

/**
 * The server over the `Agent` in context (see the module comment). Bad options throw
 * `InvalidOption`; a port that cannot be bound fails with `ListenError`.
 *
 * @example
 * ```ts
 * import { Layer } from "effect"
 * import { Fixtures, Server } from "@hybrid/agent"
 *
 * const App = Server.layer({ host: "127.0.0.1", port: 8787, defaultBudgetMs: 30_000, cors: "https://example.com" })
 *   .pipe(Layer.provide(Fixtures.layerAgent()))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options) => {
  const maxInFlight = options.maxInFlight ?? defaultMaxInFlight()
  const admission = Admission.layer({ maxInFlight, maxQueued: options.maxQueued ?? maxInFlight })
  const graceMs = options.graceMs ?? 5_000
  const scrub = options.scrub ?? Scrub.patterns
  const maxBodyBytes = options.maxBodyBytes ?? 65_536
  const apiRoutes = HttpApiBuilder.layer(Api.Api, { openapiPath: "/openapi.json" }).pipe(
    Layer.provide([answerHandlers(options.defaultBudgetMs, scrub), opsHandlers])
  )
  const app = Layer.mergeAll(
    apiRoutes,
    HttpApiScalar.layer(Api.Api, { path: "/docs" }),
    PrometheusMetrics.layerHttp({ path: "/metrics" }),
    Middleware.layer({ maxBodyBytes, routes: routes(), scrub: scrub.all, answerPaths }),
    options.cors === undefined ? Layer.empty : HttpRouter.cors({ allowedOrigins: [options.cors] })
  )
  const lifecycle = Layer.effectDiscard(Effect.gen(function*() {
    const server = yield* HttpServer.HttpServer
    const control = yield* Admission.Admission
    yield* Effect.forkScoped(ServeMetrics.sampleProcess)
    const address = server.address
    const url = address._tag === "UnixPathAddress" ? address.path : `http://${options.host}:${address.port}`
    yield* Console.log(`listening on ${url}`)
    yield* Effect.addFinalizer(() =>
      Effect.gen(function*() {
        yield* control.drain
        const { inFlight, queued } = yield* control.snapshot
        yield* Console.error(
          inFlight + queued === 0 ? "shutting down" : `shutting down: finishing ${inFlight + queued} answer(s) in flight`
        )
      })
    )
  }))
  const listener = Layer.mergeAll(
    Layer.effect(
      HttpServer.HttpServer,
      Effect.gen(function*() {
        const control = yield* Admission.Admission
        const context = yield* Effect.context<never>()
        // CORS on: a browser needs its headers even on a 503, so the middleware sheds instead
        const shed = (server: Http.Server) =>
          options.cors === undefined
            ? Shed.install(server, { admission: control, context, answerPaths, maxBodyBytes, maxWaitMs: options.defaultBudgetMs / 2, budgetMs: options.defaultBudgetMs })
            : server
        // an idle connection outlives the Retry-After of a 503 (1 s): a client that waits it out
        // asks again on the same connection instead of racing the server's close with a new one
        const keepAliveTimeout = 1_000 * control.options.retryAfterSeconds + 4_000
        return yield* NodeHttpServer.make(() => shed(createServer({ keepAliveTimeout })), {
          port: options.port,
          host: options.host,
          gracefulShutdownTimeout: Duration.millis(Api.maxBudgetMs + graceMs)
        })
      }).pipe(
        Effect.mapError((e) => new ListenError({ host: options.host, port: options.port, reason: listenReason(e.cause) }))
      )
    ),
    NodeHttpServer.layerHttpServices
  )
  // lifecycle is built after the routes are served, so its finalizer (stop admitting) runs
  // before theirs (close the listener and wait for the answers in flight)
  return lifecycle.pipe(
    Layer.provideMerge(HttpRouter.serve(app, { disableListenLog: true, disableLogger: true })),
    Layer.provideMerge(listener),
    Layer.provideMerge(admission)
  )
}
