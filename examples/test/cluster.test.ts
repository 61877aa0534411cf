/**
 * The scaling-out example runs: `cluster/main.ts --scale 0.05` starts two runner processes
 * and calls them through PostgreSQL. Skipped with a note where no PostgreSQL answers —
 * except under `CI`, where that is a failure.
 */
import { assert, describe, it } from "@effect/vitest"
import { execFile } from "node:child_process"
import * as net from "node:net"
import { fileURLToPath } from "node:url"

const database = process.env.HYBRID_TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test"
const main = fileURLToPath(new URL("../cluster/main.ts", import.meta.url))

const answers = () =>
  new Promise<boolean>((resolve) => {
    const { hostname, port } = new URL(database)
    const socket = net.connect({ host: hostname, port: Number(port || 5432) })
    socket.setTimeout(2_000)
    socket.once("connect", () => (socket.destroy(), resolve(true)))
    socket.once("timeout", () => (socket.destroy(), resolve(false)))
    socket.once("error", () => resolve(false))
  })

describe("the scaling-out example", () => {
  it("cluster/main.ts --scale 0.05 runs the lesson-4 tasks on two runner processes", async (t) => {
    if (!(await answers())) {
      if (process.env.CI) throw new Error(`CI is set and PostgreSQL does not answer at ${database}`)
      console.warn(`scaling-out example skipped: no PostgreSQL at ${database} (set HYBRID_TEST_DATABASE_URL)`)
      return t.skip()
    }
    const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>(
      (resolve) =>
        execFile(process.execPath, [main, "--scale", "0.05"], {
          timeout: 90_000,
          env: { ...process.env, HYBRID_DATABASE_URL: database }
        }, (error, stdout, stderr) =>
          resolve({ code: error === null ? 0 : typeof error.code === "number" ? error.code : null, stdout, stderr }))
    )
    assert.strictEqual(code, 0, stderr)
    assert.include(stdout, "[runner-1] serving")
    assert.include(stdout, "[runner-2] serving")
    assert.match(stdout, /ClusterRunner, 2 runner processes: +[\d.]+ s/)
  }, 100_000)
})
