/**
 * What the `serve` scenario's client processes share: their command line
 * (`<url> <connections> <seconds> <budgetMs>`) and the summary of their latencies per
 * status (count, p50, p99, max).
 *
 * @example
 * ```ts
 * import { summary } from "./serve-peer.ts"
 *
 * summary(new Map([["200", [120, 80, 95]]])) // { "200": { count: 3, p50: 95, p99: 120, max: 120 } }
 * ```
 *
 * @since 0.1.0
 */

/**
 * The command line of a client process, or exit 2 with its usage.
 *
 * @example
 * ```ts
 * import { args } from "./serve-peer.ts"
 *
 * const { budgetMs, connections, seconds, url } = args("serve-load.ts")
 * ```
 *
 * @since 0.1.0
 */
export const args = (script: string) => {
  const [url, connectionsArg, secondsArg, budgetArg] = process.argv.slice(2)
  const connections = Number(connectionsArg)
  const seconds = Number(secondsArg)
  const budgetMs = Number(budgetArg)
  if (url === undefined || !(connections >= 1) || !(seconds > 0) || !(budgetMs >= 1)) {
    console.error(`usage: ${script} <url> <connections> <seconds> <budgetMs>`)
    process.exit(2)
  }
  return { url, connections, seconds, budgetMs }
}

/**
 * The `p`-th percentile of sorted values (nearest rank), `null` when there are none.
 *
 * @example
 * ```ts
 * import { percentile } from "./serve-peer.ts"
 *
 * percentile([1, 2, 3, 4], 50) // 2
 * ```
 *
 * @since 0.1.0
 */
export const percentile = (sorted: ReadonlyArray<number>, p: number): number | null =>
  sorted.length === 0 ? null : sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!

/**
 * Latencies per status summarised: count, p50, p99 and max of each.
 *
 * @example
 * ```ts
 * import { summary } from "./serve-peer.ts"
 *
 * summary(new Map([["503 Overloaded", [2, 1]]]))["503 Overloaded"]!.max // 2
 * ```
 *
 * @since 0.1.0
 */
export const summary = (latencies: ReadonlyMap<string, ReadonlyArray<number>>) =>
  Object.fromEntries([...latencies.entries()].map(([status, ms]) => {
    const sorted = [...ms].sort((a, b) => a - b)
    return [status, { count: sorted.length, p50: percentile(sorted, 50), p99: percentile(sorted, 99), max: sorted.at(-1) ?? null }]
  }))
