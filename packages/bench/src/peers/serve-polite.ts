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
import { args, Replies } from "./serve-peer.ts"

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

const replies = new Replies()
let next = 0
let waitedMs = 0

const started = performance.now()
const end = started + seconds * 1000

const loop = async () => {
  while (performance.now() < end) {
    const reply = await post(Agent.sampleQueries[next++ % Agent.sampleQueries.length]!)
    replies.add(replies.key(reply.status, reply.body), reply.ms)
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
console.log(replies.line({ connections, seconds: elapsedS, waitedS: waitedMs / 1000 }))
