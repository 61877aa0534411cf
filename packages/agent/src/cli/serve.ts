/**
 * `hybrid serve [--port 8787] [--scale x] [--faults spec]` — the agent as an HTTP API on
 * 127.0.0.1 (effect/http on `NodeHttpServer`):
 *
 * | route              | body                                   | answers                                   |
 * |--------------------|----------------------------------------|-------------------------------------------|
 * | `POST /v1/answer`  | `{ "query": "…", "budgetMs"?: 5000 }`  | 200 `Agent.Answer` as JSON; 503 `NoAnswer` |
 * | `GET /healthz`     |                                        | 200 `{ "status": "ok", "inFlight": n }`   |
 *
 * Input is decoded with a Schema: a body that is not JSON, or a missing or invalid field,
 * is a 400 `{ "error": { "message", "field", "issues" } }` whose message names the field
 * and the value (`budgetMs: Expected a value greater than or equal to 1, got -5`). `budgetMs` is 1 ms … 60 s,
 * default 30 s × `--scale`. `--port 0` picks a free port; the first line on stdout is
 * `listening on http://127.0.0.1:<port>`. Error bodies go through the CLI's scrubber
 * (`Scrub`): no configured key, `Authorization` value or URL userinfo reaches a client.
 *
 * Graceful shutdown: SIGTERM or SIGINT interrupts the program (`NodeRuntime.runMain`);
 * closing the server layer stops accepting connections and waits for the answers in
 * flight — each bounded by its own budget, so the wait is too (at most the longest
 * budget, 60 s, plus a margin) — before the agent's workers and fixtures are released;
 * then the process exits (code 130, an interruption).
 *
 * @since 0.1.0
 */
import { createServer } from "node:http"
import { NodeHttpServer } from "@effect/platform-node"
import { Console, Duration, Effect, Layer, Predicate, Schema, SchemaIssue } from "effect"
import { Command, Flag } from "effect/cli"
import { HttpRouter, HttpServer, HttpServerRequest, HttpServerResponse } from "effect/http"
import * as Agent from "../Agent.ts"
import { agent, faults, faultsOf, reported, scale, scrubber } from "./shared.ts"

/** The longest budget a request may ask for. */
const maxBudgetMs = 60_000

/**
 * The body of `POST /v1/answer`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const AnswerRequest = Schema.Struct({
  query: Schema.String.check(
    Schema.isPattern(/\S/, { message: "Expected a non-empty question" }),
    Schema.isMaxLength(2_000)
  ),
  budgetMs: Schema.optional(Schema.Finite.check(Schema.isGreaterThanOrEqualTo(1), Schema.isLessThanOrEqualTo(maxBudgetMs)))
})
/** @since 0.1.0 @category models */
export type AnswerRequest = typeof AnswerRequest.Type

const decodeRequest = Schema.decodeUnknownExit(AnswerRequest)
const encodeAnswer = Schema.encodeSync(Agent.Answer)
const formatter = SchemaIssue.makeFormatterStandardSchemaV1()

const badRequest = (message: string, field: string | null, issues: ReadonlyArray<{ readonly field: string; readonly message: string }> = []) =>
  HttpServerResponse.jsonUnsafe({ error: { message, field, issues } }, { status: 400 })

/** The routes, over the `Agent` in context; `defaultBudgetMs` when a request names none. */
const routes = (defaultBudgetMs: number, inFlight: { n: number }) =>
  HttpRouter.use(Effect.fnUntraced(function*(router) {
    const service = yield* Agent.Agent
    yield* router.add("GET", "/healthz", Effect.sync(() => HttpServerResponse.jsonUnsafe({ status: "ok", inFlight: inFlight.n })))
    yield* router.add(
      "POST",
      "/v1/answer",
      Effect.gen(function*() {
        const request = yield* HttpServerRequest.HttpServerRequest
        const text = yield* Effect.orElseSucceed(request.text, () => undefined)
        if (text === undefined) return badRequest("could not read the request body", null)
        let json: unknown
        try {
          json = JSON.parse(text)
        } catch (error) {
          return badRequest(`the body is not valid JSON: ${error instanceof Error ? error.message : String(error)}`, null)
        }
        const decoded = decodeRequest(json, { errors: "all" })
        if (decoded._tag === "Failure") {
          const error = decoded.cause.reasons.find((r) => r._tag === "Fail")
          const issues = error?._tag === "Fail"
            ? formatter(error.error.issue).issues.map((issue) => {
              const path = (issue.path ?? []).map((p) => String(typeof p === "object" ? p.key : p))
              const given = path.reduce<unknown>((at, key) => Predicate.isObject(at) ? (at as Record<string, unknown>)[key] : undefined, json)
              return {
                field: path.join(".") || "body",
                message: given === undefined ? issue.message : `${issue.message}, got ${JSON.stringify(given)}`
              }
            })
            : []
          const first = issues[0] ?? { field: "body", message: "invalid request" }
          return badRequest(`${first.field}: ${first.message}`, first.field, issues)
        }
        const { budgetMs, query } = decoded.value
        inFlight.n++
        return yield* service.answer(query, { budget: Duration.millis(budgetMs ?? defaultBudgetMs) }).pipe(
          Effect.map((answer) => HttpServerResponse.jsonUnsafe(encodeAnswer(answer))),
          // what an upstream said reaches the client only through the scrubber
          Effect.catchTag("NoAnswer", (e) =>
            Effect.map(scrubber, (scrub) =>
              HttpServerResponse.jsonUnsafe({
                error: {
                  message: scrub.error(e).message,
                  sources: e.sources.map((r) => ({ ...r, ...(r.error === undefined ? {} : { error: scrub.text(r.error) }) })),
                  llm: scrub.text(e.llm)
                }
              }, { status: 503 }))),
          Effect.ensuring(Effect.sync(() => inFlight.n--)),
          Effect.withSpan("hybrid.serve.answer", { attributes: { budgetMs: budgetMs ?? defaultBudgetMs } })
        )
      })
    )
  }))

/**
 * The API on `127.0.0.1:port` over the `Agent`: listening when built, draining its
 * requests in flight when closed.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: { readonly port: number; readonly defaultBudgetMs: number }) => {
  const inFlight = { n: 0 }
  const announce = Layer.effectDiscard(Effect.gen(function*() {
    const server = yield* HttpServer.HttpServer
    const address = server.address
    const url = address._tag === "UnixPathAddress" ? address.path : `http://127.0.0.1:${address.port}`
    yield* Console.log(`listening on ${url}`)
    yield* Effect.addFinalizer(() =>
      Console.error(inFlight.n === 0 ? "shutting down" : `shutting down: finishing ${inFlight.n} answer(s) in flight`)
    )
  }))
  return HttpRouter.serve(routes(options.defaultBudgetMs, inFlight), { disableListenLog: true, disableLogger: true }).pipe(
    Layer.merge(announce),
    Layer.provide(NodeHttpServer.layer(() => createServer({ keepAliveTimeout: 1_000 }), {
      port: options.port,
      host: "127.0.0.1",
      gracefulShutdownTimeout: Duration.millis(maxBudgetMs + 5_000)
    }))
  )
}

/**
 * @since 0.1.0
 * @category commands
 */
export const serve = Command.make(
  "serve",
  {
    port: Flag.Int("port").pipe(
      Flag.withDescription("port on 127.0.0.1, default 8787 (0: any free port)"),
      Flag.filter((p) => p >= 0 && p <= 65_535, (p) => `--port must be between 0 and 65535, got ${p}`),
      Flag.withDefault(8787)
    ),
    scale,
    faults
  },
  Effect.fn("hybrid.serve")(function*(flags) {
    const faultConfig = yield* faultsOf(flags.faults)
    return yield* Layer.launch(
      layer({ port: flags.port, defaultBudgetMs: 30_000 * flags.scale }).pipe(
        Layer.provide(agent({ scale: flags.scale, faults: faultConfig }))
      )
    )
  }, reported("serve"))
).pipe(
  Command.withDescription("serve the agent over HTTP: POST /v1/answer { query, budgetMs }, GET /healthz"),
  Command.withExamples([
    { command: "hybrid serve --port 8787", description: "then: curl -d '{\"query\":\"rain in Oslo?\"}' 127.0.0.1:8787/v1/answer" }
  ])
)
