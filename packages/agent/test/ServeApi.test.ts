/**
 * The HTTP API of `hybrid serve` in-process, over a scripted `Agent` (no fixtures, no
 * workers: fast and deterministic): every endpoint, every error status and its JSON
 * shape, the OpenAPI document, the body limit (and the server's memory after a large
 * body), admission control, draining, request ids and CORS.
 */
import { assert, describe, it } from "@effect/vitest"
import { request as httpRequest } from "node:http"
import { Validator } from "@seriousme/openapi-schema-validator"
import { Context, Deferred, Duration, Effect, Exit, Layer, Logger, Scope, Stream, Tracer } from "effect"
import { HttpServer } from "effect/http"
import { OpenApi } from "effect/http-api"
import * as Agent from "../src/Agent.ts"
import * as Admission from "../src/serve/Admission.ts"
import * as ServeApi from "../src/serve/Api.ts"
import * as Server from "../src/serve/Server.ts"

const report = (name: string, status: Agent.Status) => new Agent.SourceReport({ name, status, ms: 1 })

const answerOf = (text: string, statuses: ReadonlyArray<Agent.Status> = ["ok", "ok", "ok"]) =>
  new Agent.Answer({
    text,
    sources: ["weather", "news", "kb"].map((name, i) => report(name, statuses[i] ?? "ok")),
    timings: new Agent.Timings({ fetch: {}, process: {}, cpu: {}, context: 1, llm: 1, total: 2, bound: 2 }),
    degraded: statuses.some((s) => s !== "ok"),
    synthesis: "llm"
  })

/**
 * A scripted agent: "hold" waits for `release`; "nothing" is an answer with no source
 * ok; "none" fails `NoAnswer`; anything else answers at once.
 */
const scripted = (release: Deferred.Deferred<void>, seen: Array<number | undefined>) => {
  const answer = (query: string, options: Agent.AnswerOptions) =>
    Effect.gen(function*() {
      seen.push(Duration.toMillis(Duration.fromInputUnsafe(options.budget)))
      if (query === "hold") yield* Deferred.await(release)
      if (query === "none") {
        return yield* new Agent.NoAnswer({ query, sources: [report("weather", "timeout")], llm: "rate-limited" })
      }
      if (query === "nothing") return answerOf("made up", ["timeout", "failed", "circuit-open"])
      return answerOf(`answer to ${query}`)
    })
  return Layer.succeed(Agent.Agent, {
    sources: [],
    answer,
    stream: (query, options) => Stream.fromEffect(Effect.map(answer(query, options), (a) => Agent.Done.make({ answer: a })))
  })
}

interface Running {
  readonly url: string
  readonly release: Deferred.Deferred<void>
  readonly seen: Array<number | undefined>
  readonly admission: Admission.Admission["Service"]
  readonly close: Effect.Effect<void>
}

const start = (options: Partial<Server.Options> = {}, extra: Layer.Layer<never> = Layer.empty) =>
  Effect.gen(function*() {
    const release = yield* Deferred.make<void>()
    const seen: Array<number | undefined> = []
    const scope = yield* Scope.make()
    const context = yield* Layer.buildWithScope(
      Server.layer({ host: "127.0.0.1", port: 0, defaultBudgetMs: 1_500, graceMs: 1_000, ...options }).pipe(
        Layer.provide(scripted(release, seen)),
        Layer.provide(Logger.layer([])),
        Layer.provide(extra)
      ),
      scope
    )
    const address = Context.get(context, HttpServer.HttpServer).address
    if (address._tag === "UnixPathAddress") return yield* Effect.die("unexpected unix socket")
    const running: Running = {
      url: `http://127.0.0.1:${address.port}`,
      release,
      seen,
      admission: Context.get(context, Admission.Admission),
      close: Scope.close(scope, Exit.void)
    }
    return running
  })

const withServer = <A>(options: Partial<Server.Options>, f: (server: Running) => Promise<A>, extra?: Layer.Layer<never>) =>
  Effect.acquireUseRelease(
    start(options, extra),
    (server) => Effect.promise(() => f(server)),
    (server) => Effect.andThen(Deferred.succeed(server.release, undefined), server.close)
  ).pipe(Effect.runPromise)

const post = async (url: string, body: string, headers: Record<string, string> = {}) => {
  const response = await fetch(`${url}/v1/answer`, { method: "POST", body, headers: { "content-type": "application/json", ...headers } })
  return { status: response.status, headers: response.headers, json: (await response.json()) as any }
}

const errorShape = (json: any, tag: string) => {
  assert.strictEqual(json.error.tag, tag, JSON.stringify(json))
  assert.isString(json.error.message)
  assert.isAtMost(json.error.message.length, 400)
}

describe("ServeApi over HTTP", () => {
  it("POST /v1/answer answers; the default budget applies when none is given", () =>
    withServer({}, async ({ seen, url }) => {
      const reply = await post(url, JSON.stringify({ query: "rain in Oslo?" }))
      assert.strictEqual(reply.status, 200)
      assert.strictEqual(reply.json.text, "answer to rain in Oslo?")
      assert.deepStrictEqual(reply.json.sources.map((s: any) => s.status), ["ok", "ok", "ok"])
      const budgeted = await post(url, JSON.stringify({ query: "x", budgetMs: 700 }))
      assert.strictEqual(budgeted.status, 200)
      assert.deepStrictEqual(seen, [1_500, 700])
      // curl -d labels the body form-urlencoded: still read as JSON
      const form = await post(url, JSON.stringify({ query: "y" }), { "content-type": "application/x-www-form-urlencoded" })
      assert.strictEqual(form.status, 200)
    }))

  it("every bad body is a 400 BadRequest naming the field and echoing at most ~200 chars", () =>
    withServer({}, async ({ url }) => {
      const cases: ReadonlyArray<readonly [string, string, RegExp]> = [
        ["{ query:", "body", /valid JSON/],
        [JSON.stringify({ budgetMs: 1_000 }), "query", /Missing key/],
        [JSON.stringify({ query: "rain", budgetMs: -5 }), "budgetMs", /-5/],
        [JSON.stringify({ query: "rain", budgetMs: 60_001 }), "budgetMs", /60001/],
        [JSON.stringify({ query: "rain", budgetMs: "soon" }), "budgetMs", /soon/],
        [JSON.stringify({ query: "   " }), "query", /non-empty/],
        [JSON.stringify({ query: "q".repeat(2_001) }), "query", /at most 2000/],
        ["[1,2]", "body", /object/]
      ]
      for (const [body, field, message] of cases) {
        const reply = await post(url, body)
        assert.strictEqual(reply.status, 400, body.slice(0, 40))
        errorShape(reply.json, "BadRequest")
        assert.strictEqual(reply.json.error.field, field, body.slice(0, 40))
        assert.match(reply.json.error.message, message)
      }
      const long = await post(url, JSON.stringify({ query: "q".repeat(10_000) }))
      assert.isAtMost(long.json.error.message.length, 300)
    }))

  it("unknown paths are a JSON 404, wrong methods a JSON 405 with Allow", () =>
    withServer({}, async ({ url }) => {
      const missing = await fetch(`${url}/nope?x=1`)
      assert.strictEqual(missing.status, 404)
      errorShape(await missing.json(), "NotFound")
      const wrongs: ReadonlyArray<readonly [string, string, string]> = [
        ["GET", "/v1/answer", "POST"],
        ["POST", "/healthz", "GET"],
        ["DELETE", "/metrics", "GET"]
      ]
      for (const [method, path, allow] of wrongs) {
        const wrong = await fetch(`${url}${path}`, { method })
        assert.strictEqual(wrong.status, 405, `${method} ${path}`)
        assert.strictEqual(wrong.headers.get("allow"), allow)
        errorShape(await wrong.json(), "MethodNotAllowed")
      }
    }))

  it("a body past --max-body is a 413 with Connection: close, by Content-Length or chunked, without buffering it", () =>
    withServer({ maxBodyBytes: 1_024 }, async ({ url }) => {
      const declared = await post(url, JSON.stringify({ query: "x".repeat(2_000) }))
      assert.strictEqual(declared.status, 413)
      assert.strictEqual(declared.headers.get("connection"), "close")
      errorShape(declared.json, "PayloadTooLarge")
      assert.strictEqual(declared.json.error.field, "body")

      // 64 MB sent chunked (no Content-Length): refused once past the limit; memory stays put
      global.gc?.()
      const before = process.memoryUsage().rss
      const chunk = Buffer.alloc(1024 * 1024, 97)
      const { port } = new URL(url)
      const status = await new Promise<number>((resolve, reject) => {
        const req = httpRequest({ host: "127.0.0.1", port, path: "/v1/answer", method: "POST", headers: { "content-type": "application/json" } })
        req.on("response", (res) => {
          res.resume()
          resolve(res.statusCode ?? 0)
        })
        req.on("error", (error) => (error as NodeJS.ErrnoException).code === "EPIPE" || (error as NodeJS.ErrnoException).code === "ECONNRESET" ? undefined : reject(error))
        let sent = 0
        const pump = () => {
          while (sent < 64) {
            sent++
            if (!req.write(chunk)) return void req.once("drain", pump)
          }
          req.end()
        }
        pump()
      })
      assert.strictEqual(status, 413)
      const grown = process.memoryUsage().rss - before
      assert.isBelow(grown, 32 * 1024 * 1024, `RSS grew by ${Math.round(grown / 1024 / 1024)} MB for a 64 MB body`)
      // and the server still answers
      assert.strictEqual((await post(url, JSON.stringify({ query: "after" }))).status, 200)
    }))

  it("an answer with no source ok, or a NoAnswer, is a 503 NoAnswer — never a 200", () =>
    withServer({}, async ({ url }) => {
      const nothing = await post(url, JSON.stringify({ query: "nothing" }))
      assert.strictEqual(nothing.status, 503)
      errorShape(nothing.json, "NoAnswer")
      assert.deepStrictEqual(nothing.json.error.sources.map((s: any) => s.status), ["timeout", "failed", "circuit-open"])
      const none = await post(url, JSON.stringify({ query: "none" }))
      assert.strictEqual(none.status, 503)
      errorShape(none.json, "NoAnswer")
      assert.strictEqual(none.json.error.llm, "rate-limited")
    }))

  it("past the in-flight bound and the queue: a fast 503 Overloaded with Retry-After", () =>
    withServer({ maxInFlight: 2, maxQueued: 1 }, async ({ admission, release, url }) => {
      const held = [1, 2, 3].map(() => post(url, JSON.stringify({ query: "hold" })))
      while ((await Effect.runPromise(admission.snapshot)).queued < 1) await new Promise((r) => setTimeout(r, 5))
      const t0 = performance.now()
      const shed = await post(url, JSON.stringify({ query: "hold" }))
      const ms = performance.now() - t0
      assert.strictEqual(shed.status, 503)
      errorShape(shed.json, "Overloaded")
      assert.strictEqual(shed.headers.get("retry-after"), "1")
      assert.isBelow(ms, 250, `the 503 took ${ms} ms`)
      const health: unknown = await (await fetch(`${url}/healthz`)).json()
      assert.deepStrictEqual(health, { status: "ok", inFlight: 2, queued: 1, limit: 2 })
      await Effect.runPromise(Deferred.succeed(release, undefined))
      for (const reply of await Promise.all(held)) assert.strictEqual(reply.status, 200)
      const metrics = await (await fetch(`${url}/metrics`)).text()
      assert.match(metrics, /hybrid_serve_shed_total\{reason="overloaded"\} 1/)
      assert.match(metrics, /hybrid_serve_source_status_total\{source="news",status="ok"\}/)
      assert.match(metrics, /hybrid_serve_answer_latency_ms_bucket/)
      // the process's memory, under the names of Prometheus' Node client
      const gauge = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, "m").exec(metrics)?.[1])
      assert.isAbove(gauge("process_resident_memory_bytes"), 10 * 1024 * 1024, metrics)
      assert.isAbove(gauge("nodejs_heap_used_bytes"), 0)
      assert.isAtLeast(gauge("nodejs_heap_total_bytes"), gauge("nodejs_heap_used_bytes"))
    }))

  it("draining: /readyz is 503 NotReady, new answers 503 Draining with Connection: close", () =>
    withServer({}, async ({ admission, url }) => {
      const ready = await fetch(`${url}/readyz`)
      assert.strictEqual(ready.status, 200)
      assert.strictEqual(((await ready.json()) as any).status, "ready")
      await Effect.runPromise(admission.drain)
      const notReady = await fetch(`${url}/readyz`)
      assert.strictEqual(notReady.status, 503)
      errorShape(await notReady.json(), "NotReady")
      const draining = await post(url, JSON.stringify({ query: "x" }))
      assert.strictEqual(draining.status, 503)
      errorShape(draining.json, "Draining")
      assert.strictEqual(draining.headers.get("connection"), "close")
      assert.isNotNull(draining.headers.get("retry-after"))
    }))

  it("x-request-id is echoed when well-formed, generated otherwise; CORS is off unless configured", () =>
    Effect.runPromise(Effect.gen(function*() {
      yield* Effect.promise(() =>
        withServer({}, async ({ url }) => {
          const given = await fetch(`${url}/healthz`, { headers: { "x-request-id": "req-42", origin: "https://a.example" } })
          assert.strictEqual(given.headers.get("x-request-id"), "req-42")
          assert.isNull(given.headers.get("access-control-allow-origin"))
          const bad = await fetch(`${url}/healthz`, { headers: { "x-request-id": "<script>" } })
          assert.match(bad.headers.get("x-request-id") ?? "", /^[0-9a-f-]{36}$/)
        })
      )
      yield* Effect.promise(() =>
        withServer({ cors: "https://a.example" }, async ({ url }) => {
          const allowed = await fetch(`${url}/healthz`, { headers: { origin: "https://a.example" } })
          assert.strictEqual(allowed.headers.get("access-control-allow-origin"), "https://a.example")
        })
      )
    })))

  it("with a tracer on, a request is a server span continuing the caller's traceparent, with its request id", async () => {
    const spans: Array<Tracer.NativeSpan> = []
    const tracer = Tracer.make({
      span(options) {
        const span = new Tracer.NativeSpan(options)
        spans.push(span)
        return span
      }
    })
    const traceId = "4bf92f3577b34da6a3ce929d0e0e4736"
    await withServer({}, async ({ url }) => {
      const reply = await fetch(`${url}/healthz`, {
        headers: { traceparent: `00-${traceId}-00f067aa0ba902b7-01`, "x-request-id": "traced-1" }
      })
      assert.strictEqual(reply.status, 200)
    }, Layer.succeed(Tracer.Tracer, tracer))
    const server = spans.find((s) => s.kind === "server")
    assert.isDefined(server)
    assert.strictEqual(server!.traceId, traceId)
    assert.strictEqual(server!.attributes.get("http.request_id"), "traced-1")
  })

  it("/openapi.json is OpenApi.fromApi(Api), a valid OpenAPI 3.1 document listing every error status; /docs and /metrics answer", () =>
    withServer({}, async ({ url }) => {
      const served = (await (await fetch(`${url}/openapi.json`)).json()) as any
      assert.deepStrictEqual(served, JSON.parse(JSON.stringify(OpenApi.fromApi(ServeApi.Api))))
      const result = await new Validator().validate(served)
      assert.isTrue(result.valid, JSON.stringify(result).slice(0, 800))
      // the check can fail: a document without its info is refused
      assert.isFalse((await new Validator().validate({ ...served, info: undefined })).valid)
      assert.strictEqual(served.openapi, "3.1.0")
      assert.hasAllKeys(served.paths, ["/v1/answer", "/v1/answer/stream", "/healthz", "/readyz"])
      assert.includeMembers(Object.keys(served.paths["/v1/answer"].post.responses), ["200", "400", "413", "503"])
      const docs = await fetch(`${url}/docs`)
      assert.strictEqual(docs.status, 200)
      assert.include(docs.headers.get("content-type") ?? "", "text/html")
      const metrics = await fetch(`${url}/metrics`)
      assert.strictEqual(metrics.status, 200)
      assert.match(await metrics.text(), /hybrid_serve_requests_total/)
    }))

  it("a port in use is a ListenError naming host and port", () =>
    withServer({}, async ({ url }) => {
      const port = Number(new URL(url).port)
      const exit = await Effect.runPromiseExit(
        Layer.build(
          Server.layer({ host: "127.0.0.1", port, defaultBudgetMs: 1_000 }).pipe(
            Layer.provide(scripted(Deferred.makeUnsafe<void>(), []))
          )
        ).pipe(Effect.scoped)
      )
      assert.isTrue(Exit.isFailure(exit))
      const error = Exit.isFailure(exit) ? exit.cause.reasons.find((r) => r._tag === "Fail") : undefined
      assert.strictEqual(error?._tag === "Fail" ? (error.error as Server.ListenError).message : "",
        `cannot listen on 127.0.0.1:${port}: address already in use (EADDRINUSE)`)
    }))
})
