/**
 * A source's circuit breaker as `hybrid serve` needs it, on `TestClock` over a scripted
 * `HttpClient` (no sockets): half-open lets `BREAKER_PROBES` calls through at once (the
 * probe decides), the circuit trips on a failure rate rather than a run of failures
 * (from a fresh circuit, `BREAKER_FAILURES` in a row still open it), and the settings are
 * read from `HYBRID_<NAME>_BREAKER_*`.
 */
import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Duration, Effect, Exit, Fiber, Layer } from "effect"
import { HttpClient, HttpClientError, HttpClientResponse } from "effect/http"
import { TestClock } from "effect/testing"
import { FixtureData, Query, Source, Weather } from "@hybrid/agent"

/** What the scripted upstream does for call `n` (0-based): a status, after `ms` of (test) time. */
type Script = (n: number) => { readonly status: number; readonly ms?: number }

const upstream = (script: Script) => {
  const state = { calls: 0, inFlight: 0, maxInFlight: 0 }
  const client = HttpClient.make((request) =>
    Effect.gen(function*() {
      const step = script(state.calls++)
      state.inFlight++
      state.maxInFlight = Math.max(state.maxInFlight, state.inFlight)
      yield* Effect.sleep(step.ms ?? 0).pipe(Effect.ensuring(Effect.sync(() => state.inFlight--)))
      const body = step.status === 200 ? JSON.stringify(FixtureData.weather(1, "Lisbon")) : "{}"
      return HttpClientResponse.fromWeb(request, new Response(body, { status: step.status, headers: { "content-type": "application/json" } }))
    }).pipe(Effect.mapError((cause) => new HttpClientError.HttpClientError({ reason: new HttpClientError.TransportError({ request, cause }) })))
  )
  return { state, layer: Layer.succeed(HttpClient.HttpClient, client) }
}

const settings = (env: Record<string, string>) =>
  ConfigProvider.layer(ConfigProvider.fromEnv({
    env: { HYBRID_WEATHER_URL: "http://weather.test", HYBRID_WEATHER_RETRIES: "0", HYBRID_WEATHER_TIMEOUT: "10 seconds", ...env }
  }))

const inLisbon = Query.make("the weather in Lisbon")

const reasonOf = (exit: Exit.Exit<unknown, Source.SourceError>) =>
  Exit.isSuccess(exit) ? "ok" : exit.cause.reasons.find((r) => r._tag === "Fail")?.error.reason ?? "defect"

describe("Source breaker", () => {
  it.effect("half-open lets BREAKER_PROBES calls through at once; the rest are circuit-open; the probe closes it", () => {
    // two 500s open the circuit; then the source is healthy and answers in 100 ms
    const api = upstream((n) => n < 2 ? { status: 500 } : { status: 200, ms: 100 })
    return Effect.gen(function*() {
      const weather = yield* Source.make(Weather.source)
      for (let i = 0; i < 2; i++) assert.strictEqual(reasonOf(yield* Effect.exit(weather.get(inLisbon))), "failed")
      assert.strictEqual(yield* weather.circuit, "open")
      assert.strictEqual(reasonOf(yield* Effect.exit(weather.get(inLisbon))), "circuit-open")
      assert.strictEqual(api.state.calls, 2) // open: nothing sent
      yield* TestClock.adjust("1 second")
      const calls = yield* Effect.forEach(
        Array.from({ length: 5 }),
        () => Effect.forkChild(Effect.exit(weather.get(inLisbon)), { startImmediately: true })
      )
      yield* Effect.yieldNow
      assert.strictEqual(api.state.inFlight, 3, "the probe and two companions reach the source")
      yield* TestClock.adjust("100 millis")
      const exits = yield* Effect.forEach(calls, Fiber.join)
      assert.deepStrictEqual(exits.map(reasonOf).sort(), ["circuit-open", "circuit-open", "ok", "ok", "ok"])
      assert.strictEqual(yield* weather.circuit, "closed")
      const after = yield* Effect.forEach(Array.from({ length: 5 }), () => Effect.exit(weather.get(inLisbon)), { concurrency: "unbounded" }).pipe(
        Effect.forkChild({ startImmediately: true })
      )
      yield* TestClock.adjust("100 millis")
      assert.deepStrictEqual((yield* Fiber.join(after)).map(reasonOf), ["ok", "ok", "ok", "ok", "ok"])
    }).pipe(
      Effect.scoped,
      Effect.provide(Layer.mergeAll(api.layer, settings({ HYBRID_WEATHER_BREAKER_FAILURES: "2", HYBRID_WEATHER_BREAKER_OPEN: "1 second" })))
    )
  })

  it.effect("BREAKER_PROBES=1 is Effect's own half-open: one probe, every other call circuit-open", () => {
    const api = upstream((n) => n < 2 ? { status: 500 } : { status: 200, ms: 100 })
    return Effect.gen(function*() {
      const weather = yield* Source.make(Weather.source)
      for (let i = 0; i < 2; i++) yield* Effect.exit(weather.get(inLisbon))
      yield* TestClock.adjust("1 second")
      const calls = yield* Effect.forEach(
        Array.from({ length: 4 }),
        () => Effect.forkChild(Effect.exit(weather.get(inLisbon)), { startImmediately: true })
      )
      yield* TestClock.adjust("100 millis")
      const exits = yield* Effect.forEach(calls, Fiber.join)
      assert.deepStrictEqual(exits.map(reasonOf).sort(), ["circuit-open", "circuit-open", "circuit-open", "ok"])
      assert.strictEqual(api.state.maxInFlight, 1)
    }).pipe(
      Effect.scoped,
      Effect.provide(Layer.mergeAll(api.layer, settings({
        HYBRID_WEATHER_BREAKER_FAILURES: "2",
        HYBRID_WEATHER_BREAKER_OPEN: "1 second",
        HYBRID_WEATHER_BREAKER_PROBES: "1"
      })))
    )
  })

  it.effect("a failed probe reopens the circuit for the open time; the companions' failures change nothing", () => {
    const api = upstream((n) => n < 5 ? { status: 500, ms: n < 2 ? 0 : 50 } : { status: 200 })
    return Effect.gen(function*() {
      const weather = yield* Source.make(Weather.source)
      for (let i = 0; i < 2; i++) yield* Effect.exit(weather.get(inLisbon))
      yield* TestClock.adjust("1 second")
      const probes = yield* Effect.forEach(
        Array.from({ length: 3 }),
        () => Effect.forkChild(Effect.exit(weather.get(inLisbon)), { startImmediately: true })
      )
      yield* TestClock.adjust("50 millis")
      assert.deepStrictEqual((yield* Effect.forEach(probes, Fiber.join)).map(reasonOf), ["failed", "failed", "failed"])
      assert.strictEqual(yield* weather.circuit, "open")
      assert.strictEqual(reasonOf(yield* Effect.exit(weather.get(inLisbon))), "circuit-open")
      yield* TestClock.adjust("1 second")
      assert.strictEqual(reasonOf(yield* Effect.exit(weather.get(inLisbon))), "ok")
      assert.strictEqual(yield* weather.circuit, "closed")
    }).pipe(
      Effect.scoped,
      Effect.provide(Layer.mergeAll(api.layer, settings({ HYBRID_WEATHER_BREAKER_FAILURES: "2", HYBRID_WEATHER_BREAKER_OPEN: "1 second" })))
    )
  })

  it.effect("trips on the failure rate: 4 failures in a row among successes stay closed; a source failing 60% of calls opens", () => {
    // calls 0–9 ok, 10–13 fail (a burst), 14–23 ok: 4 of 24, closed throughout
    const burst = upstream((n) => n >= 10 && n < 14 ? { status: 503 } : { status: 200 })
    const failing = upstream((n) => n % 5 < 3 ? { status: 500 } : { status: 200 })
    const env = { HYBRID_WEATHER_BREAKER_FAILURES: "4", HYBRID_WEATHER_BREAKER_RATE: "0.5", HYBRID_WEATHER_BREAKER_WINDOW: "20" }
    return Effect.gen(function*() {
      yield* Effect.gen(function*() {
        const weather = yield* Source.make(Weather.source)
        for (let i = 0; i < 24; i++) yield* Effect.exit(weather.get(inLisbon))
        assert.strictEqual(yield* weather.circuit, "closed")
        assert.strictEqual(burst.state.calls, 24)
      }).pipe(Effect.scoped, Effect.provide(burst.layer))
      yield* Effect.gen(function*() {
        const weather = yield* Source.make(Weather.source)
        const reasons: Array<string> = []
        for (let i = 0; i < 10; i++) reasons.push(reasonOf(yield* Effect.exit(weather.get(inLisbon))))
        assert.strictEqual(yield* weather.circuit, "open")
        assert.include(reasons, "circuit-open")
        assert.isBelow(failing.state.calls, 10)
      }).pipe(Effect.scoped, Effect.provide(failing.layer))
    }).pipe(Effect.provide(settings(env)))
  })

  it.effect("the breaker settings are read from HYBRID_<NAME>_BREAKER_*, with sensible defaults; a bad rate is a ConfigError", () =>
    Effect.gen(function*() {
      const defaults = yield* Source.config("weather").pipe(Effect.provide(settings({})))
      assert.deepStrictEqual(
        [defaults.breakerFailures, defaults.breakerRate, defaults.breakerWindow, defaults.breakerProbes, Duration.toMillis(defaults.breakerOpen)],
        [5, 0.5, 20, 3, 30_000]
      )
      assert.deepStrictEqual(Source.tripPolicy(defaults), { _tag: "Rate", threshold: 0.5, size: 20, minimumCalls: 5 })
      const set = yield* Source.config("weather").pipe(Effect.provide(settings({
        HYBRID_WEATHER_BREAKER_FAILURES: "30",
        HYBRID_WEATHER_BREAKER_RATE: "0.8",
        HYBRID_WEATHER_BREAKER_WINDOW: "10",
        HYBRID_WEATHER_BREAKER_PROBES: "5"
      })))
      // the window is never smaller than the failures needed
      assert.deepStrictEqual([set.breakerFailures, set.breakerRate, set.breakerWindow, set.breakerProbes], [30, 0.8, 30, 5])
      for (const bad of [{ HYBRID_WEATHER_BREAKER_RATE: "1.5" }, { HYBRID_WEATHER_BREAKER_RATE: "0" }, { HYBRID_WEATHER_BREAKER_PROBES: "0" }]) {
        const exit = yield* Effect.exit(Source.config("weather").pipe(Effect.provide(settings(bad))))
        assert.isTrue(Exit.isFailure(exit), JSON.stringify(bad))
      }
    }))
})
