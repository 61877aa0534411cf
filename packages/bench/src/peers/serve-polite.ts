/**
 * The `serve` scenario's second load generator, in its own process: `connections` closed
 * loops of `POST /v1/answer` (the sample queries in turn, `budgetMs` each) for `seconds`,
 * like `serve-load.ts` (autocannon) except that a loop refused with a 503 waits out the
 * response's `Retry-After` (plus up to 10 % jitter) before it asks again — the client an
 * operator hopes for.
 * Keep-alive connections, at most `connections` of them (`node:http` agent). Prints one
 * JSON line of the same shape as `serve-load.ts`: every response's latency per status
 * (and per error tag), the 200s with every source `ok`, and how long the loops spent
 * waiting out `Retry-After`.
 *
 * `node serve-polite.ts <url> <connections> <seconds> <budgetMs>`
 *
 * @since 0.1.0
 */
import { Agent as HttpAgent, request as httpRequest } from "node:http"
import { setTimeout as sleep } from "node:timers/promises"
import { Agent } from "@hybrid/agent"
import { args, summary } from "./serve-peer.ts"

const { budgetMs, connections, seconds, url } = args("serve-polite.ts")

const agent = new HttpAgent({ keepAlive: true, maxSockets: connections })

interface Reply {
  readonly status: number
  readonly body: string
  readonly retryAfter: string | undefined
  readonly ms: number
}

const post = (query: string) =>
  new Promise<Reply>((resolve) => {
    const body = JSON.stringify({ query, budgetMs })
    const start = performance.now()
    const request = httpRequest(`${url}/v1/answer`, {
      method: "POST",
      agent,
      headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) }
    }, (response) => {
      let text = ""
      response.setEncoding("utf8")
      response.on("data", (chunk: string) => (text += chunk))
      response.on("end", () => {
        const header = response.headers["retry-after"]
        resolve({ status: response.statusCode ?? 0, body: text, retryAfter: typeof header === "string" ? header : undefined, ms: performance.now() - start })
      })
    })
    request.on("error", () => resolve({ status: 0, body: "", retryAfter: undefined, ms: performance.now() - start }))
    request.end(body)
  })

const latencies = new Map<string, Array<number>>()
let allOk = 0
let someOk = 0
let next = 0
let waitedMs = 0

const keyOf = (reply: Reply): string => {
  if (reply.status === 200) {
    try {
      const sources = (JSON.parse(reply.body) as { sources: ReadonlyArray<{ status: string }> }).sources
      if (sources.every((s) => s.status === "ok")) allOk++
      else if (sources.some((s) => s.status === "ok")) someOk++
    } catch {
      // a 200 that is not an answer counts as neither
    }
    return "200"
  }
  try {
    return `${reply.status} ${(JSON.parse(reply.body) as { error: { tag: string } }).error.tag}`
  } catch {
    return String(reply.status)
  }
}

const started = performance.now()
const end = started + seconds * 1000

const loop = async () => {
  while (performance.now() < end) {
    const reply = await post(Agent.sampleQueries[next++ % Agent.sampleQueries.length]!)
    const key = keyOf(reply)
    const list = latencies.get(key) ?? []
    list.push(reply.ms)
    latencies.set(key, list)
    const retryAfterS = Number(reply.retryAfter)
    if (reply.status === 503 && Number.isFinite(retryAfterS) && retryAfterS > 0) {
      // up to 10 % more, at random, as well-behaved clients add jitter: 200 loops refused together would otherwise all ask again in the same millisecond
      const wait = Math.min(retryAfterS * 1000 * (1 + 0.1 * Math.random()), Math.max(0, end - performance.now()))
      waitedMs += wait
      await sleep(wait)
    }
  }
}


await Promise.all(Array.from({ length: connections }, loop))
agent.destroy()
const elapsedS = (performance.now() - started) / 1000
const byStatus = summary(latencies)
const total = [...latencies.values()].reduce((n, ms) => n + ms.length, 0)
const ok = latencies.get("200")?.length ?? 0
console.log(JSON.stringify({ connections, seconds: elapsedS, total, ok, allOk, someOk, waitedS: waitedMs / 1000, byStatus }))
