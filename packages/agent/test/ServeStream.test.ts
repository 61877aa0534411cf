/**
 * `POST /v1/answer/stream` in-process: the events in order and their shapes over a
 * scripted `Agent.stream`, the `error` event for no answer (and the LLM not asked), a
 * JSON 503 before any stream when admission refuses, the OpenAPI entry — and a client
 * that disconnects: the agent's work is interrupted, and with the real agent over a
 * source server that never answers, its three upstream requests are aborted.
 */
import { assert, describe, it } from "@effect/vitest"
import { createServer, type IncomingMessage } from "node:http"
import type { AddressInfo } from "node:net"
import { ConfigProvider, Context, Effect, Exit, Layer, Logger, Schema, Scope, Stream } from "effect"
import { HttpServer } from "effect/http"
import { OpenApi } from "effect/http-api"
import * as Agent from "../src/Agent.ts"
import * as Fixtures from "../src/fixtures/Fixtures.ts"
import * as Admission from "../src/serve/Admission.ts"
import * as ServeApi from "../src/serve/Api.ts"
import * as Server from "../src/serve/Server.ts"

const names = ["weather", "news", "kb"] as const
const report = (name: string, status: Agent.Status) => new Agent.SourceReport({ name, status, ms: 1 })

const answerOf = (text: string) =>
  new Agent.Answer({
    text,
    sources: names.map((name) => report(name, "ok")),
    timings: new Agent.Timings({ fetch: {}, process: {}, cpu: {}, context: 1, llm: 1, total: 2, bound: 2 }),
    degraded: false,
    synthesis: "llm"
  })

interface Script {
  /** Queries whose LLM step was reached. */
  readonly asked: Array<string>
  /** Queries whose work was interrupted. */
  readonly interrupted: Array<string>
}

/**
 * A scripted `Agent.stream`: "hold" settles weather then waits forever; "nothing" settles
 * every source as a timeout; "none" fails `NoAnswer`; anything else: three sources ok,
 * two tokens, the answer ("extractive": the same, the answer degraded).
 */
const scripted = (script: Script) => {
  const stream = (query: string): Stream.Stream<Agent.Event, Agent.NoAnswer> => {
    const statuses: ReadonlyArray<Agent.Status> = query === "nothing" ? ["timeout", "timeout", "timeout"] : ["ok", "ok", "ok"]
    const sources = Stream.fromIterable(names.map((name, i) => Agent.SourceSettled.make({ report: report(name, statuses[i]!) })))
    if (query === "hold") {
      return Stream.concat(
        Stream.make(Agent.SourceSettled.make({ report: report("weather", "ok") })),
        Stream.fromEffect(Effect.never.pipe(Effect.onInterrupt(() => Effect.sync(() => script.interrupted.push(query)))))
      )
    }
    if (query === "none") {
      return Stream.concat(sources, Stream.fail(new Agent.NoAnswer({ query, sources: [report("weather", "timeout")], llm: "rate-limited" })))
    }
    const ok = statuses.filter((s) => s === "ok").length
    return Stream.concat(
      Stream.concat(sources, Stream.make(Agent.ContextDone.make({ ms: 5, ok }))),
      Stream.fromEffect(Effect.sync(() => script.asked.push(query))).pipe(
        Stream.flatMap(() => Stream.make(Agent.Token.make({ text: "Rain " }), Agent.Token.make({ text: "in Oslo." }))),
        Stream.concat(Stream.make(Agent.Done.make({
          answer: query === "extractive"
            ? new Agent.Answer({ ...answerOf("Rain in Oslo."), degraded: true, synthesis: "extractive" })
            : answerOf("Rain in Oslo.")
        })))
      )
    )
  }
  return Layer.succeed(Agent.Agent, {
    sources: [],
    stream,
    answer: (query) => Effect.die(`not used: ${query}`)
  })
}

interface Running {
  readonly url: string
  readonly admission: Admission.Admission["Service"]
}

const withServer = <A>(
  options: Partial<Server.Options>,
  agent: Layer.Layer<Agent.Agent, unknown>,
  f: (server: Running) => Promise<A>
) =>
  Effect.acquireUseRelease(
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const context = yield* Layer.buildWithScope(
        Server.layer({ host: "127.0.0.1", port: 0, defaultBudgetMs: 1_500, graceMs: 1_000, ...options }).pipe(
          Layer.provide(agent),
          Layer.provide(Logger.layer([]))
        ),
        scope
      )
      const address = Context.get(context, HttpServer.HttpServer).address
      if (address._tag === "UnixPathAddress") return yield* Effect.die("unexpected unix socket")
      return { scope, url: `http://127.0.0.1:${address.port}`, admission: Context.get(context, Admission.Admission) }
    }),
    (server) => Effect.promise(() => f(server)),
    (server) => Scope.close(server.scope, Exit.void)
  ).pipe(Effect.runPromise)

/** The server-sent events of a body: `event:` and `data:` of each block, data decoded as JSON. */
const parse = (text: string) =>
  text.split(/\n\n/).filter((block) => block.trim() !== "").map((block) => {
    const lines = block.split("\n")
    const event = lines.find((l) => l.startsWith("event:"))?.slice(6).trim() ?? "message"
    const data = lines.filter((l) => l.startsWith("data:")).map((l) => l.slice(5).trim()).join("\n")
    return { event, data: JSON.parse(data) as any }
  })

const stream = (url: string, body: unknown, signal?: AbortSignal) =>
  fetch(`${url}/v1/answer/stream`, {
    method: "POST",
    body: JSON.stringify(body),
    headers: { "content-type": "application/json" },
    ...(signal === undefined ? {} : { signal })
  })

const until = async (what: string, check: () => boolean | Promise<boolean>, ms = 10_000) => {
  const end = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

describe("POST /v1/answer/stream", () => {
  it("sends source, context, token and answer events as text/event-stream, each decoding as a StreamEvent", () => {
    const script: Script = { asked: [], interrupted: [] }
    return withServer({}, scripted(script), async ({ url }) => {
      const response = await stream(url, { query: "rain in Oslo?" })
      assert.strictEqual(response.status, 200)
      assert.include(response.headers.get("content-type") ?? "", "text/event-stream")
      assert.isNotNull(response.headers.get("x-request-id"))
      const events = parse(await response.text())
      assert.deepStrictEqual(events.map((e) => e.event), ["source", "source", "source", "context", "token", "token", "answer"])
      assert.deepStrictEqual(events.slice(0, 3).map((e) => e.data.name), ["weather", "news", "kb"])
      assert.deepStrictEqual(events[3]!.data, { ms: 5, ok: 3 })
      assert.strictEqual(events.filter((e) => e.event === "token").map((e) => e.data.text).join(""), "Rain in Oslo.")
      assert.strictEqual(events.at(-1)!.data.text, "Rain in Oslo.")
      // what a client decodes with the API's own schema
      for (const event of events) {
        Schema.decodeUnknownSync(ServeApi.StreamEvent)({ event: event.event, data: JSON.stringify(event.data) })
      }
    })
  }, 30_000)

  it("an answer recorded as /v1/answer records it: degraded by its own verdict (extractive from ok sources), ok otherwise", () => {
    const script: Script = { asked: [], interrupted: [] }
    return withServer({}, scripted(script), async ({ url }) => {
      const count = async (outcome: string) => {
        const metrics = await (await fetch(`${url}/metrics`)).text()
        return Number(new RegExp(`^hybrid_serve_answer_latency_ms_count\\{outcome="${outcome}"\\} (\\S+)$`, "m").exec(metrics)?.[1] ?? 0)
      }
      const [ok, degraded] = [await count("ok"), await count("degraded")]
      await (await stream(url, { query: "extractive" })).text()
      assert.deepStrictEqual([await count("ok"), await count("degraded")], [ok, degraded + 1])
      await (await stream(url, { query: "rain in Oslo?" })).text()
      assert.deepStrictEqual([await count("ok"), await count("degraded")], [ok + 1, degraded + 1])
    })
  }, 30_000)

  it("no source answered: an error event NoAnswer right after context, the LLM never asked; a NoAnswer failure is an error event too", () => {
    const script: Script = { asked: [], interrupted: [] }
    return withServer({}, scripted(script), async ({ url }) => {
      const nothing = parse(await (await stream(url, { query: "nothing" })).text())
      assert.deepStrictEqual(nothing.map((e) => e.event), ["source", "source", "source", "context", "error"])
      assert.strictEqual(nothing.at(-1)!.data.error.tag, "NoAnswer")
      assert.deepStrictEqual(nothing.at(-1)!.data.error.sources.map((s: any) => s.status), ["timeout", "timeout", "timeout"])
      assert.deepStrictEqual(script.asked, [])
      const none = parse(await (await stream(url, { query: "none" })).text())
      assert.strictEqual(none.at(-1)!.event, "error")
      assert.strictEqual(none.at(-1)!.data.error.tag, "NoAnswer")
      assert.strictEqual(none.at(-1)!.data.error.llm, "rate-limited")
      // a bad body is a JSON 400 before any stream
      const bad = await stream(url, { query: "" })
      assert.strictEqual(bad.status, 400)
      assert.strictEqual(((await bad.json()) as any).error.field, "query")
    })
  }, 30_000)

  it("past the bound: a JSON 503 Overloaded with Retry-After before the body is read, no stream; a client that goes away interrupts the work and frees its slot", () => {
    const script: Script = { asked: [], interrupted: [] }
    return withServer({ maxInFlight: 1, maxQueued: 0 }, scripted(script), async ({ admission, url }) => {
      const abort = new AbortController()
      const held = await stream(url, { query: "hold", budgetMs: 20_000 }, abort.signal)
      assert.strictEqual(held.status, 200)
      const reader = held.body!.getReader()
      const first = new TextDecoder().decode((await reader.read()).value)
      assert.include(first, "event: source")
      const shed = await stream(url, { query: "x" })
      assert.strictEqual(shed.status, 503)
      assert.strictEqual(shed.headers.get("retry-after"), "1")
      assert.include(shed.headers.get("content-type") ?? "", "application/json")
      assert.strictEqual(((await shed.json()) as any).error.tag, "Overloaded")
      // refused before its body is read: a body that is not JSON is still a 503, not a 400
      const unread = await fetch(`${url}/v1/answer`, {
        method: "POST",
        body: "{ not json",
        headers: { "content-type": "application/json", "x-request-id": "shed-1" }
      })
      assert.strictEqual(unread.status, 503)
      assert.strictEqual(unread.headers.get("x-request-id"), "shed-1")
      assert.strictEqual(unread.headers.get("retry-after"), "1")
      assert.strictEqual(((await unread.json()) as any).error.tag, "Overloaded")
      abort.abort()
      await until("the held answer to be interrupted", () => script.interrupted.includes("hold"))
      await until("its slot to be free", async () => (await Effect.runPromise(admission.snapshot)).inFlight === 0)
      const metrics = await (await fetch(`${url}/metrics`)).text()
      assert.match(metrics, /hybrid_serve_shed_total\{reason="overloaded"\} 2/)
      const after = await stream(url, { query: "x" })
      assert.strictEqual(after.status, 200)
      assert.strictEqual(parse(await after.text()).at(-1)!.event, "answer")
    })
  }, 30_000)

  it("a client that goes away while its request waits for a slot never gets the slot", () => {
    const script: Script = { asked: [], interrupted: [] }
    return withServer({ maxInFlight: 1, maxQueued: 1 }, scripted(script), async ({ admission, url }) => {
      const first = new AbortController()
      const held = await stream(url, { query: "hold", budgetMs: 20_000 }, first.signal)
      assert.strictEqual(held.status, 200)
      const second = new AbortController()
      const waiting = stream(url, { query: "hold", budgetMs: 20_000 }, second.signal).catch(() => "aborted")
      await until("the second request to queue", async () => (await Effect.runPromise(admission.snapshot)).queued === 1)
      second.abort()
      await waiting
      // well before its wait bound (half of 20 s) would have ended it
      await until("the queue to empty", async () => (await Effect.runPromise(admission.snapshot)).queued === 0, 5_000)
      first.abort()
      await until("both slots to be free", async () => (await Effect.runPromise(admission.snapshot)).inFlight === 0)
      // had the second been admitted once the first freed its slot, it would hold it forever
      await new Promise((resolve) => setTimeout(resolve, 100))
      assert.strictEqual((await Effect.runPromise(admission.snapshot)).inFlight, 0)
    })
  }, 30_000)

  it("is in /openapi.json as a text/event-stream response with its error statuses", () => {
    const spec = OpenApi.fromApi(ServeApi.Api) as any
    const post = spec.paths["/v1/answer/stream"].post
    assert.includeMembers(Object.keys(post.responses), ["200", "400", "413", "503"])
    assert.hasAnyKeys(post.responses["200"].content, ["text/event-stream"])
    assert.isDefined(post.requestBody)
  })

  it("with the real agent: a client that disconnects aborts the source requests in flight", async () => {
    // a source server that never answers, recording each request and when it was aborted
    const open: Array<IncomingMessage> = []
    const closed: Array<string> = []
    const upstream = createServer((request) => {
      open.push(request)
      request.once("close", () => closed.push(request.url ?? ""))
    })
    await new Promise<void>((resolve) => upstream.listen(0, "127.0.0.1", resolve))
    const base = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`
    const config: Record<string, string> = {}
    for (const name of names) {
      config[`HYBRID_${name.toUpperCase()}_URL`] = base
      // far longer than the test: only the disconnect can end these requests
      config[`HYBRID_${name.toUpperCase()}_TIMEOUT`] = "60 seconds"
      config[`HYBRID_${name.toUpperCase()}_RETRIES`] = "0"
    }
    const agent = Fixtures.layerAgent({ scale: 0.05, runner: "in-process" }).pipe(
      Layer.provide(ConfigProvider.layer(ConfigProvider.fromUnknown(config)))
    )
    try {
      await withServer({}, agent, async ({ admission, url }) => {
        const abort = new AbortController()
        const pending = stream(url, { query: "Will it rain in Oslo?", budgetMs: 50_000 }, abort.signal).then(
          (r) => r.text(),
          () => "aborted"
        )
        await until("three source requests", () => open.length === 3, 30_000)
        assert.deepStrictEqual(closed, [])
        abort.abort()
        await pending
        await until("the source requests to be aborted", () => closed.length === 3, 30_000)
        await until("the slot to be free", async () => (await Effect.runPromise(admission.snapshot)).inFlight === 0)
      })
    } finally {
      upstream.closeAllConnections()
      await new Promise((resolve) => upstream.close(resolve))
    }
  }, 90_000)
})
