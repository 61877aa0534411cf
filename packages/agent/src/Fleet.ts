/**
 * One agent, many processes: with `HYBRID_REDIS_URL` set, every replica of the agent,
 * `hybrid batch` and `hybrid serve` share through that Redis
 *
 * - each source's and the LLM's **circuit breaker** (Effect's `CircuitBreaker` with its
 *   Redis store, keyed per source and per LLM endpoint): the fleet opens and half-opens
 *   one circuit together;
 * - every **named rate limit** (`Limit.rate` with a `key`: a source's rpm, the LLM's
 *   rpm/tpm, `hybrid batch --rpm/--tpm`) on `RedisLimit`: one exact sliding window;
 * - every **named retry budget** (`Retry.budget` with a `key`) and **learned limit**
 *   (`Limit.learned` with a `key`): the fleet's retries counted together, and a rate
 *   learned from one replica's 429s pacing them all.
 *
 * Unset, everything stays in memory, per process, as before. Read with `Config`:
 *
 * | variable | default | |
 * |---|---|---|
 * | `HYBRID_REDIS_URL` | unset | e.g. `redis://127.0.0.1:6379` |
 * | `HYBRID_REDIS_PREFIX` | `hybrid:` | prefix of every key (one per environment) |
 * | `HYBRID_REDIS_TIMEOUT` | `500 millis` | bound of every limit store call |
 * | `HYBRID_REDIS_EXPECTED_PROCESSES` | unset: fail closed | on a Redis failure, fall back to `limit / N` per process |
 *
 * @example
 * ```ts
 * import { Effect, Layer } from "effect"
 * import { Fleet } from "@hybrid/agent"
 * import { Limit } from "@hybrid/core"
 *
 * // a named limit: shared through Redis when HYBRID_REDIS_URL is set, in memory otherwise
 * const program = Limit.rate({ limit: 600, window: "1 minute", key: "search-rpm" }).pipe(Effect.provide(Fleet.layer))
 * ```
 *
 * @since 0.1.0
 */
import * as NodeRedis from "@effect/platform-node/NodeRedis"
import { Config, Duration, Effect, Layer, Option } from "effect"
import { CircuitBreaker, type Redis } from "effect/persistence"
import { RedisLimit } from "@hybrid/core"

/**
 * The fleet's configuration, as `layer` reads it.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Fleet } from "@hybrid/agent"
 *
 * const program = Effect.map(Fleet.config, (c) => c.url ?? "in memory")
 * ```
 *
 * @since 0.1.0
 * @category config
 */
export const config = Config.all({
  url: Config.String("HYBRID_REDIS_URL").pipe(Config.withDefault(undefined)),
  prefix: Config.String("HYBRID_REDIS_PREFIX").pipe(Config.withDefault("hybrid:")),
  timeout: Config.Duration("HYBRID_REDIS_TIMEOUT").pipe(Config.withDefault(Duration.millis(500))),
  expectedProcesses: Config.option(Config.Int("HYBRID_REDIS_EXPECTED_PROCESSES"))
})

/**
 * With `HYBRID_REDIS_URL`: `CircuitBreaker.CircuitBreakerStore` on Redis and, through
 * `RedisLimit.layer`, `Limit.SharedRateStore`, `Retry.SharedBudgetStore` and
 * `Limit.SharedLearnedStore` on Redis; without it, nothing (breakers, limits, budgets
 * stay in memory). Its outputs are looked up with
 * `Effect.serviceOption`, so the type says `never`.
 *
 * @example
 * ```ts
 * import { Layer } from "effect"
 * import { Fleet } from "@hybrid/agent"
 *
 * declare const agentLayer: Layer.Layer<never>
 * const shared = agentLayer.pipe(Layer.provide(Fleet.layer))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<never, Config.ConfigError | Redis.RedisError> = Layer.unwrap(
  Effect.map(config, (c): Layer.Layer<never, Redis.RedisError> =>
    c.url === undefined
      ? Layer.empty
      : Layer.mergeAll(
        CircuitBreaker.layerStoreRedis({ prefix: `${c.prefix}cb:` }),
        RedisLimit.layer({
          prefix: `${c.prefix}limit:`,
          timeout: c.timeout,
          onStoreError: Option.isSome(c.expectedProcesses)
            ? { fallback: { expectedProcesses: c.expectedProcesses.value } }
            : "fail"
        })
      ).pipe(Layer.provide(NodeRedis.layer({ url: c.url }))))
)
