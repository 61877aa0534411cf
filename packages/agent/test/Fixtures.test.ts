import { assert, describe, it } from "@effect/vitest"
import { NodeHttpClient } from "@effect/platform-node"
import { Cause, Effect, Exit, Schema, type Scope } from "effect"
import { HttpClient, HttpClientRequest, HttpClientResponse } from "effect/http"
import { countTokens } from "gpt-tokenizer/model/gpt-4o"
import OpenAI from "openai"
import { Fixtures, KnowledgeBase, News, Weather } from "@hybrid/agent"

type Options = Fixtures.Options

/** Starts fixtures in the test's scope (stopped when the test ends). */
const start = (options: Options) => Fixtures.make(options)

interface Answer {
  readonly status: number
  readonly headers: Readonly<Record<string, string>>
  readonly text: string
  readonly ms: number
}

const timed = (request: Effect.Effect<HttpClientResponse.HttpClientResponse, unknown, HttpClient.HttpClient>) =>
  Effect.gen(function*() {
    const t0 = performance.now()
    const response = yield* request
    const text = yield* response.text
    return { status: response.status, headers: response.headers, text, ms: performance.now() - t0 } satisfies Answer
  })

const get = (url: string) => timed(HttpClient.get(url))

const post = (url: string, body: unknown) =>
  timed(HttpClientRequest.post(url).pipe(HttpClientRequest.bodyJsonUnsafe(body), HttpClient.execute))

const live = <A, E>(name: string, body: () => Effect.Effect<A, E, HttpClient.HttpClient | Scope.Scope>, timeout = 10_000) =>
  it.live(name, () => body().pipe(Effect.provide(NodeHttpClient.layerUndici)), timeout)

const chatBody = {
  model: "fixture-mini",
  messages: [
    { role: "system", content: "You are a concise assistant. Answer from the sources only." },
    {
      role: "user",
      content: "Weather: In Lisbon it is 16°C with light rain.\n" +
        "News: Lisbon opens a new metro line. Tourism in Lisbon grew 8% last year.\n" +
        "Knowledge base: Lisbon is the capital of Portugal. Porto is famous for its wine.\n" +
        "Question: What is the weather in Lisbon and what is new there?"
    }
  ]
}

const zero = { latency: { _tag: "Fixed", millis: 0 } } as const

describe("Fixtures", () => {
  live("serves every source and the LLM on 127.0.0.1, with schema-valid bodies", () =>
    Effect.gen(function*() {
      const { urls } = yield* start({ scale: 0.01 })
      for (const url of Object.values(urls)) assert.match(url, /^http:\/\/127\.0\.0\.1:\d+/)
      assert.isTrue(urls.llm!.endsWith("/v1"))
      const weather = yield* get(`${urls.weather}/weather?city=Lisbon`)
      assert.strictEqual(weather.status, 200)
      const w = Schema.decodeUnknownSync(Schema.fromJsonString(Weather.Body))(weather.text)
      assert.strictEqual(w.city, "Lisbon")
      assert.strictEqual(w.forecast.length, 3)
      const news = Schema.decodeUnknownSync(Schema.fromJsonString(News.Body))((yield* get(`${urls.news}/news?q=electric+cars`)).text)
      assert.strictEqual(news.articles.length, 5)
      // the stories about electric cars, in their own words: nothing pastes the query back
      assert.isAtLeast(news.articles.filter((a) => /electric car|charger|batter/i.test(`${a.title} ${a.summary}`)).length, 4)
      assert.isTrue(news.articles.every((a, i) => i === 0 || a.publishedAt <= news.articles[i - 1]!.publishedAt))
      const kb = Schema.decodeUnknownSync(Schema.fromJsonString(KnowledgeBase.Body))((yield* get(`${urls.kb}/kb/search?q=asyncio&limit=4`)).text)
      assert.strictEqual(kb.documents.length, 4)
      for (const doc of kb.documents) {
        assert.isTrue(`${doc.title} ${doc.text}`.toLowerCase().includes("asyncio"))
        assert.isAbove(doc.text.split(/\s+/).length, 40)
      }
      assert.isTrue(kb.documents.every((d, i) => i === 0 || d.score <= kb.documents[i - 1]!.score))
      assert.strictEqual((yield* get(`${urls.kb}/health`)).text, "ok")
    }))

  live("rejects bad input with 400 and a clear message", () =>
    Effect.gen(function*() {
      const { urls, stats } = yield* start({ scale: 0.01 })
      const missing = yield* get(`${urls.weather}/weather`)
      assert.strictEqual(missing.status, 400)
      assert.include(JSON.parse(missing.text).error.message, "city")
      assert.strictEqual((yield* get(`${urls.news}/news?q=%20%20`)).status, 400)
      assert.strictEqual((yield* get(`${urls.kb}/kb/search?q=x&limit=99`)).status, 400)
      const notJson = yield* timed(HttpClientRequest.post(`${urls.llm}/chat/completions`).pipe(
        HttpClientRequest.bodyText("{nope", "application/json"),
        HttpClient.execute
      ))
      assert.strictEqual(notJson.status, 400)
      assert.include(JSON.parse(notJson.text).error.message, "not valid JSON")
      const noMessages = yield* post(`${urls.llm}/chat/completions`, { model: "m", messages: [] })
      assert.strictEqual(noMessages.status, 400)
      assert.strictEqual((yield* stats).llm!.badRequests, 2)
      // stream: true is answered with server-sent events: the same content, word by word, then usage and [DONE]
      const whole = JSON.parse((yield* post(`${urls.llm}/chat/completions`, chatBody)).text)
      const stream = yield* post(`${urls.llm}/chat/completions`, { ...chatBody, stream: true })
      assert.strictEqual(stream.status, 200)
      assert.include(stream.headers["content-type"] ?? "", "text/event-stream")
      const data = stream.text.split("\n\n").filter((e) => e.startsWith("data: ")).map((e) => e.slice(6))
      assert.strictEqual(data.at(-1), "[DONE]")
      const chunks = data.slice(0, -1).map((d) => JSON.parse(d))
      const deltas = chunks.flatMap((c) => c.choices.map((choice: { delta: { content?: string } }) => choice.delta.content ?? ""))
      assert.isAbove(deltas.filter((d) => d !== "").length, 3)
      assert.strictEqual(deltas.join(""), whole.choices[0].message.content)
      assert.deepStrictEqual(chunks.at(-1).usage, whole.usage)
    }))

  live("is deterministic: same seed and query, same body; another seed, another body", () =>
    Effect.gen(function*() {
      const bodies = (seed: number) =>
        Effect.gen(function*() {
          const { urls } = yield* start({ seed, scale: 0.01 })
          return [
            (yield* get(`${urls.weather}/weather?city=Reykjavik`)).text,
            (yield* get(`${urls.news}/news?q=heat pumps`)).text,
            (yield* get(`${urls.kb}/kb/search?q=heat pumps`)).text,
            (yield* post(`${urls.llm}/chat/completions`, chatBody)).text,
            (yield* post(`${urls.llm}/embeddings`, { model: "e", input: ["heat pumps", "solar"] })).text
          ]
        }).pipe(Effect.scoped)
      const a = yield* bodies(7)
      const b = yield* bodies(7)
      const c = yield* bodies(8)
      assert.deepStrictEqual(a, b)
      assert.notStrictEqual(a[0], c[0])
      assert.notStrictEqual(a[1], c[1]) // the knowledge base is the docs: the seed plays no part
    }))

  live("fixed and uniform latency at scale 0.05 stay within bounds; slow multiplies", () =>
    Effect.gen(function*() {
      const { urls } = yield* start({
        scale: 0.05,
        faults: {
          weather: { latency: { _tag: "Fixed", millis: 400 } }, // 20 ms
          news: { latency: { _tag: "Uniform", min: 400, max: 1200 } }, // 20–60 ms
          kb: { latency: { _tag: "Fixed", millis: 400 }, slowdown: 4 } // 80 ms
        }
      })
      for (let i = 0; i < 5; i++) {
        const w = yield* get(`${urls.weather}/weather?city=Oslo`)
        assert.isAtLeast(w.ms, 19)
        assert.isBelow(w.ms, 20 + 150)
        const n = yield* get(`${urls.news}/news?q=oslo`)
        assert.isAtLeast(n.ms, 19)
        assert.isBelow(n.ms, 60 + 150)
      }
      const k = yield* get(`${urls.kb}/kb/search?q=oslo`)
      assert.isAtLeast(k.ms, 79)
      assert.isBelow(k.ms, 80 + 150)
    }))

  live("long-tail latency: never below the Pareto minimum, a few calls far above the median", () =>
    Effect.gen(function*() {
      const { urls } = yield* start({
        seed: 3,
        scale: 0.05,
        faults: { kb: { latency: { _tag: "Pareto", min: 100, alpha: 1.1, max: 4000 } } } // ≥ 5 ms, ≤ 200 ms
      })
      const times = yield* Effect.forEach(Array.from({ length: 40 }), () => Effect.map(get(`${urls.kb}/kb/search?q=tail`), (a) => a.ms))
      const sorted = [...times].sort((a, b) => a - b)
      assert.isAtLeast(sorted[0]!, 4.5)
      assert.isBelow(sorted[sorted.length - 1]!, 200 + 150)
      assert.isAbove(sorted[sorted.length - 1]! / sorted[20]!, 3)
    }))

  live("LLM latency grows with the tokens generated", () =>
    Effect.gen(function*() {
      const { urls } = yield* start({ scale: 1, faults: { llm: zero }, llmTiming: { perPromptTokenMs: 0, perCompletionTokenMs: 4 } })
      const short = yield* post(`${urls.llm}/chat/completions`, { ...chatBody, max_tokens: 2 })
      const long = yield* post(`${urls.llm}/chat/completions`, chatBody)
      const shortTokens = JSON.parse(short.text).usage.completion_tokens as number
      const longTokens = JSON.parse(long.text).usage.completion_tokens as number
      assert.strictEqual(shortTokens, 2)
      assert.strictEqual(JSON.parse(short.text).choices[0].finish_reason, "length")
      assert.isAbove(longTokens, 20)
      assert.isAtLeast(long.ms, longTokens * 4 - 1)
      assert.isBelow(short.ms, long.ms / 2)
    }))

  live("5xx rate is about right over 300 calls, and the same seed fails the same calls", () =>
    Effect.gen(function*() {
      const statuses = Effect.gen(function*() {
        const { urls, stats } = yield* start({ seed: 11, scale: 0.01, faults: { weather: { ...zero, errorRate: 0.2 } } })
        const result = yield* Effect.forEach(
          Array.from({ length: 300 }),
          () => Effect.map(get(`${urls.weather}/weather?city=Rome`), (a) => a.status)
        )
        const s = (yield* stats).weather!
        assert.strictEqual(s.errors, result.filter((x) => x >= 500).length)
        assert.strictEqual(s.ok + s.errors, 300)
        return result
      }).pipe(Effect.scoped)
      const first = yield* statuses
      const errors = first.filter((s) => s >= 500)
      assert.isTrue(errors.every((s) => s === 500 || s === 502 || s === 503))
      assert.isAbove(errors.length, 0.2 * 300 - 25)
      assert.isBelow(errors.length, 0.2 * 300 + 25)
      assert.deepStrictEqual(yield* statuses, first)
    }))

  live("past the RPM: 429 with Retry-After, then served again once the window moves", () =>
    Effect.gen(function*() {
      // scale 0.01: the minute is 600 ms
      const { urls } = yield* start({ scale: 0.01, faults: { news: { ...zero, rpm: 3 } } })
      const url = `${urls.news}/news?q=limits`
      for (let i = 0; i < 3; i++) assert.strictEqual((yield* get(url)).status, 200)
      const limited = yield* get(url)
      assert.strictEqual(limited.status, 429)
      assert.strictEqual(limited.headers["retry-after"], "1")
      const waitMs = Number(limited.headers["retry-after-ms"])
      assert.isAbove(waitMs, 0)
      assert.isAtMost(waitMs, 600)
      assert.strictEqual(JSON.parse(limited.text).error.code, "rate_limit_exceeded")
      yield* Effect.sleep(waitMs + 20)
      assert.strictEqual((yield* get(url)).status, 200)
    }))

  live("past the TPM: the LLM answers 429 by total tokens", () =>
    Effect.gen(function*() {
      const { urls } = yield* start({ scale: 0.01, faults: { llm: { ...zero, tpm: 200 } } })
      const first = yield* post(`${urls.llm}/chat/completions`, chatBody)
      assert.strictEqual(first.status, 200)
      const used = JSON.parse(first.text).usage.total_tokens as number
      assert.isAbove(used, 100) // a second call cannot fit in 200
      const second = yield* post(`${urls.llm}/chat/completions`, chatBody)
      assert.strictEqual(second.status, 429)
      assert.isDefined(second.headers["retry-after"])
    }))

  live("malformed: 200 with a body that fails JSON parsing", () =>
    Effect.gen(function*() {
      const { urls } = yield* start({ scale: 0.01, faults: { kb: { ...zero, malformedRate: 1 } } })
      const answer = yield* get(`${urls.kb}/kb/search?q=broken`)
      assert.strictEqual(answer.status, 200)
      assert.include(answer.headers["content-type"] ?? "", "application/json")
      assert.throws(() => JSON.parse(answer.text))
      const decoded = yield* HttpClient.get(`${urls.kb}/kb/search?q=broken`).pipe(
        Effect.flatMap(HttpClientResponse.schemaBodyJson(KnowledgeBase.Body)),
        Effect.exit
      )
      assert.isTrue(Exit.isFailure(decoded))
    }))

  live("hang: the call never answers, so the client's timeout fires; closing the scope is immediate", () =>
    Effect.gen(function*() {
      const started = performance.now()
      yield* Effect.gen(function*() {
        const { urls, stats } = yield* start({ scale: 0.01, faults: { weather: { hangRate: 1 } } })
        const exit = yield* get(`${urls.weather}/weather?city=Nowhere`).pipe(Effect.timeout("150 millis"), Effect.exit)
        assert.isTrue(Exit.isFailure(exit))
        if (Exit.isFailure(exit)) assert.isTrue(Cause.hasFails(exit.cause))
        const error = Exit.isFailure(exit) ? Cause.squash(exit.cause) : undefined
        assert.strictEqual((error as { _tag?: string })._tag, "TimeoutError")
        assert.strictEqual((yield* stats).weather!.hangs, 1)
        // leave a second request hanging while the scope closes
        yield* Effect.forkChild(get(`${urls.weather}/weather?city=Nowhere`), { startImmediately: true })
        yield* Effect.sleep(30)
      }).pipe(Effect.scoped)
      assert.isBelow(performance.now() - started, 1_500)
    }))

  live("down: connections are refused, other services keep working", () =>
    Effect.gen(function*() {
      const { urls } = yield* start({ scale: 0.01, faults: { news: { down: true } } })
      const error = yield* Effect.tryPromise(() => fetch(`${urls.news}/news?q=x`)).pipe(Effect.flip)
      const cause = (error.cause as { cause?: { code?: string } }).cause
      assert.strictEqual(cause?.code, "ECONNREFUSED")
      const viaEffect = yield* get(`${urls.news}/news?q=x`).pipe(Effect.flip)
      assert.strictEqual((viaEffect as { reason?: { _tag?: string } }).reason?._tag, "TransportError")
      assert.strictEqual((yield* get(`${urls.weather}/weather?city=Oslo`)).status, 200)
    }))

  live("stops its servers when the scope closes", () =>
    Effect.gen(function*() {
      const urls = yield* Effect.map(start({ scale: 0.01 }), (f) => f.urls).pipe(Effect.scoped)
      const error = yield* Effect.tryPromise(() => fetch(`${urls.weather}/health`)).pipe(Effect.flip)
      assert.strictEqual((error.cause as { cause?: { code?: string } }).cause?.code, "ECONNREFUSED")
    }))

  live("usage counts equal gpt-tokenizer's counts", () =>
    Effect.gen(function*() {
      const { urls } = yield* start({ scale: 0.01, faults: { llm: zero } })
      const completion = JSON.parse((yield* post(`${urls.llm}/chat/completions`, chatBody)).text)
      const content = completion.choices[0].message.content as string
      assert.strictEqual(completion.usage.prompt_tokens, countTokens(chatBody.messages))
      assert.strictEqual(completion.usage.completion_tokens, countTokens(content))
      assert.strictEqual(completion.usage.total_tokens, completion.usage.prompt_tokens + completion.usage.completion_tokens)
      const inputs = ["The event loop runs coroutines.", "Worker threads run CPU-bound tasks in parallel."]
      const embedded = JSON.parse((yield* post(`${urls.llm}/embeddings`, { model: "e", input: inputs, encoding_format: "float" })).text)
      assert.strictEqual(embedded.usage.prompt_tokens, countTokens(inputs[0]!) + countTokens(inputs[1]!))
      assert.strictEqual(embedded.usage.total_tokens, embedded.usage.prompt_tokens)
    }))

  live("the chat answer is extracted from the prompt, about the question", () =>
    Effect.gen(function*() {
      const { urls } = yield* start({ scale: 0.01, faults: { llm: zero } })
      const content = JSON.parse((yield* post(`${urls.llm}/chat/completions`, chatBody)).text).choices[0].message.content as string
      assert.include(content, "In Lisbon it is 16°C with light rain.")
      assert.include(content, "Lisbon opens a new metro line.")
      assert.notInclude(content, "Porto")
      assert.notInclude(content, "Question:")
    }))

  live("the official openai SDK works against the fixture LLM unchanged", () =>
    Effect.gen(function*() {
      const { urls } = yield* start({ scale: 0.01, faults: { llm: zero } })
      const client = new OpenAI({ baseURL: urls.llm, apiKey: "test", maxRetries: 0 })
      const completion = yield* Effect.promise(() =>
        client.chat.completions.create({
          model: "gpt-4o-mini",
          messages: [
            { role: "system", content: "Answer from the context." },
            { role: "user", content: "Asyncio runs coroutines on an event loop. Bread is baked in ovens.\nWhat runs coroutines?" }
          ]
        })
      )
      assert.strictEqual(completion.object, "chat.completion")
      assert.strictEqual(completion.choices[0]?.message.content, "Asyncio runs coroutines on an event loop.")
      assert.strictEqual(completion.choices[0]?.finish_reason, "stop")
      assert.isAbove(completion.usage?.total_tokens ?? 0, 0)

      // default encoding_format: the SDK asks for base64 and decodes float32 itself
      const embeddings = yield* Effect.promise(() =>
        client.embeddings.create({ model: "text-embedding-3-small", input: ["event loop coroutines", "coroutines on the event loop", "bread ovens"] })
      )
      const [a, b, c] = embeddings.data.map((d) => d.embedding)
      assert.strictEqual(a?.length, 256)
      const dot = (x: ReadonlyArray<number>, y: ReadonlyArray<number>) => x.reduce((s, v, i) => s + v * y[i]!, 0)
      assert.closeTo(dot(a!, a!), 1, 1e-5)
      assert.isAbove(dot(a!, b!), dot(a!, c!))
      const floats = yield* Effect.promise(() =>
        client.embeddings.create({ model: "text-embedding-3-small", input: "event loop coroutines", encoding_format: "float", dimensions: 64 })
      )
      assert.strictEqual(floats.data[0]?.embedding.length, 64)
      assert.closeTo(dot(floats.data[0]!.embedding, floats.data[0]!.embedding), 1, 1e-5)

      // errors surface as the SDK's typed errors
      const failing = yield* start({ scale: 0.01, faults: { llm: { ...zero, errorRate: 1 } } })
      const error = yield* Effect.tryPromise(() =>
        new OpenAI({ baseURL: failing.urls.llm, apiKey: "test", maxRetries: 0 }).chat.completions.create({
          model: "m",
          messages: [{ role: "user", content: "hi?" }]
        })
      ).pipe(Effect.flip)
      assert.instanceOf(error.cause, OpenAI.InternalServerError)
    }))

  live("rejects bad options with InvalidOption naming the option and value", () =>
    Effect.gen(function*() {
      const cases: ReadonlyArray<[Options, string]> = [
        [{ scale: 0 }, "scale"],
        [{ seed: 1.5 }, "seed"],
        [{ faults: { news: { errorRate: 2 } } }, "faults.news.errorRate"],
        [{ faults: { kb: { rpm: 0 } } }, "faults.kb.rpm"],
        [{ faults: { weather: { latency: { _tag: "Uniform", min: 5, max: 1 } } } }, "faults.weather.latency.max"],
        [{ llmTiming: { perCompletionTokenMs: -1 } }, "llmTiming.perCompletionTokenMs"],
        [{ routes: [...Fixtures.routes, Fixtures.routes[0]!] }, "routes"],
        [{ routes: [{ ...Fixtures.routes[0]!, name: "llm" }] }, "routes"]
      ]
      for (const [options, option] of cases) {
        const error = yield* Effect.flip(start(options))
        assert.strictEqual(error._tag, "InvalidOption")
        if (error._tag === "InvalidOption") {
          assert.strictEqual(error.option, option)
          assert.include(error.message, "Fixtures.layer")
        }
      }
    }))
})
