/**
 * The News source: `GET {HYBRID_NEWS_URL}/news?q=&limit=` decoded as `News.Body`, one
 * document per article for processing, under the news source's own timeout, retries,
 * circuit breaker, rate limit and hedging (`HYBRID_NEWS_*`, see `Source`). The search is
 * the query's content words (`Query.terms`); `source.withLimit(n)` asks for another number
 * of articles than `source`'s 10.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
 * import { News, Query, Source } from "@hybrid/agent"
 *
 * const program = Effect.gen(function*() {
 *   const news = yield* Source.make(News.source.withLimit(3)) // reads HYBRID_NEWS_URL, …
 *   return yield* news.get(Query.make("What is new about electric cars?"))
 * }).pipe(Effect.scoped, Effect.provide(NodeHttpClient.layerUndici))
 * // → { query: "electric cars", articles: [ …3 ] }
 * ```
 *
 * @since 0.1.0
 */
import { Schema } from "effect"
import * as Source from "./Source.ts"

/**
 * `GET /news?q=`: recent articles about the query, newest first.
 *
 * @example
 * ```ts
 * import { News } from "@hybrid/agent"
 *
 * const headlines = (b: News.Body) => b.articles.map((a) => `${a.publishedAt.slice(0, 10)} ${a.title} — ${a.source}`)
 * ```
 *
 * @since 0.1.0
 * @category schemas
 */
export const Body = Schema.Struct({
  query: Schema.String,
  articles: Schema.Array(Schema.Struct({
    id: Schema.String,
    title: Schema.String,
    source: Schema.String,
    publishedAt: Schema.String,
    url: Schema.String,
    summary: Schema.String
  }))
})
/** @since 0.1.0 @category models */
export type Body = typeof Body.Type

/**
 * The definition, asking for 10 articles; `source.withLimit(n)` asks for `n`.
 *
 * @example
 * ```ts
 * import { Agent, News } from "@hybrid/agent"
 *
 * // GET $HYBRID_NEWS_URL/news?q=<terms>&limit=10
 * const agent = Agent.layer({ sources: [News.source] })
 * ```
 *
 * @since 0.1.0
 * @category sources
 */
export const source = Source.searchApi({
  name: "news",
  label: "News",
  schema: Body,
  path: "/news",
  limit: 10,
  documents: (n) => n.articles.map((a) => ({ id: a.id, title: a.title, text: `${a.title} (${a.source}). ${a.summary}` }))
})
