/**
 * `hybrid serve` as an operator runs it: a child process (Node's own binary, so signals
 * reach it) on 127.0.0.1, a random port, `--scale 0.05` against the fixtures.
 */
import { assert, describe, it } from "@effect/vitest"
import { type ChildProcess, spawn } from "node:child_process"
import { fileURLToPath } from "node:url"

const main = fileURLToPath(new URL("../src/cli/main.ts", import.meta.url))

interface Server {
  readonly url: string
  readonly child: ChildProcess
  readonly stderr: () => string
  readonly exited: Promise<number | null>
}

const start = () =>
  new Promise<Server>((resolve, reject) => {
    const child = spawn(process.execPath, [main, "serve", "--port", "0", "--scale", "0.05"], { stdio: ["ignore", "pipe", "pipe"] })
    let stdout = ""
    let stderr = ""
    const exited = new Promise<number | null>((done) => child.once("exit", (code) => done(code)))
    child.stderr.on("data", (chunk) => (stderr += chunk))
    child.stdout.on("data", (chunk) => {
      stdout += chunk
      const match = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(stdout)
      if (match?.[1] !== undefined) resolve({ url: match[1], child, stderr: () => stderr, exited })
    })
    void exited.then((code) => reject(new Error(`serve exited (${code}) before listening:\n${stderr}`)))
  })

const post = async (url: string, body: string) => {
  const response = await fetch(`${url}/v1/answer`, { method: "POST", body, headers: { "content-type": "application/json" } })
  return { status: response.status, json: (await response.json()) as Record<string, any> }
}

const withServer = async (f: (server: Server) => Promise<void>) => {
  const server = await start()
  try {
    await f(server)
  } finally {
    if (server.child.exitCode === null) server.child.kill("SIGKILL")
  }
}

describe("hybrid serve", () => {
  it("validates input: bad JSON, a missing or invalid field is a 400 naming the field; /healthz", () =>
    withServer(async ({ url }) => {
      const health = await fetch(`${url}/healthz`)
      assert.strictEqual(health.status, 200)
      assert.deepStrictEqual(await health.json(), { status: "ok", inFlight: 0 })

      const notJson = await post(url, "{ query:")
      assert.strictEqual(notJson.status, 400)
      assert.include(notJson.json.error.message, "not valid JSON")

      const missing = await post(url, JSON.stringify({ budgetMs: 1_000 }))
      assert.strictEqual(missing.status, 400)
      assert.strictEqual(missing.json.error.field, "query")
      assert.match(missing.json.error.message, /^query: /)

      const negative = await post(url, JSON.stringify({ query: "rain in Oslo", budgetMs: -5 }))
      assert.strictEqual(negative.status, 400)
      assert.strictEqual(negative.json.error.field, "budgetMs")
      assert.include(negative.json.error.message, "-5")

      const wrongType = await post(url, JSON.stringify({ query: "rain in Oslo", budgetMs: "soon" }))
      assert.strictEqual(wrongType.status, 400)
      assert.strictEqual(wrongType.json.error.field, "budgetMs")

      const empty = await post(url, JSON.stringify({ query: "   " }))
      assert.strictEqual(empty.status, 400)
      assert.strictEqual(empty.json.error.field, "query")
    }), 60_000)

  it("answers concurrent requests, each with its own answer", () =>
    withServer(async ({ url }) => {
      const queries = ["rain in Oslo", "electric cars", "asyncio event loop", "vector databases in Berlin", "remote work"]
      const replies = await Promise.all(queries.map((query) => post(url, JSON.stringify({ query, budgetMs: 5_000 }))))
      for (const [i, reply] of replies.entries()) {
        assert.strictEqual(reply.status, 200, JSON.stringify(reply.json))
        assert.strictEqual(reply.json.synthesis, "llm")
        assert.deepStrictEqual(reply.json.sources.map((s: { name: string }) => s.name), ["weather", "news", "kb"])
        assert.include(reply.json.text.toLowerCase(), queries[i]!.split(" ")[0]!.toLowerCase())
      }
    }), 60_000)

  it("SIGTERM while a request is in flight: the request still gets its answer, then the process exits", () =>
    withServer(async ({ child, exited, stderr, url }) => {
      const reply = post(url, JSON.stringify({ query: "Will it rain in Oslo?", budgetMs: 5_000 }))
      // the answer takes a few hundred ms at scale 0.05: signal while it is in flight
      await new Promise((resolve) => setTimeout(resolve, 100))
      child.kill("SIGTERM")
      const answered = await reply
      assert.strictEqual(answered.status, 200, JSON.stringify(answered.json))
      assert.isAbove(answered.json.text.length, 0)
      const code = await exited
      assert.include([0, 130], code)
      assert.include(stderr(), "finishing 1 answer(s) in flight")
    }), 60_000)
})
