/**
 * `hybrid runner` and `hybrid batch --cluster` as an operator runs them: a runner process
 * on PostgreSQL, then a batch whose CPU work goes to it. Skipped with a note where no
 * PostgreSQL answers — except under `CI`, where that is a failure.
 */
import { assert, describe, it } from "@effect/vitest"
import * as ClusterRunner from "@hybrid/cluster/ClusterRunner"
import { PgClient } from "@effect/sql-pg"
import { Effect, Redacted } from "effect"
import { execFile, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

const main = fileURLToPath(new URL("../src/cli/main.ts", import.meta.url))
const database = process.env.HYBRID_TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test"

const answers = () =>
  new Promise<boolean>((resolve) => {
    const { hostname, port } = new URL(database)
    const socket = net.connect({ host: hostname, port: Number(port || 5432) })
    socket.setTimeout(2_000)
    socket.once("connect", () => (socket.destroy(), resolve(true)))
    socket.once("timeout", () => (socket.destroy(), resolve(false)))
    socket.once("error", () => resolve(false))
  })

const freePort = () =>
  new Promise<number>((resolve) => {
    const server = net.createServer().listen(0, "127.0.0.1", () => {
      const port = (server.address() as net.AddressInfo).port
      server.close(() => resolve(port))
    })
  })

/** One query on the test database. */
const sql = <A extends object>(query: string): Promise<ReadonlyArray<A>> =>
  Effect.runPromise(
    Effect.gen(function*() {
      const client = yield* PgClient.PgClient
      return yield* client.unsafe<A>(query)
    }).pipe(
      Effect.provide(PgClient.layer({ url: Redacted.make(database) })),
      Effect.scoped
    )
  ) as Promise<ReadonlyArray<A>>

const hybrid = (args: ReadonlyArray<string>, env: Record<string, string>) =>
  new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
    execFile(process.execPath, [main, ...args], { env: { ...process.env, ...env }, timeout: 90_000 }, (error, stdout, stderr) =>
      resolve({ code: error === null ? 0 : typeof error.code === "number" ? error.code : null, stdout, stderr }))
  )

describe("hybrid runner / batch --cluster", () => {
  it("a batch with --cluster answers every line with its CPU work on a runner process", async (t) => {
    if (!(await answers())) {
      if (process.env.CI) throw new Error(`CI is set and PostgreSQL does not answer at ${database}`)
      console.warn(`cluster CLI test skipped: no PostgreSQL at ${database} (set HYBRID_TEST_DATABASE_URL)`)
      return t.skip()
    }
    const prefix = `hc_cli_${Date.now().toString(36)}`
    // persisted, so the calls the runner served are in the cluster's message table
    const env = { HYBRID_DATABASE_URL: database, HYBRID_CLUSTER_PREFIX: prefix, HYBRID_CLUSTER_PERSISTED: "all" }
    const port = await freePort()
    const runner = spawn(process.execPath, [main, "runner", "--port", String(port), "--workers", "1"], {
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"]
    })
    let out = ""
    runner.stdout.on("data", (c: Buffer) => (out += c.toString()))
    try {
      const until = Date.now() + 60_000
      while (!out.includes(`Listening on: 127.0.0.1:${port}`) && Date.now() < until) await new Promise((r) => setTimeout(r, 50))
      assert.include(out, "hybrid runner: serving the processing tasks")
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "hybrid-cluster-cli-"))
      const input = path.join(dir, "q.jsonl")
      fs.writeFileSync(input, '{"query":"What does Deadline.within do?"}\n{"query":"What is the weather in Lisbon?"}\n')
      const output = path.join(dir, "out.jsonl")
      const batch = await hybrid(["batch", input, "-o", output, "--cluster", "--scale", "0.05"], env)
      assert.strictEqual(batch.code, 0, batch.stderr)
      const records = fs.readFileSync(output, "utf8").trim().split("\n").map((l) => JSON.parse(l))
      assert.deepStrictEqual(records.map((r: { ok: boolean }) => r.ok), [true, true])
      const served = await sql<{ n: number }>(`SELECT count(*)::int AS n FROM ${prefix}_messages WHERE processed`)
      assert.isAbove(served[0]!.n, 0, "no processing call reached the cluster")
      await Effect.runPromise(ClusterRunner.dropTables({ database, prefix }))
      fs.rmSync(dir, { recursive: true, force: true })
    } finally {
      runner.kill("SIGTERM")
    }
  }, 120_000)

  it("--cluster without a reachable database fails naming the URL without its password", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "hybrid-cluster-cli-"))
    const input = path.join(dir, "q.jsonl")
    fs.writeFileSync(input, '{"query":"hello"}\n')
    const result = await hybrid(["batch", input, "-o", path.join(dir, "o.jsonl"), "--cluster", "--scale", "0.05"], {
      HYBRID_DATABASE_URL: "postgres://app:s3cret@127.0.0.1:1/test"
    })
    assert.notStrictEqual(result.code, 0)
    // the URL is named (its userinfo masked by the cluster, or removed by the CLI's scrubbing)
    assert.include(result.stderr, "127.0.0.1:1/test")
    assert.notInclude(result.stderr + result.stdout, "s3cret")
    fs.rmSync(dir, { recursive: true, force: true })
  }, 90_000)
})
