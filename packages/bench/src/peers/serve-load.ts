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
import { args, Replies } from "./serve-peer.ts"

interface Instance {
  on(event: "response", f: (client: unknown, status: number, bytes: number, ms: number) => void): void
}
type Autocannon = (options: Record<string, unknown>, done: (error: unknown, result: unknown) => void) => Instance

const autocannon = createRequire(import.meta.url)("autocannon") as Autocannon

const { budgetMs, connections, seconds, url } = args("serve-load.ts")

const replies = new Replies()
/** The key of the response autocannon is about to report: `onResponse` runs just before its `response` event. */
let lastKey = ""
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
      lastKey = replies.key(status, body)
    }
  }]
}, (error) => {
  if (error !== null && error !== undefined) {
    console.error(String(error))
    process.exit(1)
  }
  const elapsedS = (performance.now() - started) / 1000
  console.log(replies.line({ connections, seconds: elapsedS }))
})
instance.on("response", (_client, status, _bytes, ms) => {
  replies.add(lastKey.startsWith(String(status)) ? lastKey : String(status), ms)
})
