/**
 * The option checks every Hybrid constructor uses, for code built on Hybrid: each one
 * returns the value when it is usable and otherwise throws an `InvalidOption` naming the
 * constructor (`where`), the option and the value — so a bad setting fails at start-up
 * with a message a person can act on, the same way `Retry.policy` or `Limit.rate` do.
 *
 * When to use: in a constructor that takes plain options (numbers, durations, literals)
 * and should reject them the way core does. Gotcha: these throw (an `InvalidOption`
 * defect when thrown inside an `Effect`); build options before running, or catch it.
 *
 * @example
 * ```ts
 * import type { Duration } from "effect"
 * import { Options } from "@hybrid/core"
 *
 * const make = (opts: { readonly size: number; readonly timeout: Duration.Input }) => ({
 *   size: Options.integer("Cache.make", "size", opts.size),
 *   timeoutMs: Options.duration("Cache.make", "timeout", opts.timeout, true)
 * })
 * make({ size: 10, timeout: "2 seconds" }) // { size: 10, timeoutMs: 2000 }
 * // make({ size: 0, timeout: "2 seconds" }) throws:
 * // Cache.make: option "size" must be a positive integer, got 0
 * ```
 *
 * @since 0.1.0
 */
import type { Duration } from "effect"
import * as internal from "./internal/options.ts"

/**
 * An integer ≥ `min` (default 1), else `InvalidOption`.
 *
 * @example
 * ```ts
 * import { Options } from "@hybrid/core"
 *
 * Options.integer("Pool.make", "workers", 4) // 4
 * Options.integer("Pool.make", "retries", 0, 0) // 0
 * ```
 *
 * @since 0.1.0
 * @category validation
 */
export const integer: (where: string, option: string, value: number, min?: number) => number = internal.integer

/**
 * A finite number ≥ `min` (default 0), else `InvalidOption`.
 *
 * @example
 * ```ts
 * import { Options } from "@hybrid/core"
 *
 * Options.finite("Fixtures.layer", "scale", 0.05) // 0.05
 * ```
 *
 * @since 0.1.0
 * @category validation
 */
export const finite: (where: string, option: string, value: number, min?: number) => number = internal.finite

/**
 * A number in [0, 1], else `InvalidOption`.
 *
 * @example
 * ```ts
 * import { Options } from "@hybrid/core"
 *
 * Options.ratio("Faults.validate", "errorRate", 0.3) // 0.3
 * ```
 *
 * @since 0.1.0
 * @category validation
 */
export const ratio: (where: string, option: string, value: number) => number = internal.ratio

/**
 * A finite duration ≥ 0 (> 0 when `positive`), in milliseconds, else `InvalidOption`.
 * `NaN` is rejected (Effect's `Duration.fromInput` would read it as zero).
 *
 * @example
 * ```ts
 * import { Options } from "@hybrid/core"
 *
 * Options.duration("Agent.layer", "llmReserve", "3 seconds") // 3000
 * Options.duration("Agent.layer", "llmReserve", 250) // 250
 * ```
 *
 * @since 0.1.0
 * @category validation
 */
export const duration: (where: string, option: string, value: Duration.Input, positive?: boolean) => number =
  internal.duration

/**
 * One of `allowed`, else `InvalidOption` listing them.
 *
 * @example
 * ```ts
 * import { Options } from "@hybrid/core"
 *
 * Options.oneOf("Agent.answer", "mode", "hybrid", ["hybrid", "sequential"]) // "hybrid"
 * ```
 *
 * @since 0.1.0
 * @category validation
 */
export const oneOf: <const L extends string>(where: string, option: string, value: L, allowed: ReadonlyArray<L>) => L =
  internal.oneOf

/**
 * Checks `min ≤ max` for two options that bound each other, else `InvalidOption` naming
 * `minName`.
 *
 * @example
 * ```ts
 * import { Options } from "@hybrid/core"
 *
 * Options.ordered("Faults.uniform", "min", 100, "max", 300) // ok, returns nothing
 * ```
 *
 * @since 0.1.0
 * @category validation
 */
export const ordered: (where: string, minName: string, min: number, maxName: string, max: number) => void =
  internal.ordered

/**
 * Throws the `InvalidOption` every check above throws — for a rule of your own: `value`
 * is rendered for the message (strings quoted, durations formatted, objects as JSON).
 *
 * @example
 * ```ts
 * import { Options } from "@hybrid/core"
 *
 * const port = (value: number) => value > 0 && value < 65536 ? value : Options.reject("Server.make", "port", value, "a TCP port")
 * port(8080) // 8080
 * ```
 *
 * @since 0.1.0
 * @category validation
 */
export const reject: (where: string, option: string, value: unknown, expected: string) => never = internal.reject
