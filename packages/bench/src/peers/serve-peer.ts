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

/**
 * What a client process counts of the replies it gets: each reply's latency under its key
 * — the status, with the error's tag for a JSON error (`503 Overloaded`: shed at
 * admission; `503 NoAnswer`: an answer with no source) — and how many 200s had every
 * source `ok`, or some; then the one JSON line the `serve` scenario reads.
 *
 * @example
 * ```ts
 * import { Replies } from "./serve-peer.ts"
 *
 * const replies = new Replies()
 * replies.add(replies.key(503, `{"error":{"tag":"Overloaded"}}`), 4.2)
 * replies.line({ connections: 1, seconds: 1 }) // {"connections":1,"seconds":1,"total":1,"ok":0,…}
 * ```
 *
 * @since 0.1.0
 */
export class Replies {
  readonly latencies = new Map<string, Array<number>>()
  allOk = 0
  someOk = 0

  /** The key of a reply; a 200's sources are counted. */
  key(status: number, body: string): string {
    if (status !== 200) {
      try {
        return `${status} ${(JSON.parse(body) as { error: { tag: string } }).error.tag}`
      } catch {
        return String(status) // not a JSON error body: the status alone
      }
    }
    try {
      const sources = (JSON.parse(body) as { sources: ReadonlyArray<{ status: string }> }).sources
      if (sources.every((s) => s.status === "ok")) this.allOk++
      else if (sources.some((s) => s.status === "ok")) this.someOk++
    } catch {
      // a 200 that is not an answer counts as neither
    }
    return "200"
  }

  add(key: string, ms: number): void {
    const list = this.latencies.get(key)
    if (list === undefined) this.latencies.set(key, [ms])
    else list.push(ms)
  }

  /** The JSON line: `fields`, then the totals and every key's summary. */
  line(fields: Record<string, unknown>): string {
    const total = [...this.latencies.values()].reduce((n, ms) => n + ms.length, 0)
    const ok = this.latencies.get("200")?.length ?? 0
    return JSON.stringify({ ...fields, total, ok, allOk: this.allOk, someOk: this.someOk, byStatus: summary(this.latencies) })
  }
}
