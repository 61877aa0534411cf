/**
 * The News source: `GET {HYBRID_NEWS_URL}/news?q=&limit=` decoded as `FixtureData.News`,
 * under the news source's own timeout, retries, circuit breaker, rate limit and hedging
 * (`HYBRID_NEWS_*`, see `Source`).
 *
 * When to use: provide `News.layer` (it needs an `HttpClient`) and call
 * `search(query)`. With `Fixtures` in context and no `HYBRID_NEWS_URL`, it talks to the
 * fixture news server.
 *
 * Gotcha: every failure is a `SourceError` — read `reason` for the status to report.
 *
 * @example
 * ```ts
 * import { Effect, Layer } from "effect"
 * import { NodeHttpClient } from "@effect/platform-node"
 * import { Fixtures, News } from "@hybrid/agent"
 *
 * const program = News.News.use((news) => news.search("electric cars", { limit: 3 })).pipe(
 *   Effect.provide(News.News.layer.pipe(
 *     Layer.provide([Fixtures.layer({ scale: 0.05 }), NodeHttpClient.layerUndici])
 *   ))
 * )
 * // Effect.runPromise(program) → { query: "electric cars", articles: [ …3 ] }
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
 * @category models
 */
export interface SearchOptions {
  /** Articles wanted (the server's default when missing). */
  readonly limit?: number | undefined
}

/**
 * @since 0.1.0
 * @category services
 */
export class News extends Context.Service<News, {
  readonly settings: Source.Settings
  /** The circuit's state now. */
  readonly circuit: Effect.Effect<Source.CircuitState>
  /** Recent articles about `query`. */
  readonly search: (query: string, options?: SearchOptions) => Effect.Effect<FixtureData.News, Source.SourceError>
}>()("@hybrid/agent/News") {
  /** Reads `HYBRID_NEWS_*`; the URL defaults to the running `Fixtures`' news server. */
  static readonly layer: Layer.Layer<News, Config.ConfigError, HttpClient.HttpClient> = Layer.effect(
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
  const source = yield* Source.make({ name: "news", schema: FixtureData.News, fixture: "news" })
  return News.of({
    settings: source.settings,
    circuit: source.circuit,
    search: Effect.fn("News.search")(function*(query: string, options?: SearchOptions) {
      const limit = options?.limit
      return yield* source.get("/news", limit === undefined ? { q: query } : { q: query, limit: String(limit) })
    })
  })
})
