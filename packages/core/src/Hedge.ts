/**
 * Hedged requests: when a call has not answered after `delay`, start a backup attempt,
 * and take whichever answers first (Dean & Barroso, "The Tail at Scale"). Not in the
 * asyncio course; the cheapest cure for tail latency there is.
 *
 * `after(delay, { max })(effect)` starts attempt k (k = 1 … max) at `k × delay` unless an
 * attempt has already succeeded. The first success wins and every other attempt is
 * interrupted. It fails only when every attempt started has failed.
 *
 * **For idempotent calls only**: several attempts may reach the server and all of them
 * may take effect. Keep `max` small (1 or 2) and `delay` near the latency's p95, so only
 * the slowest few percent of calls are sent twice.
 *
 * Underneath: `Effect.raceAll` (first success wins, losers interrupted) over delayed
 * copies of the effect. Nothing is written by hand but the options check.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Hedge } from "@hybrid/core"
 *
 * declare const search: Effect.Effect<ReadonlyArray<string>>
 * // a backup request after 200 ms, another after 400 ms; first answer wins
 * const fast = search.pipe(Hedge.after("200 millis", { max: 2 }))
 * ```
 *
 * @since 0.1.0
 */
import { Duration, Effect } from "effect"
import * as options from "./internal/options.ts"

/**
 * How many backups `after` may start.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Hedge } from "@hybrid/core"
 *
 * const twoBackups: Hedge.HedgeOptions = { max: 2 }
 * const read = Effect.succeed("row").pipe(Hedge.after("100 millis", twoBackups))
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface HedgeOptions {
  /** Backup attempts at most (so at most `1 + max` attempts). Default 1. */
  readonly max?: number | undefined
}

/**
 * Runs `self`, and a backup copy every `delay` while none has succeeded, up to `max`
 * backups. The first success wins; the rest are interrupted.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Hedge } from "@hybrid/core"
 *
 * const query = Effect.sleep("250 millis").pipe(Effect.as("row"))
 * // a second copy starts if the first has not answered within 100 ms; the first answer wins
 * const read = query.pipe(Hedge.after("100 millis"))
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const after = (delay: Duration.Input, opts?: HedgeOptions) => {
  const millis = options.duration("Hedge.after", "delay", delay)
  const max = options.integer("Hedge.after", "max", opts?.max ?? 1, 0)
  return <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    max === 0
      ? self
      : Effect.raceAll(
        Array.from({ length: max + 1 }, (_, k) => k === 0 ? self : Effect.andThen(Effect.sleep(k * millis), self))
      )
}
