/**
 * The `serve` scenario's load generator, run as its own process so it never competes
 * with the server for an event loop: autocannon keeps `connections` connections busy
 * with `POST /v1/answer` (the sample queries in turn, `budgetMs` each) for `seconds`,
 * and this script prints one JSON line — every response's latency summarised per status
 * and, for errors, per status and tag (`503 Overloaded`: shed at admission; `503
 * NoAnswer`: an answer with no source), and how many 200s had every source `ok`.
 *
 * `node serve-load.ts <url> <connections> <seconds> <budgetMs>`
 */
import { createRequire } from "node:module"
import { Agent } from "@hybrid/agent"
import { args, summary } from "./serve-peer.ts"

interface Instance {
  on(event: "response", f: (client: unknown, status: number, bytes: number, ms: number) => void): void
}
type Autocannon = (options: Record<string, unknown>, done: (error: unknown, result: unknown) => void) => Instance

const autocannon = createRequire(import.meta.url)("autocannon") as Autocannon

const { budgetMs, connections, seconds, url } = args("serve-load.ts")

const latencies = new Map<string, Array<number>>()
/** The status (and error tag) of the response autocannon is about to report: `onResponse` runs just before its `response` event. */
let lastKey = ""
let allOk = 0
let someOk = 0
let next = 0


const started = performance.now()
const instance = autocannon({
  url,
  connections,
  duration: seconds,
  requests: [{
    method: "POST",
    path: "/v1/answer",
    headers: { "content-type": "application/json" },
    setupRequest: (request: Record<string, unknown>) => ({
      ...request,
      body: JSON.stringify({ query: Agent.sampleQueries[next++ % Agent.sampleQueries.length], budgetMs })
    }),
    onResponse: (status: number, body: string) => {
      lastKey = String(status)
      if (status !== 200) {
        try {
          lastKey = `${status} ${(JSON.parse(body) as { error: { tag: string } }).error.tag}`
        } catch {
          // not a JSON error body: the status alone
        }
        return
      }
      try {
        const sources = (JSON.parse(body) as { sources: ReadonlyArray<{ status: string }> }).sources
        if (sources.every((s) => s.status === "ok")) allOk++
        else if (sources.some((s) => s.status === "ok")) someOk++
      } catch {
        // a 200 that is not an answer counts as neither
      }
    }
  }]
}, (error) => {
  if (error !== null && error !== undefined) {
    console.error(String(error))
    process.exit(1)
  }
  const elapsedS = (performance.now() - started) / 1000
  const byStatus = summary(latencies)
  const total = [...latencies.values()].reduce((n, ms) => n + ms.length, 0)
  const ok = latencies.get("200")?.length ?? 0
  console.log(JSON.stringify({ connections, seconds: elapsedS, total, ok, allOk, someOk, byStatus }))
})
instance.on("response", (_client, status, _bytes, ms) => {
  const key = lastKey.startsWith(String(status)) ? lastKey : String(status)
  const list = latencies.get(key) ?? []
  list.push(ms)
  latencies.set(key, list)
})
