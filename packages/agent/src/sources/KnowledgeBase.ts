/**
 * The Knowledge-base source: `GET {HYBRID_KB_URL}/kb/search?q=&limit=` decoded as
 * `FixtureData.KbResults`, under the knowledge base's own timeout, retries, circuit
 * breaker, rate limit and hedging (`HYBRID_KB_*`, see `Source`).
 *
 * When to use: provide `KnowledgeBase.layer` (it needs an `HttpClient`) and call
 * `search(query)`. With `Fixtures` in context and no `HYBRID_KB_URL`, it talks to the
 * fixture knowledge-base server.
 *
 * Gotcha: every failure is a `SourceError` — read `reason` for the status to report.
 *
 * @example
 * ```ts
 * import { Effect, Layer } from "effect"
 * import { NodeHttpClient } from "@effect/platform-node"
 * import { Fixtures, KnowledgeBase } from "@hybrid/agent"
 *
 * const program = KnowledgeBase.KnowledgeBase.use((kb) => kb.search("asyncio")).pipe(
 *   Effect.provide(KnowledgeBase.KnowledgeBase.layer.pipe(
 *     Layer.provide([Fixtures.layer({ scale: 0.05 }), NodeHttpClient.layerUndici])
 *   ))
 * )
 * // Effect.runPromise(program) → { query: "asyncio", documents: [ …3 ] }
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
  /** Documents wanted (the server's default when missing). */
  readonly limit?: number | undefined
}

/**
 * @since 0.1.0
 * @category services
 */
export class KnowledgeBase extends Context.Service<KnowledgeBase, {
  readonly settings: Source.Settings
  /** The circuit's state now. */
  readonly circuit: Effect.Effect<Source.CircuitState>
  /** The documents best matching `query`, best first. */
  readonly search: (query: string, options?: SearchOptions) => Effect.Effect<FixtureData.KbResults, Source.SourceError>
}>()("@hybrid/agent/KnowledgeBase") {
  /** Reads `HYBRID_KB_*`; the URL defaults to the running `Fixtures`' knowledge-base server. */
  static readonly layer: Layer.Layer<KnowledgeBase, Config.ConfigError, HttpClient.HttpClient> = Layer.effect(
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
  const source = yield* Source.make({ name: "kb", schema: FixtureData.KbResults, fixture: "kb" })
  return KnowledgeBase.of({
    settings: source.settings,
    circuit: source.circuit,
    search: Effect.fn("KnowledgeBase.search")(function*(query: string, options?: SearchOptions) {
      const limit = options?.limit
      return yield* source.get("/kb/search", limit === undefined ? { q: query } : { q: query, limit: String(limit) })
    })
  })
})
