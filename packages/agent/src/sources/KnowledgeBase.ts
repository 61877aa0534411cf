/**
 * The Knowledge-base source: `GET {HYBRID_KB_URL}/kb/search?q=&limit=` decoded as
 * `KnowledgeBase.Body`, one document per result for processing, under the knowledge
 * base's own timeout, retries, circuit breaker, rate limit and hedging (`HYBRID_KB_*`,
 * see `Source`). The search is the query's content words (`Query.terms`);
 * `source.withLimit(n)` asks for another number of documents than `source`'s 3.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
 * import { KnowledgeBase, Query, Source } from "@hybrid/agent"
 *
 * const program = Effect.gen(function*() {
 *   const kb = yield* Source.make(KnowledgeBase.source) // reads HYBRID_KB_URL, …
 *   return yield* kb.get(Query.make("What does Deadline.within do?"))
 * }).pipe(Effect.scoped, Effect.provide(NodeHttpClient.layerUndici))
 * // → { query: "Deadline.within", documents: [ …3 ] }
 * ```
 *
 * @since 0.1.0
 */
import { Schema } from "effect"
import * as Source from "./Source.ts"

/**
 * `GET /kb/search?q=`: the documents best matching the query, best first.
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import { KnowledgeBase } from "@hybrid/agent"
 *
 * const body = Schema.decodeUnknownSync(KnowledgeBase.Body)({ query: "asyncio", documents: [] })
 * const titles = (b: KnowledgeBase.Body) => b.documents.map((d) => `${d.title} (${d.score})`)
 * ```
 *
 * @since 0.1.0
 * @category schemas
 */
export const Body = Schema.Struct({
  query: Schema.String,
  documents: Schema.Array(Schema.Struct({ id: Schema.String, title: Schema.String, score: Schema.Number, text: Schema.String }))
})
/** @since 0.1.0 @category models */
export type Body = typeof Body.Type

/**
 * The definition, asking for 3 documents; `source.withLimit(n)` asks for `n`.
 *
 * @example
 * ```ts
 * import { Agent, KnowledgeBase } from "@hybrid/agent"
 *
 * // an agent that answers from the knowledge base alone (GET $HYBRID_KB_URL/kb/search)
 * const agent = Agent.layer({ sources: [KnowledgeBase.source] })
 * ```
 *
 * @since 0.1.0
 * @category sources
 */
export const source = Source.searchApi({
  name: "kb",
  label: "Knowledge base",
  schema: Body,
  path: "/kb/search",
  limit: 3,
  documents: (k) => k.documents.map((d) => ({ id: d.id, title: d.title, text: d.text }))
})
