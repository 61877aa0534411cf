/**
 * The `serve` scenario's streaming client, in its own process: `connections` closed
 * loops of `POST /v1/answer/stream` (the sample queries in turn, `budgetMs` each) for
 * `seconds`, each request timed to its first event, its first `token` event and its
 * last event. Prints one JSON line: the medians and p99s of each (streams answered 200
 * only), the count per final event (`answer`, `error`) and per status (503s).
 *
 * `node serve-stream.ts <url> <connections> <seconds> <budgetMs>`
 *
 * @since 0.1.0
 */
import { request as httpRequest } from "node:http"
import { Agent } from "@hybrid/agent"
import { args, percentile } from "./serve-peer.ts"

const { budgetMs, connections, seconds, url } = args("serve-stream.ts")

interface Timed {
  readonly status: number
  readonly firstEventMs: number | undefined
  readonly firstTokenMs: number | undefined
  readonly totalMs: number
  readonly last: string | undefined
}

/** One streamed answer, timed; the body is read as it arrives (plain `http`, no buffering client). */
const one = (query: string) =>
  new Promise<Timed>((resolve) => {
    const body = JSON.stringify({ query, budgetMs })
    const start = performance.now()
    let firstEventMs: number | undefined
    let firstTokenMs: number | undefined
    let last: string | undefined
    const request = httpRequest(`${url}/v1/answer/stream`, {
      method: "POST",
      headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) }
    }, (response) => {
      response.setEncoding("utf8")
      response.on("data", (chunk: string) => {
        const now = performance.now() - start
        for (const match of chunk.matchAll(/^event: (\w+)/gm)) {
          firstEventMs ??= now
          if (match[1] === "token") firstTokenMs ??= now
          last = match[1]
        }
      })
      response.on("end", () =>
        resolve({ status: response.statusCode ?? 0, firstEventMs, firstTokenMs, totalMs: performance.now() - start, last }))
    })
    request.on("error", () => resolve({ status: 0, firstEventMs, firstTokenMs, totalMs: performance.now() - start, last }))
    request.end(body)
  })

const results: Array<Timed> = []
const end = performance.now() + seconds * 1000
let next = 0
await Promise.all(Array.from({ length: connections }, async () => {
  while (performance.now() < end) {
    const timed = await one(Agent.sampleQueries[next++ % Agent.sampleQueries.length]!)
    results.push(timed)
    // a refused stream: wait as Retry-After says (1 s) before the next, as a client should
    if (timed.status === 503) await new Promise((r) => setTimeout(r, 1_000))
  }
}))

const streamed = results.filter((r) => r.status === 200)
const pick = (f: (r: Timed) => number | undefined) => streamed.map(f).filter((v): v is number => v !== undefined)
const summary = (values: ReadonlyArray<number>) => {
  const sorted = [...values].sort((a, b) => a - b)
  return { count: sorted.length, p50: percentile(sorted, 50), p99: percentile(sorted, 99) }
}
const byLast: Record<string, number> = {}
for (const r of streamed) byLast[r.last ?? "none"] = (byLast[r.last ?? "none"] ?? 0) + 1
const byStatus: Record<string, number> = {}
for (const r of results) byStatus[String(r.status)] = (byStatus[String(r.status)] ?? 0) + 1
console.log(JSON.stringify({
  connections,
  seconds,
  total: results.length,
  byStatus,
  byLast,
  firstEvent: summary(pick((r) => r.firstEventMs)),
  firstToken: summary(pick((r) => r.firstTokenMs)),
  total200: summary(pick((r) => r.totalMs))
}))
