import { createServer } from "node:http"
import { inspect } from "node:util"
import { assert, describe, it } from "@effect/vitest"
import { NodeHttpClient, NodeHttpServer } from "@effect/platform-node"
import { Cause, ConfigProvider, Duration, Effect, Exit, Layer, Redacted, type Scope, Stream } from "effect"
import { EmbeddingModel, LanguageModel } from "effect/ai"
import { HttpServerRequest, HttpServerResponse } from "effect/http"
import { FixtureLlm, Fixtures, OpenAi } from "@hybrid/agent"

type Env = Readonly<Record<string, string>>

const config = (env: Env) => ConfigProvider.layer(ConfigProvider.fromEnv({ env }))

const instant = { latency: { _tag: "Fixed", millis: 0 } } as const
const noTokenTime = { perPromptTokenMs: 0, perCompletionTokenMs: 0 }

/** The provider over fixtures started with `options`, configured by `env`. */
const llm = (options: Fixtures.Options, env: Env = {}) =>
  OpenAi.layer.pipe(
    Layer.provide(Fixtures.layerConfig),
    Layer.provideMerge(Fixtures.layer({ scale: 0.05, llmTiming: noTokenTime, ...options })),
    Layer.provide(NodeHttpClient.layerUndici),
    Layer.provide(config(env))
  )

const messages = [
  { role: "system", content: "You are a concise assistant. Answer from the sources only." },
  {
    role: "user",
    content: "Weather: In Lisbon it is 16°C with light rain.\n" +
      "News: Lisbon opens a new metro line. Tourism in Lisbon grew 8% last year.\n" +
      "Knowledge base: Lisbon is the capital of Portugal. Porto is famous for its wine.\n" +
      "Question: What is the weather in Lisbon and what is new there?"
  }
] as const

/** What the fixture LLM answers to `messages`, computed without a server. */
const expected = FixtureLlm.chat(1, { model: "fixture-mini", messages: [...messages] })

const ask = LanguageModel.generateText({ prompt: [...messages] })

const live = <A, E>(name: string, body: () => Effect.Effect<A, E, Scope.Scope>, timeout = 10_000) =>
  it.live(name, () => Effect.scoped(body()), timeout)

describe("OpenAi", () => {
  live("generateText against the fixture LLM returns the extractive answer with usage", () =>
    Effect.gen(function*() {
      const reply = yield* expected
      const response = yield* ask
      assert.strictEqual(response.text, reply.body.choices[0]!.message.content)
      assert.isTrue(response.text.includes("Lisbon"))
      assert.strictEqual(response.finishReason, "stop")
      assert.strictEqual(response.usage.inputTokens.total, reply.promptTokens)
      assert.strictEqual(response.usage.outputTokens.total, reply.completionTokens)
      const client = yield* OpenAi.Client
      assert.strictEqual(client.settings.model, "fixture-mini")
      const usage = yield* client.usage
      // the estimate is the fixture's own prompt count plus max_tokens (1024 by default);
      // what the completion did not use is refunded after
      assert.strictEqual(client.settings.maxTokens, 1024)
      assert.strictEqual(usage.reserved, reply.promptTokens + 1024)
      assert.strictEqual(usage.reported, reply.promptTokens + reply.completionTokens)
      assert.strictEqual(usage.charged, usage.reported)
      assert.strictEqual(usage.overReserved, 1024 - reply.completionTokens)
      // streamText gives the same text
      const streamed = yield* Stream.runCollect(LanguageModel.streamText({ prompt: [...messages] }))
      const deltas = streamed.flatMap((p) => p.type === "text-delta" ? [p.delta] : [])
      assert.strictEqual(deltas.join(""), response.text)
      assert.isAbove(deltas.length, 3) // streamed (stream: true), not one delta
      const after = yield* client.usage
      assert.strictEqual(after.reported - usage.reported, reply.promptTokens + reply.completionTokens) // usage from the last event
    }).pipe(Effect.provide(llm({ faults: { llm: instant } }))))

  live("streamText delivers the first delta long before the last (the fixture streams at its token rate)", () =>
    Effect.gen(function*() {
      const t0 = performance.now()
      const at: Array<number> = []
      yield* LanguageModel.streamText({ prompt: [...messages] }).pipe(
        Stream.runForEach((p) => Effect.sync(() => p.type === "text-delta" ? at.push(performance.now() - t0) : undefined))
      )
      const reply = yield* expected
      // 2 ms per completion token at scale 1: the last delta ≈ 2 × completionTokens ms after the first
      assert.isAbove(at.at(-1)! - at[0]!, reply.completionTokens * 2 * 0.5)
    }).pipe(Effect.provide(llm({ scale: 1, faults: { llm: instant }, llmTiming: { perPromptTokenMs: 0, perCompletionTokenMs: 2 } }))))

  it.effect("a streamed answer's words carry the completion's tokens between them: it takes the time the whole answer would", () =>
    Effect.gen(function*() {
      const reply = yield* FixtureLlm.chat(1, { model: "fixture-mini", messages: [...messages], stream: true })
      const words = reply.events!.filter((e) => e.tokens > 0)
      assert.isAbove(words.length, 3)
      assert.strictEqual(reply.events!.reduce((sum, e) => sum + e.tokens, 0), reply.completionTokens)
      // a word alone counts more tokens than within its text: pacing by those would run long
      const alone = reply.body.choices[0]!.message.content.match(/\S+\s*/g)!.reduce((sum, w) => sum + FixtureLlm.tokens(w), 0)
      assert.isAbove(alone, reply.completionTokens)
    }))

  live("embeddings come back in input order with usage", () =>
    Effect.gen(function*() {
      const response = yield* EmbeddingModel.EmbeddingModel.pipe(
        Effect.flatMap((model) => model.embedMany(["the event loop runs coroutines", "Lisbon is in Portugal"]))
      )
      assert.strictEqual(response.embeddings.length, 2)
      assert.strictEqual(response.embeddings[0]!.vector.length, FixtureLlm.defaultDimensions)
      const direct = FixtureLlm.embed(1, "Lisbon is in Portugal", FixtureLlm.defaultDimensions)
      assert.closeTo(response.embeddings[1]!.vector[0]!, direct[0]!, 1e-6)
      assert.isAbove(response.usage.inputTokens ?? 0, 0)
    }).pipe(Effect.provide(llm({ faults: { llm: instant } }))))

  live("a 5xx is retried and the retry succeeds", () =>
    Effect.gen(function*() {
      const fixtures = yield* Fixtures.Fixtures
      const response = yield* ask // seed 1, errorRate 0.5: the first request is a 5xx, the retry succeeds
      assert.isTrue(response.text.length > 0)
      const stats = (yield* fixtures.stats).llm!
      assert.strictEqual(stats.errors, 1)
      assert.strictEqual(stats.ok, 1)
      assert.strictEqual(stats.requests, 2)
    }).pipe(Effect.provide(llm({ seed: 1, faults: { llm: { ...instant, errorRate: 0.5 } } }))))

  live("a 429 is waited out for its retry-after-ms, not hammered", () =>
    Effect.gen(function*() {
      const fixtures = yield* Fixtures.Fixtures
      const t0 = performance.now()
      yield* ask
      yield* ask // rpm 1 per scaled minute (1.2 s): one 429, then success after the wait
      const elapsed = performance.now() - t0
      const stats = (yield* fixtures.stats).llm!
      assert.strictEqual(stats.rateLimited, 1)
      assert.strictEqual(stats.ok, 2)
      assert.strictEqual(stats.requests, 3)
      assert.isAtLeast(elapsed, 1_100)
    }).pipe(Effect.provide(llm({ scale: 0.02, faults: { llm: { ...instant, rpm: 1 } } }))))

  live("the TPM budget reserves the estimate, reconciles with usage, and keeps the server from saying 429", () =>
    Effect.gen(function*() {
      const reply = yield* expected
      const total = reply.promptTokens + reply.completionTokens
      const tpm = 2 * total + reply.promptTokens - 1 // two calls fit, the third must wait
      yield* Effect.gen(function*() {
        const fixtures = yield* Fixtures.Fixtures
        const client = yield* OpenAi.Client
        const t0 = performance.now()
        for (let i = 0; i < 3; i++) yield* ask
        const elapsed = performance.now() - t0
        const stats = (yield* fixtures.stats).llm!
        assert.strictEqual(stats.rateLimited, 0) // waited on our side, not refused by theirs
        assert.strictEqual(stats.ok, 3)
        assert.isAtLeast(elapsed, 1_250)
        const usage = yield* client.usage
        assert.strictEqual(usage.requests, 3)
        assert.strictEqual(usage.reserved, 3 * reply.promptTokens)
        assert.strictEqual(usage.reported, 3 * total)
        assert.strictEqual(usage.charged, 3 * total)
      }).pipe(Effect.provide(llm(
        { scale: 0.02, faults: { llm: { ...instant, tpm } } },
        // the client's window is a little longer than the server's 1.2 s: its clock starts
        // before the request reaches the server
        // no max_tokens (0: the server's default): the reservation is the prompt's tokens exactly
        { HYBRID_LLM_TPM: String(tpm), HYBRID_LLM_RATE_WINDOW: "1300 millis", HYBRID_LLM_MAX_TOKENS: "0" }
      )))
    }))

  live("max_tokens caps the completion at the server (HYBRID_LLM_MAX_TOKENS); a bad value names the variable", () =>
    Effect.gen(function*() {
      const response = yield* ask.pipe(Effect.provide(llm({ faults: { llm: instant } }, { HYBRID_LLM_MAX_TOKENS: "3" })))
      assert.strictEqual(response.usage.outputTokens.total, 3)
      assert.strictEqual(response.finishReason, "length")
      const bad = yield* Effect.exit(ask.pipe(Effect.provide(llm({ faults: { llm: instant } }, { HYBRID_LLM_MAX_TOKENS: "lots" }))))
      assert.isTrue(Exit.isFailure(bad))
      assert.include(Exit.isFailure(bad) ? String(Cause.squash(bad.cause)) : "", "HYBRID_LLM_MAX_TOKENS")
    }))

  live("a prompt larger than the whole TPM budget fails at once with InvalidRequestError", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(ask)
      assert.isTrue(Exit.isFailure(exit))
      const error = Exit.isFailure(exit) ? Cause.squash(exit.cause) : undefined
      assert.strictEqual((error as { reason?: { _tag?: string } } | undefined)?.reason?._tag, "InvalidRequestError")
      assert.strictEqual((yield* (yield* Fixtures.Fixtures).stats).llm!.requests, 0)
    }).pipe(Effect.provide(llm({ faults: { llm: instant } }, { HYBRID_LLM_TPM: "10" }))))

  live("the API key is sent as a bearer token and appears in no error, log or dump", () =>
    Effect.gen(function*() {
      const secret = "sk-test-SECRET-4242"
      const seen: Array<string> = []
      const node = createServer()
      const http = yield* NodeHttpServer.make(() => node, { port: 0, host: "127.0.0.1", gracefulShutdownTimeout: Duration.millis(50) })
      yield* http.serve(Effect.gen(function*() {
        const request = yield* HttpServerRequest.HttpServerRequest
        seen.push(request.headers.authorization ?? "")
        return HttpServerResponse.jsonUnsafe({ error: { message: "Incorrect API key provided", type: "invalid_request_error" } }, { status: 401 })
      }))
      if (http.address._tag === "UnixPathAddress") return yield* Effect.die("unexpected unix socket")
      const baseUrl = `http://127.0.0.1:${http.address.port}/v1`
      yield* Effect.gen(function*() {
        const client = yield* OpenAi.Client
        assert.strictEqual(client.settings.baseUrl, baseUrl)
        assert.strictEqual(client.settings.model, "gpt-4o-mini") // not the fixture's: a URL was configured
        assert.isTrue(client.settings.apiKey !== undefined && Redacted.value(client.settings.apiKey) === secret)
        const exit = yield* Effect.exit(ask)
        assert.isTrue(Exit.isFailure(exit))
        if (Exit.isFailure(exit)) {
          const error = Cause.squash(exit.cause) as { reason?: { _tag?: string } }
          assert.strictEqual(error.reason?._tag, "AuthenticationError")
          const dumps = [
            Cause.pretty(exit.cause),
            String(error),
            JSON.stringify(error),
            inspect(error, { depth: 10 }),
            inspect(client.settings, { depth: 10 }),
            JSON.stringify(client.settings)
          ]
          for (const dump of dumps) assert.notInclude(dump, "SECRET")
        }
        assert.deepStrictEqual(seen, [`Bearer ${secret}`]) // 401 is not retried
      }).pipe(Effect.provide(OpenAi.layer.pipe(
        Layer.provide(NodeHttpClient.layerUndici),
        Layer.provide(config({ OPENAI_BASE_URL: `${baseUrl}/`, OPENAI_API_KEY: secret }))
      )))
    }))
  live("the circuit breaker: 5xx in a row open it and calls fail fast without a request; 429s do not; one probe closes it", () =>
    Effect.gen(function*() {
      let answer: 200 | 429 | 500 = 500
      let requests = 0
      const node = createServer()
      const http = yield* NodeHttpServer.make(() => node, { port: 0, host: "127.0.0.1", gracefulShutdownTimeout: Duration.millis(50) })
      yield* http.serve(Effect.sync(() => {
        requests++
        if (answer === 429) return HttpServerResponse.jsonUnsafe({ error: { message: "slow down" } }, { status: 429, headers: { "retry-after-ms": "1" } })
        if (answer === 500) return HttpServerResponse.jsonUnsafe({ error: { message: "boom" } }, { status: 500 })
        return HttpServerResponse.jsonUnsafe({
          id: "c1",
          model: "m",
          choices: [{ message: { content: "back" }, finish_reason: "stop" }],
          usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 }
        })
      }))
      if (http.address._tag === "UnixPathAddress") return yield* Effect.die("unexpected unix socket")
      const env = {
        OPENAI_BASE_URL: `http://127.0.0.1:${http.address.port}/v1`,
        HYBRID_LLM_RETRIES: "0",
        HYBRID_LLM_BREAKER_FAILURES: "3",
        HYBRID_LLM_BREAKER_OPEN: "400 millis"
      }
      const reasonOf = (exit: Exit.Exit<unknown, unknown>) =>
        Exit.isFailure(exit) ? (Cause.squash(exit.cause) as { reason?: { _tag?: string; description?: string } }).reason : undefined
      yield* Effect.gen(function*() {
        const client = yield* OpenAi.Client
        // 429s are the caller's problem, not the server's health: the circuit stays closed
        answer = 429
        for (let i = 0; i < 4; i++) assert.strictEqual(reasonOf(yield* Effect.exit(ask))?._tag, "RateLimitError")
        assert.strictEqual(yield* client.circuit, "closed")
        answer = 500
        for (let i = 0; i < 3; i++) assert.strictEqual(reasonOf(yield* Effect.exit(ask))?._tag, "InternalProviderError")
        assert.strictEqual(yield* client.circuit, "open")
        assert.strictEqual(requests, 7)
        const refused = reasonOf(yield* Effect.exit(ask))
        assert.strictEqual(refused?._tag, "InternalProviderError")
        assert.include(refused?.description, "circuit open after 3 consecutive failures")
        assert.strictEqual(requests, 7) // nothing sent
        // after the open duration one probe goes through; its success closes the circuit
        answer = 200
        yield* Effect.sleep(500)
        assert.strictEqual((yield* ask).text, "back")
        assert.strictEqual(yield* client.circuit, "closed")
        assert.strictEqual(requests, 8)
      }).pipe(Effect.provide(OpenAi.layer.pipe(Layer.provide(NodeHttpClient.layerUndici), Layer.provide(config(env)))))
    }), 20_000)
  live("the retry budget: an endpoint that keeps failing gets its floor of retries, not 3 per call", () =>
    Effect.gen(function*() {
      let requests = 0
      const node = createServer()
      const http = yield* NodeHttpServer.make(() => node, { port: 0, host: "127.0.0.1", gracefulShutdownTimeout: Duration.millis(50) })
      yield* http.serve(Effect.sync(() => {
        requests++
        return HttpServerResponse.jsonUnsafe({ error: { message: "boom" } }, { status: 500 })
      }))
      if (http.address._tag === "UnixPathAddress") return yield* Effect.die("unexpected unix socket")
      const env = {
        OPENAI_BASE_URL: `http://127.0.0.1:${http.address.port}/v1`,
        HYBRID_LLM_RETRIES: "3",
        HYBRID_LLM_BREAKER_FAILURES: "0", // no breaker: the budget alone
        HYBRID_LLM_RETRY_BUDGET: "0",
        HYBRID_LLM_RETRY_FLOOR: "0.2" // 2 retries per 10 s
      }
      yield* Effect.gen(function*() {
        for (let i = 0; i < 3; i++) assert.isTrue(Exit.isFailure(yield* Effect.exit(ask)))
        // 3 first attempts + the 2 retries the budget had; without it, 3 × 4 = 12
        assert.strictEqual(requests, 5)
      }).pipe(Effect.provide(OpenAi.layer.pipe(Layer.provide(NodeHttpClient.layerUndici), Layer.provide(config(env)))))
    }), 20_000)
})
