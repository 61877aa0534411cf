/**
 * `Limit.rate` on a Redis store, across real `node` processes and a real Redis (no
 * mocks): the sliding-window guarantee in every window, reservations refunded across
 * processes and freed after a SIGKILL within their lease, and a Redis that dies mid-test.
 */
import { NodeRedis } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Layer, Logger, Schedule } from "effect"
import { spawn, spawnSync } from "node:child_process"
import * as net from "node:net"
import { fileURLToPath } from "node:url"
import * as Limit from "../src/Limit.ts"
import * as RedisLimit from "../src/RedisLimit.ts"
import { start as startChild } from "./children.ts"
import { redisAnswers, redisUrl, requireRedis, uniquePrefix } from "./redis.ts"

const enabled = await requireRedis("RedisLimit tests")
const hasServer = spawnSync("redis-server", ["--version"]).status === 0
if (enabled && !hasServer) {
  if (process.env.CI) throw new Error("RedisLimit tests: redis-server is not on PATH, and CI is set")
  console.log("skipping the Redis-dies test: no redis-server on PATH (install redis-server to enable it)")
}
const child = fileURLToPath(new URL("./fixtures/redis-limit-child.ts", import.meta.url))
const start = (args: ReadonlyArray<string>) => startChild(child, args)

const promise = <A>(f: () => Promise<A>) => Effect.promise(f)

describe.skipIf(!enabled)("RedisLimit (real Redis, real processes)", () => {
  it.live("4 processes hammering one limit: every window ≤ limit (Redis timestamps), utilisation high", () =>
    Effect.gen(function*() {
      const limit = 20_000
      const window = 1_000
      const duration = 2_600
      const prefix = uniquePrefix("hammer")
      const children = Array.from({ length: 4 }, () =>
        start(["hammer", redisUrl, prefix, "tpm", String(limit), String(window), "3", String(duration), "500"]))
      yield* promise(() => Promise.all(children.map((c) => c.line((l) => l === "ready"))))
      for (const c of children) c.process.stdin!.write("go\n")
      const codes = yield* promise(() => Promise.all(children.map((c) => c.exited)))
      assert.deepStrictEqual(codes, [0, 0, 0, 0])
      const admissions = children.flatMap((c) =>
        c.lines.filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as { at: number; cost: number })
      ).sort((a, b) => a.at - b.at)
      assert.isAbove(admissions.length, 100)
      // every interval [t, t + window) starting at an admission: the sum is ≤ limit
      let worst = 0
      let j = 0
      let sum = 0
      for (let i = 0; i < admissions.length; i++) {
        while (j < admissions.length && admissions[j]!.at < admissions[i]!.at + window) sum += admissions[j++]!.cost
        worst = Math.max(worst, sum)
        sum -= admissions[i]!.cost
      }
      assert.isAtMost(worst, limit)
      // utilisation: each full window after the first admission is nearly full
      const first = admissions[0]!.at
      const full = Math.floor((duration - 500) / window)
      const perWindow = Array.from({ length: full }, (_, k) =>
        admissions.filter((a) => a.at >= first + k * window && a.at < first + (k + 1) * window)
          .reduce((s, a) => s + a.cost, 0) / limit)
      if (process.env.HYBRID_TEST_VERBOSE) console.log({ admissions: admissions.length, worst, perWindow })
      for (const u of perWindow) assert.isAtLeast(u, 0.9, `utilisation per window ${perWindow.join(", ")}`)
    }), 30_000)

  it.live("reserve in one process, reconcile there: the refund is free for another process at once", () =>
    Effect.gen(function*() {
      const prefix = uniquePrefix("refund")
      const rate = yield* Limit.rate({ limit: 1_000, window: 10_000, key: "tpm", store: RedisLimit.store({ prefix }) })
      const a = start(["refund", redisUrl, prefix, "tpm", "1000", "10000", "900", "100"])
      assert.strictEqual(yield* promise(() => a.exited), 0)
      assert.strictEqual(yield* rate.usage, 100)
      const started = Date.now()
      yield* rate.consume(900)
      assert.isBelow(Date.now() - started, 500)
      assert.strictEqual(yield* rate.usage, 1_000)
    }).pipe(Effect.provide(NodeRedis.layer({ url: redisUrl }))), 20_000)

  it.live("a process SIGKILLed while holding a reservation: the budget comes back within the lease", () =>
    Effect.gen(function*() {
      const prefix = uniquePrefix("sigkill")
      const lease = 1_500
      const window = 30_000
      const rate = yield* Limit.rate({ limit: 1_000, window, key: "tpm", store: RedisLimit.store({ prefix }) })
      const holder = start(["hold", redisUrl, prefix, "tpm", "1000", String(window), "1000", String(lease)])
      yield* promise(() => holder.line((l) => l === "held"))
      const heldAt = Date.now()
      holder.process.kill("SIGKILL")
      assert.strictEqual(yield* promise(() => holder.exited), null)
      assert.strictEqual(yield* rate.usage, 1_000)
      yield* rate.consume(1_000)
      const waited = Date.now() - heldAt
      assert.isAbove(waited, lease / 2)
      assert.isBelow(waited, lease + 1_000)
    }).pipe(Effect.provide(NodeRedis.layer({ url: redisUrl }))), 20_000)

  it.live.skipIf(!hasServer)("a Redis killed mid-test: fail closed with LimitStoreError, or fall back to limit / N with one warning, within the timeout", () =>
    Effect.gen(function*() {
      const port = yield* promise(freePort)
      const url = `redis://127.0.0.1:${port}`
      const server = yield* Effect.acquireRelease(
        Effect.sync(() => startRedis(port)),
        (p) => Effect.sync(() => p.kill("SIGKILL"))
      )
      yield* promise(() => until(() => redisAnswers(url, 200), 5_000))
      const warnings: Array<string> = []
      const capture = Logger.layer([Logger.make((o) => {
        const message = String(o.message)
        if (o.logLevel === "Warn" && message.includes("Limit.rate")) warnings.push(message)
      })])
      yield* Effect.gen(function*() {
        const timeout = 300
        const closed = yield* Limit.rate({ limit: 100, window: 10_000, key: "closed", store: RedisLimit.store({ timeout }) })
        const open = yield* Limit.rate({
          limit: 100,
          window: 10_000,
          key: "open",
          store: RedisLimit.store({ timeout, onStoreError: { fallback: { expectedProcesses: 4 } } })
        })
        yield* closed.consume(10)
        yield* open.consume(10)
        server.kill("SIGKILL")
        yield* promise(() => until(async () => !(await redisAnswers(url, 100)), 5_000))

        let started = Date.now()
        const failed = yield* Effect.exit(closed.consume(1))
        const failedAfter = Date.now() - started
        assert.isTrue(Exit.isFailure(failed))
        const error = Exit.isFailure(failed) ? failed.cause.reasons.find((r) => r._tag === "Fail") : undefined
        assert.strictEqual(error?._tag === "Fail" ? (error.error as Limit.LimitStoreError)._tag : undefined, "LimitStoreError")
        const storeError = (error as { error: Limit.LimitStoreError }).error
        assert.strictEqual(storeError.store, "redis")
        assert.strictEqual(storeError.operation, "take")
        assert.strictEqual(storeError.key, "closed")
        assert.isBelow(failedAfter, timeout + 500)

        started = Date.now()
        yield* open.consume(10) // falls back: the local limit is 100 / 4 = 25
        yield* open.consume(10)
        assert.isBelow(Date.now() - started, timeout + 500)
        assert.strictEqual(yield* open.usage, 20)
        const third = yield* Effect.exit(Effect.timeout(open.consume(10), 300)) // 30 > 25: waits
        assert.isTrue(Exit.isFailure(third))
        assert.strictEqual(warnings.length, 1)
        assert.match(warnings[0]!, /local limit of 25/)

        // Redis comes back on the same port: the fail-closed limit admits again
        const again = startRedis(port)
        yield* Effect.addFinalizer(() => Effect.sync(() => again.kill("SIGKILL")))
        yield* promise(() => until(() => redisAnswers(url, 200), 5_000))
        yield* Effect.retry(closed.consume(1), { times: 40, schedule: Schedule.spaced(100) })
      }).pipe(Effect.provide(NodeRedis.layer({ url }).pipe(Layer.provideMerge(capture))))
    }), 30_000)
})

const startRedis = (port: number) =>
  spawn("redis-server", ["--port", String(port), "--save", "", "--appendonly", "no", "--bind", "127.0.0.1"], {
    stdio: "ignore"
  })

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const server = net.createServer()
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as net.AddressInfo).port
      server.close(() => resolve(port))
    })
    server.on("error", reject)
  })

const until = async (check: () => Promise<boolean>, timeoutMs: number) => {
  const end = Date.now() + timeoutMs
  while (Date.now() < end) {
    if (await check()) return
    await new Promise((r) => setTimeout(r, 50))
  }
  throw new Error(`condition not met within ${timeoutMs} ms`)
}
