/**
 * The Weather source: `GET {HYBRID_WEATHER_URL}/weather?city=` decoded as
 * `FixtureData.Weather`, under the weather source's own timeout, retries, circuit
 * breaker, rate limit and hedging (`HYBRID_WEATHER_*`, see `Source`).
 *
 * When to use: provide `Weather.layer` (it needs an `HttpClient`) and call
 * `fetch(city)`. With `Fixtures` in context and no `HYBRID_WEATHER_URL`, it talks to the
 * fixture weather server.
 *
 * Gotcha: every failure is a `SourceError` — read `reason` for the status to report.
 *
 * @example
 * ```ts
 * import { Effect, Layer } from "effect"
 * import { NodeHttpClient } from "@effect/platform-node"
 * import { Fixtures, Weather } from "@hybrid/agent"
 *
 * const program = Weather.Weather.use((weather) => weather.fetch("Lisbon")).pipe(
 *   Effect.provide(Weather.Weather.layer.pipe(
 *     Layer.provide([Fixtures.layer({ scale: 0.05 }), NodeHttpClient.layerUndici])
 *   ))
 * )
 * // Effect.runPromise(program) → { city: "Lisbon", condition: …, forecast: [ … ] }
 * ```
 *
 * @since 0.1.0
 */
import { type Config, Context, Effect, Layer } from "effect"
import type { HttpClient } from "effect/http"
import * as FixtureData from "../fixtures/data.ts"
import * as Source from "./Source.ts"

/**
 * @since 0.1.0
 * @category services
 */
export class Weather extends Context.Service<Weather, {
  readonly settings: Source.Settings
  /** The circuit's state now. */
  readonly circuit: Effect.Effect<Source.CircuitState>
  /** The current weather and forecast in `city`. */
  readonly fetch: (city: string) => Effect.Effect<FixtureData.Weather, Source.SourceError>
}>()("@hybrid/agent/Weather") {
  /** Reads `HYBRID_WEATHER_*`; the URL defaults to the running `Fixtures`' weather server. */
  static readonly layer: Layer.Layer<Weather, Config.ConfigError, HttpClient.HttpClient> = Layer.effect(
    this,
    Effect.suspend(() => make)
  )
}

/**
 * Builds the service (scoped: its breaker's metric updater stops with the scope).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = Effect.gen(function*() {
  const source = yield* Source.make({ name: "weather", schema: FixtureData.Weather, fixture: "weather" })
  return Weather.of({
    settings: source.settings,
    circuit: source.circuit,
    fetch: Effect.fn("Weather.fetch")(function*(city: string) {
      return yield* source.get("/weather", { city })
    })
  })
})
