/**
 * `HYBRID_REDIS_URL`: the news source's circuit breaker shared by real agent processes
 * through a real Redis (no mocks) — A opens it, B fails fast without a request, and
 * after the open duration one half-open probe goes through for the whole fleet.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { type ChildProcess, spawn } from "node:child_process"
import * as http from "node:http"
import type * as net from "node:net"
import { fileURLToPath } from "node:url"
import { redisUrl, requireRedis, uniquePrefix } from "../../core/test/redis.ts"

const enabled = await requireRedis("Fleet breaker tests")
const node = fileURLToPath(new URL("../../../node_modules/node/bin/node", import.meta.url))
const child = fileURLToPath(new URL("./fixtures/fleet-breaker-child.ts", import.meta.url))
const llmChild = fileURLToPath(new URL("./fixtures/fleet-llm-child.ts", import.meta.url))

/** An OpenAI-compatible server: 500 until `healthy`, then a chat completion; counts requests. */
const llmServer = () =>
  new Promise<{ url: string; requests: () => number; heal: () => void; close: () => void }>((resolve) => {
    let requests = 0
    let healthy = false
    const server = http.createServer((_request, response) => {
      requests++
      if (!healthy) return void response.writeHead(500, { "content-type": "application/json" }).end(JSON.stringify({ error: { message: "down" } }))
      response.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({
        id: "c1",
        model: "m",
        choices: [{ message: { content: "back" }, finish_reason: "stop" }],
        usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 }
      }))
    })
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo
      resolve({
        url: `http://127.0.0.1:${port}/v1`,
        requests: () => requests,
        heal: () => {
          healthy = true
        },
        close: () => server.close()
      })
    })
  })

/** A news server: 500 until `healthy`, then a valid body after `delayMs`; counts requests. */
const newsServer = () =>
  new Promise<{ url: string; requests: () => number; heal: (delayMs: number) => void; close: () => void }>((resolve) => {
    let requests = 0
    let healthy = false
    let delay = 0
    const server = http.createServer((_request, response) => {
      requests++
      if (!healthy) {
        response.writeHead(500).end("down")
        return
      }
      setTimeout(() => response.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ query: "electric cars", articles: [] })), delay)
    })
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo
      resolve({
        url: `http://127.0.0.1:${port}`,
        requests: () => requests,
        heal: (delayMs) => {
          healthy = true
          delay = delayMs
        },
        close: () => server.close()
      })
    })
  })

interface Agent {
  readonly proc: ChildProcess
  readonly ready: Promise<void>
  readonly done: Promise<Array<Record<string, unknown>>>
}

const agent = (calls: number, env: Record<string, string>, script = child): Agent => {
  const proc = spawn(node, [script, String(calls)], { stdio: ["pipe", "pipe", "inherit"], env: { ...process.env, ...env } })
  let out = ""
  const ready = new Promise<void>((resolve) =>
    proc.stdout!.setEncoding("utf8").on("data", (chunk: string) => {
      out += chunk
      if (out.startsWith("ready\n")) resolve()
    })
  )
  const done = new Promise<Array<Record<string, unknown>>>((resolve, reject) =>
    proc.on("exit", (code) =>
      code === 0
        ? resolve(out.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as Record<string, unknown>))
        : reject(new Error(`agent process exited with ${code}`))
    )
  )
  return { proc, ready, done }
}

/** Releases agents (already started and ready) together, returns what each printed. */
const run = async (agents: ReadonlyArray<Agent>) => {
  for (const a of agents) a.proc.stdin!.write("go\n")
  return Promise.all(agents.map((a) => a.done))
}

describe.skipIf(!enabled)("Fleet: a source's circuit breaker shared through Redis", () => {
  it.live("process A opens the circuit; process B fails fast; after the open duration one probe for the fleet", () =>
    Effect.gen(function*() {
      const server = yield* Effect.acquireRelease(Effect.promise(newsServer), (s) => Effect.sync(s.close))
      const env = {
        HYBRID_REDIS_URL: redisUrl,
        HYBRID_REDIS_PREFIX: uniquePrefix("fleet-breaker"),
        HYBRID_NEWS_URL: server.url,
        HYBRID_NEWS_RETRIES: "0",
        HYBRID_NEWS_BREAKER_FAILURES: "3",
        HYBRID_NEWS_BREAKER_OPEN: "1500 millis",
        HYBRID_NEWS_BREAKER_PROBES: "1", // one probe for the fleet (the default lets 3 run at once half-open)
        HYBRID_NEWS_TIMEOUT: "3 seconds"
      }
      // every process starts now (imports take seconds on a loaded machine), each phase releases its own
      const processes = [agent(3, env), agent(1, env), agent(1, env), agent(1, env)]
      yield* Effect.addFinalizer(() => Effect.sync(() => processes.forEach((p) => p.proc.kill("SIGKILL"))))
      yield* Effect.promise(() => Promise.all(processes.map((p) => p.ready)))
      const [pa, pb, pc, pd] = processes
      // A: three 500s open the circuit, in Redis
      const [a] = yield* Effect.promise(() => run([pa!]))
      assert.deepStrictEqual(a!.slice(0, 3).map((l) => l["outcome"]), ["status", "status", "status"])
      assert.deepStrictEqual(a![3], { circuit: "open" })
      assert.strictEqual(server.requests(), 3)

      // B, another process: fails fast, sends nothing
      const [b] = yield* Effect.promise(() => run([pb!]))
      assert.strictEqual(b![0]!["outcome"], "circuit-open")
      assert.isBelow(b![0]!["ms"] as number, 200)
      assert.strictEqual(server.requests(), 3)

      // after the open duration, the upstream is back but slow: two processes call at once,
      // one probe goes through for the fleet, the other is refused while it runs
      server.heal(800)
      yield* Effect.sleep(1_600)
      const [c, d] = yield* Effect.promise(() => run([pc!, pd!]))
      const outcomes = [c![0]!["outcome"], d![0]!["outcome"]].sort()
      assert.deepStrictEqual(outcomes, ["circuit-open", "ok"])
      assert.strictEqual(server.requests(), 4)
      const probe = c![0]!["outcome"] === "ok" ? c! : d!
      assert.deepStrictEqual(probe[1], { circuit: "closed" })
    }), 60_000)

  it.live("the LLM's breaker too: process A opens it; process B fails fast, sends nothing; after the open duration a probe closes it for the fleet", () =>
    Effect.gen(function*() {
      const server = yield* Effect.acquireRelease(Effect.promise(llmServer), (s) => Effect.sync(s.close))
      const env = {
        HYBRID_REDIS_URL: redisUrl,
        HYBRID_REDIS_PREFIX: uniquePrefix("fleet-llm-breaker"),
        OPENAI_BASE_URL: server.url,
        HYBRID_LLM_RETRIES: "0",
        HYBRID_LLM_BREAKER_FAILURES: "3",
        HYBRID_LLM_BREAKER_OPEN: "1500 millis"
      }
      const processes = [agent(3, env, llmChild), agent(1, env, llmChild), agent(1, env, llmChild)]
      yield* Effect.addFinalizer(() => Effect.sync(() => processes.forEach((p) => p.proc.kill("SIGKILL"))))
      yield* Effect.promise(() => Promise.all(processes.map((p) => p.ready)))
      const [pa, pb, pc] = processes
      const [a] = yield* Effect.promise(() => run([pa!]))
      assert.deepStrictEqual(a!.slice(0, 3).map((l) => l["outcome"]), ["InternalProviderError", "InternalProviderError", "InternalProviderError"])
      assert.deepStrictEqual(a![3], { circuit: "open" })
      assert.strictEqual(server.requests(), 3)
      const [b] = yield* Effect.promise(() => run([pb!]))
      assert.strictEqual(b![0]!["outcome"], "InternalProviderError")
      assert.include(b![0]!["detail"] as string, "circuit open")
      assert.strictEqual(server.requests(), 3) // B sent nothing
      server.heal()
      yield* Effect.sleep(1_600)
      const [c] = yield* Effect.promise(() => run([pc!]))
      assert.strictEqual(c![0]!["outcome"], "ok")
      assert.deepStrictEqual(c![1], { circuit: "closed" })
      assert.strictEqual(server.requests(), 4)
    }), 60_000)
})
