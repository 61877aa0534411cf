import { createServer } from "node:http"
import { assert, describe, it } from "@effect/vitest"
import { NodeHttpClient, NodeHttpServer } from "@effect/platform-node"
import { ConfigProvider, Duration, Effect, Exit, Layer, Metric, Option, type Scope } from "effect"
import { HttpServerResponse } from "effect/http"
import { FixtureData, Fixtures, KnowledgeBase, News, Query, Source, Upstream, Weather } from "@hybrid/agent"

type Env = Readonly<Record<string, string>>

const config = (env: Env) => ConfigProvider.layer(ConfigProvider.fromEnv({ env }))

/** What the sources need over fixtures started with `options`, configured by `env` (their URLs from the fixtures). */
const sources = (options: Fixtures.Options, env: Env = {}) =>
  Fixtures.layerConfig.pipe(
    Layer.provideMerge(Fixtures.layer({ scale: 0.05, ...options })),
    Layer.provideMerge(NodeHttpClient.layerUndici),
    Layer.provide(config(env))
  )

/** What the sources need without fixtures, configured by `env`. */
const weatherOnly = (env: Env) => Layer.mergeAll(NodeHttpClient.layerUndici, config(env))

const inLisbon = Query.make("the weather in Lisbon")

/**
 * A one-route server on 127.0.0.1 answering every request with `answer(n)` (n counts from
 * 0); `count` reads how many requests arrived. Stopped with the test's scope.
 */
const server = (answer: (n: number) => Effect.Effect<HttpServerResponse.HttpServerResponse>) =>
  Effect.gen(function*() {
    let count = 0
    const node = createServer()
    const http = yield* NodeHttpServer.make(() => node, { port: 0, host: "127.0.0.1", gracefulShutdownTimeout: Duration.millis(50) })
    yield* http.serve(Effect.suspend(() => answer(count++)))
    yield* Effect.addFinalizer(() => Effect.sync(() => node.closeAllConnections()))
    if (http.address._tag === "UnixPathAddress") return yield* Effect.die("unexpected unix socket")
    return { url: `http://127.0.0.1:${http.address.port}`, count: Effect.sync(() => count) }
  })

const lisbon = HttpServerResponse.jsonUnsafe(FixtureData.weather(1, "Lisbon"))

const failure = <A>(exit: Exit.Exit<A, Source.SourceError>): Source.SourceError => {
  if (Exit.isSuccess(exit)) return assert.fail("expected a SourceError")
  const error = exit.cause.reasons.find((r) => r._tag === "Fail")
  if (error === undefined || error._tag !== "Fail") return assert.fail(`expected a failure, got ${exit.cause}`)
  return error.error
}

const live = <A, E>(name: string, body: () => Effect.Effect<A, E, Scope.Scope>, timeout = 10_000) =>
  it.live(name, () => Effect.scoped(body()), timeout)

const fast = { latency: { _tag: "Fixed", millis: 100 } } as const

describe("Sources", () => {
  live("default to the running fixtures and decode each source's body", () =>
    Effect.gen(function*() {
      const fixtures = yield* Fixtures.Fixtures
      const weather = yield* Source.make(Weather.source)
      const news = yield* Source.make(News.source.withLimit(2))
      const kb = yield* Source.make(KnowledgeBase.source)
      assert.strictEqual(weather.settings.url, fixtures.urls.weather)
      assert.strictEqual(news.settings.url, fixtures.urls.news)
      assert.strictEqual(kb.settings.url, fixtures.urls.kb)
      assert.strictEqual(Duration.toMillis(weather.settings.timeout), 5000)
      assert.strictEqual(weather.settings.retries, 2)
      assert.isUndefined(weather.settings.rpm)
      assert.isUndefined(weather.settings.hedgeAfter)
      const [w, n, k] = yield* Effect.all([weather.get(inLisbon), news.get(Query.make("electric cars")), kb.get(Query.make("asyncio"))], {
        concurrency: "unbounded"
      })
      assert.strictEqual(w.city, "Lisbon")
      assert.strictEqual(n.articles.length, 2)
      assert.strictEqual(k.documents.length, 3)
      const latency = yield* Metric.value(Metric.withAttributes(Source.latency, { source: "weather" }))
      assert.isAtLeast(latency.count, 1)
      assert.strictEqual(yield* weather.circuit, "closed")
    }).pipe(Effect.provide(sources({ faults: { weather: fast, news: fast, kb: fast } }))))

  live("a source that is down fails with reason failed, kind connection, after its retries", () =>
    Effect.gen(function*() {
      const weather = yield* Source.make(Weather.source)
      const error = failure(yield* Effect.exit(weather.get(inLisbon)))
      assert.strictEqual(error._tag, "SourceError")
      assert.strictEqual(error.source, "weather")
      assert.strictEqual(error.reason, "failed")
      assert.strictEqual(error.kind, "connection")
      assert.strictEqual(error.attempts, 2)
      const failures = yield* Metric.value(
        Metric.withAttributes(Source.failures, { source: "weather", reason: "failed", kind: "connection" })
      )
      assert.isAtLeast(failures.count, 1)
    }).pipe(Effect.provide(sources({ faults: { weather: { down: true } } }, { HYBRID_WEATHER_RETRIES: "1", HYBRID_WEATHER_RETRY_BASE: "10 millis" }))))

  live("a source slower than its timeout fails with reason timeout", () =>
    Effect.gen(function*() {
      const weather = yield* Source.make(Weather.source)
      const t0 = performance.now()
      const error = failure(yield* Effect.exit(weather.get(inLisbon)))
      assert.strictEqual(error.reason, "timeout")
      assert.strictEqual(error.kind, "timeout")
      assert.strictEqual(error.attempts, 1)
      assert.isBelow(performance.now() - t0, 500) // 80 ms timeout, the server would take 1 s
    }).pipe(Effect.provide(sources(
      { faults: { weather: { latency: { _tag: "Fixed", millis: 20_000 } } } },
      { HYBRID_WEATHER_TIMEOUT: "80 millis", HYBRID_WEATHER_RETRIES: "0" }
    ))))

  live("a 5xx is retried and the next attempt succeeds", () =>
    Effect.gen(function*() {
      const fixtures = yield* Fixtures.Fixtures
      const weather = yield* Source.make(Weather.source)
      // seed 3, errorRate 0.5: the first weather request draws a 5xx, the second succeeds
      const w = yield* weather.get(inLisbon)
      assert.strictEqual(w.city, "Lisbon")
      const stats = (yield* fixtures.stats).weather!
      assert.strictEqual(stats.errors, 1)
      assert.strictEqual(stats.ok, 1)
      assert.strictEqual(stats.requests, 2)
    }).pipe(Effect.provide(sources({ seed: 3, faults: { weather: { ...fast, errorRate: 0.5 } } }, { HYBRID_WEATHER_RETRY_BASE: "10 millis" }))))

  live("a 429 is waited out for its Retry-After, not hammered", () =>
    Effect.gen(function*() {
      const fixtures = yield* Fixtures.Fixtures
      const weather = yield* Source.make(Weather.source)
      const t0 = performance.now()
      for (let i = 0; i < 3; i++) yield* weather.get(inLisbon)
      const elapsed = performance.now() - t0
      const stats = (yield* fixtures.stats).weather!
      // rpm 2 per scaled minute (0.02 × 60 s = 1.2 s): the third call gets one 429, waits, succeeds
      assert.strictEqual(stats.rateLimited, 1)
      assert.strictEqual(stats.ok, 3)
      assert.strictEqual(stats.requests, 4)
      assert.isAtLeast(elapsed, 1_100)
    }).pipe(Effect.provide(sources({ scale: 0.02, faults: { weather: { ...fast, rpm: 2 } } }, { HYBRID_WEATHER_RETRY_BASE: "1 millis" }))))

  live("a 429 on the last attempt fails with reason rate-limited and the server's Retry-After", () =>
    Effect.gen(function*() {
      const weather = yield* Source.make(Weather.source)
      yield* weather.get(inLisbon)
      const error = failure(yield* Effect.exit(weather.get(inLisbon)))
      assert.strictEqual(error.reason, "rate-limited")
      assert.strictEqual(error.kind, "status")
      assert.strictEqual(error.status, 429)
      assert.isDefined(error.retryAfter)
    }).pipe(Effect.provide(sources({ scale: 0.02, faults: { weather: { ...fast, rpm: 1 } } }, { HYBRID_WEATHER_RETRIES: "0" }))))

  live("a malformed body is a SourceError of kind decode, not a crash", () =>
    Effect.gen(function*() {
      const fixtures = yield* Fixtures.Fixtures
      const weather = yield* Source.make(Weather.source)
      const error = failure(yield* Effect.exit(weather.get(inLisbon)))
      assert.strictEqual(error.reason, "failed")
      assert.strictEqual(error.kind, "decode")
      assert.strictEqual(error.attempts, 1) // a 200 with garbage is not retried
      assert.strictEqual((yield* fixtures.stats).weather!.malformed, 1)
    }).pipe(Effect.provide(sources({ faults: { weather: { ...fast, malformedRate: 1 } } }))))

  live("a hung connection ends at the timeout, each attempt", () =>
    Effect.gen(function*() {
      const fixtures = yield* Fixtures.Fixtures
      const weather = yield* Source.make(Weather.source)
      const error = failure(yield* Effect.exit(weather.get(inLisbon)))
      assert.strictEqual(error.reason, "timeout")
      assert.strictEqual(error.attempts, 2)
      assert.strictEqual((yield* fixtures.stats).weather!.hangs, 2)
    }).pipe(Effect.provide(sources(
      { faults: { weather: { hangRate: 1 } } },
      { HYBRID_WEATHER_TIMEOUT: "100 millis", HYBRID_WEATHER_RETRIES: "1", HYBRID_WEATHER_RETRY_BASE: "10 millis" }
    ))))

  live("the breaker opens after repeated failures, rejects without a request, and closes after recovery", () =>
    Effect.gen(function*() {
      let healthy = false
      const api = yield* server(() =>
        healthy ? Effect.succeed(lisbon) : Effect.succeed(HttpServerResponse.jsonUnsafe({ error: "boom" }, { status: 503 }))
      )
      const gauge = Metric.withAttributes(Source.breakerState, { source: "weather" })
      yield* Effect.gen(function*() {
        const weather = yield* Source.make(Weather.source)
        for (let i = 0; i < 2; i++) {
          const error = failure(yield* Effect.exit(weather.get(inLisbon)))
          assert.strictEqual(error.reason, "failed")
          assert.strictEqual(error.status, 503)
        }
        const open = failure(yield* Effect.exit(weather.get(inLisbon)))
        assert.strictEqual(open.reason, "circuit-open")
        assert.isDefined(open.retryAfter)
        assert.strictEqual(open.attempts, 1) // an open circuit is not retried
        assert.strictEqual(yield* api.count, 2) // nothing reached the server
        assert.strictEqual(yield* weather.circuit, "open")
        assert.strictEqual((yield* Metric.value(gauge)).value, 2)
        healthy = true
        yield* Effect.sleep("350 millis")
        const w = yield* weather.get(inLisbon) // the half-open probe succeeds…
        assert.strictEqual(w.city, "Lisbon")
        assert.strictEqual(yield* weather.circuit, "closed") // …and closes the circuit
        assert.strictEqual(yield* api.count, 3)
        yield* weather.get(inLisbon)
        assert.strictEqual(yield* api.count, 4)
        assert.strictEqual((yield* Metric.value(gauge)).value, 0)
      }).pipe(Effect.provide(weatherOnly({
        HYBRID_WEATHER_URL: api.url,
        HYBRID_WEATHER_RETRIES: "0",
        HYBRID_WEATHER_BREAKER_FAILURES: "2",
        HYBRID_WEATHER_BREAKER_OPEN: "300 millis"
      })))
    }))

  live("HYBRID_WEATHER_URL points the source elsewhere, even with fixtures running", () =>
    Effect.gen(function*() {
      const api = yield* server(() => Effect.succeed(lisbon))
      yield* Effect.gen(function*() {
        const fixtures = yield* Fixtures.Fixtures
        const weather = yield* Source.make(Weather.source)
        assert.strictEqual(weather.settings.url, api.url)
        yield* weather.get(inLisbon)
        assert.strictEqual(yield* api.count, 1)
        assert.strictEqual((yield* fixtures.stats).weather!.requests, 0)
      }).pipe(Effect.provide(sources({}, { HYBRID_WEATHER_URL: `${api.url}/` })))
    }))

  live("configuration is read and checked: bad values and a missing URL are ConfigErrors", () =>
    Effect.gen(function*() {
      const settings = yield* Source.config("weather").pipe(Effect.provide(config({
        HYBRID_WEATHER_URL: "http://example.test",
        HYBRID_WEATHER_TIMEOUT: "2 seconds",
        HYBRID_WEATHER_RETRIES: "4",
        HYBRID_WEATHER_RPM: "120",
        HYBRID_WEATHER_HEDGE_AFTER: "150 millis",
        HYBRID_WEATHER_BREAKER_FAILURES: "3",
        HYBRID_WEATHER_BREAKER_OPEN: "10 seconds"
      })))
      assert.deepStrictEqual(
        {
          url: settings.url,
          retries: settings.retries,
          rpm: settings.rpm,
          failures: settings.breakerFailures,
          timeout: Duration.toMillis(settings.timeout),
          hedge: settings.hedgeAfter === undefined ? undefined : Duration.toMillis(settings.hedgeAfter)
        },
        {
          url: "http://example.test",
          retries: 4,
          rpm: 120,
          failures: 3,
          timeout: 2000,
          hedge: 150
        }
      )
      const bad = yield* Effect.exit(Source.config("weather").pipe(Effect.provide(config({ HYBRID_WEATHER_URL: "x", HYBRID_WEATHER_RETRIES: "-1" }))))
      assert.isTrue(Exit.isFailure(bad))
      // no fixtures, no URL: the layer fails naming the variable
      const missing = yield* Effect.exit(Effect.provide(Effect.scoped(Source.make(Weather.source)), weatherOnly({})))
      assert.isTrue(Exit.isFailure(missing))
      assert.include(String(Exit.isFailure(missing) ? missing.cause : ""), "HYBRID_WEATHER_URL")
    }))

  live("hedging answers from the backup when the first request hangs", () =>
    Effect.gen(function*() {
      const fixtures = yield* Fixtures.Fixtures
      const weather = yield* Source.make(Weather.source)
      // seed 3, hangRate 0.5: the first weather request hangs, the second answers
      const t0 = performance.now()
      const w = yield* weather.get(inLisbon)
      assert.strictEqual(w.city, "Lisbon")
      assert.isBelow(performance.now() - t0, 1_000) // not the 5 s timeout
      const stats = (yield* fixtures.stats).weather!
      assert.strictEqual(stats.hangs, 1)
      assert.strictEqual(stats.ok, 1)
    }).pipe(Effect.provide(sources(
      { seed: 3, faults: { weather: { ...fast, hangRate: 0.5 } } },
      { HYBRID_WEATHER_HEDGE_AFTER: "50 millis", HYBRID_WEATHER_RETRIES: "0" }
    ))))

  live("our own RPM limit: no slot within the timeout is reason rate-limited, and nothing is sent", () =>
    Effect.gen(function*() {
      const api = yield* server(() => Effect.succeed(lisbon))
      yield* Effect.gen(function*() {
        const weather = yield* Source.make(Weather.source)
        yield* weather.get(inLisbon)
        const error = failure(yield* Effect.exit(weather.get(inLisbon)))
        assert.strictEqual(error.reason, "rate-limited")
        assert.strictEqual(error.kind, "rate-limit")
        assert.strictEqual(yield* api.count, 1)
      }).pipe(Effect.provide(weatherOnly({ HYBRID_WEATHER_URL: api.url, HYBRID_WEATHER_RPM: "1", HYBRID_WEATHER_TIMEOUT: "100 millis" })))
    }))

  it("parses Retry-After as openai-node does", () => {
    const now = Date.parse("2025-01-06T09:00:00Z")
    const ms = (headers: Record<string, string>) => Option.fromUndefinedOr(Upstream.parseRetryAfter(headers, now)).pipe(Option.map(Duration.toMillis))
    assert.deepStrictEqual(ms({ "retry-after-ms": "1500", "retry-after": "9" }), Option.some(1500))
    assert.deepStrictEqual(ms({ "retry-after": "2" }), Option.some(2000))
    assert.deepStrictEqual(ms({ "retry-after": "Mon, 06 Jan 2025 09:00:03 GMT" }), Option.some(3000))
    assert.isTrue(Option.isNone(ms({ "retry-after": "120" }))) // over 60 s: ignored
    assert.isTrue(Option.isNone(ms({ "retry-after": "soon" })))
    assert.isTrue(Option.isNone(ms({})))
  })
})
