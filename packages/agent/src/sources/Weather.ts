/**
 * The Weather source: `GET {HYBRID_WEATHER_URL}/weather?city=` decoded as `Weather.Body`,
 * one document (the report's summary) for processing, under the weather source's own
 * timeout, retries, circuit breaker, rate limit and hedging (`HYBRID_WEATHER_*`, see
 * `Source`). The city is the query's (`Query.city`).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
 * import { Query, Source, Weather } from "@hybrid/agent"
 *
 * const program = Effect.gen(function*() {
 *   const weather = yield* Source.make(Weather.source) // reads HYBRID_WEATHER_URL, …
 *   return yield* weather.get(Query.make("Will it rain in Lisbon?"))
 * }).pipe(Effect.scoped, Effect.provide(NodeHttpClient.layerUndici))
 * // → { city: "Lisbon", condition: …, summary: "In Lisbon it is …", forecast: [ … ] }
 * ```
 *
 * @since 0.1.0
 */
import { Schema } from "effect"
import * as Source from "./Source.ts"

/**
 * `GET /weather?city=`: the current weather in the city and a three-day forecast.
 *
 * @example
 * ```ts
 * import { Weather } from "@hybrid/agent"
 *
 * const today = (b: Weather.Body) => `${b.city}: ${b.condition}, ${b.temperatureC} °C (feels ${b.feelsLikeC} °C)`
 * ```
 *
 * @since 0.1.0
 * @category schemas
 */
export const Body = Schema.Struct({
  city: Schema.String,
  observedAt: Schema.String,
  condition: Schema.String,
  temperatureC: Schema.Number,
  feelsLikeC: Schema.Number,
  humidity: Schema.Number,
  windKph: Schema.Number,
  summary: Schema.String,
  forecast: Schema.Array(Schema.Struct({ day: Schema.String, condition: Schema.String, highC: Schema.Number, lowC: Schema.Number }))
})
/** @since 0.1.0 @category models */
export type Body = typeof Body.Type

/**
 * The definition.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Query, Source, Weather } from "@hybrid/agent"
 *
 * // GET $HYBRID_WEATHER_URL/weather?city=<the query's city>
 * const forecast = Effect.gen(function*() {
 *   const weather = yield* Source.make(Weather.source)
 *   return (yield* weather.get(Query.make("weather in Lisbon"))).forecast
 * })
 * ```
 *
 * @since 0.1.0
 * @category sources
 */
export const source = Source.define({
  name: "weather",
  label: "Weather",
  schema: Body,
  request: (query) => ({ path: "/weather", params: { city: query.city } }),
  documents: (w) => [{ id: `weather-${w.city}`, title: `Weather in ${w.city}`, text: w.summary }]
})
