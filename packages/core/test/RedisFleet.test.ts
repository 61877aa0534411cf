/**
 * `Retry.budget` and `Limit.learned` shared through Redis, across real `node` processes
 * and a real Redis (no mocks): the fleet's retries stay within one budget, and a rate
 * learned from 429s by one process paces processes that never saw a 429.
 */
import { NodeRedis } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as http from "node:http"
import type * as net from "node:net"
import { fileURLToPath } from "node:url"
import * as RedisLimit from "../src/RedisLimit.ts"
import * as Retry from "../src/Retry.ts"
import { type Child, jsonLines, start as startChild } from "./children.ts"
import { redisUrl, requireRedis, uniquePrefix } from "./redis.ts"

const enabled = await requireRedis("RedisFleet tests")
const child = fileURLToPath(new URL("./fixtures/redis-fleet-child.ts", import.meta.url))
const start = (args: ReadonlyArray<string>) => startChild(child, args)
const promise = <A>(f: () => Promise<A>) => Effect.promise(f)

/** Waits until every child printed `ready` (or one exited), then releases them together; resolves with their exit codes. */
const release = async (children: ReadonlyArray<Child>) => {
  await Promise.race([Promise.all(children.map((c) => c.line((l) => l === "ready"))), Promise.any(children.map((c) => c.exited))])
  for (const c of children) c.process.stdin!.write("go\n")
  return Promise.all(children.map((c) => c.exited))
}

/** An upstream admitting `limit` requests per sliding `windowMs`, 429 + retry-after-ms past it. */
const upstream = (limit: number, windowMs: number) =>
  new Promise<{ url: string; counts: () => { ok: number; refused: number }; close: () => Promise<void> }>((resolve) => {
    const log: Array<number> = []
    let ok = 0
    let refused = 0
    const server = http.createServer((request, response) => {
      if (request.url === "/warmup") return void response.end("{}")
      const now = Date.now()
      while (log.length > 0 && log[0]! <= now - windowMs) log.shift()
      if (log.length >= limit) {
        refused++
        const wait = Math.max(1, log[log.length - limit]! + windowMs - now)
        response.writeHead(429, { "retry-after-ms": String(wait) }).end()
        return
      }
      log.push(now)
      ok++
      response.end("{}")
    })
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo
      resolve({
        url: `http://127.0.0.1:${port}`,
        counts: () => ({ ok, refused }),
        close: () => new Promise((done) => server.close(() => done()))
      })
    })
  })

describe.skipIf(!enabled)("Retry.budget and Limit.learned on Redis (real Redis, real processes)", () => {
  it.live("4 processes share one retry budget: the fleet's retries ≤ ratio × its first attempts + the floor, not 4 floors", () =>
    Effect.gen(function*() {
      const prefix = uniquePrefix("budget")
      // ratio 0.1, a floor of 0.2/s over 50 s = 10 retries for the fleet; 4 × 50 calls that always fail
      const [ratio, minPerSecond, windowMs, calls] = [0.1, 0.2, 50_000, 50]
      const children = Array.from({ length: 4 }, () =>
        start(["budget", redisUrl, prefix, "api", String(ratio), String(minPerSecond), String(windowMs), String(calls)]))
      const codes = yield* promise(() => release(children))
      assert.deepStrictEqual(codes, [0, 0, 0, 0])
      const reports = children.map((c) => jsonLines<{ first: number; retries: number; available: number }>(c)[0]!)
      const first = reports.reduce((s, r) => s + r.first, 0)
      const retries = reports.reduce((s, r) => s + r.retries, 0)
      const allowed = Math.floor(ratio * first + minPerSecond * (windowMs / 1000))
      if (process.env.HYBRID_TEST_VERBOSE) console.log({ reports, first, retries, allowed })
      assert.strictEqual(first, 200)
      // one budget for the fleet: 30 in all (four separate budgets would have allowed 4 × (10 + 5) = 60)
      assert.isAtMost(retries, allowed)
      // and it is used: refusals happen only once the shared budget is spent
      assert.isAtLeast(retries, allowed - 10)
      // the store's own count agrees: what is left is what was allowed minus what was taken
      const budget = yield* Retry.budget({ ratio, minPerSecond, window: windowMs, key: "api", store: RedisLimit.budgetStore({ prefix }) })
      assert.strictEqual(yield* budget.available, allowed - retries)
    }).pipe(Effect.provide(NodeRedis.layer({ url: redisUrl }))), 120_000)

  it.live("a rate learned from 429s by one process paces new processes that never saw a 429; a Retry-After pauses them all", () =>
    Effect.gen(function*() {
      const prefix = uniquePrefix("learned")
      const server = yield* Effect.acquireRelease(promise(() => upstream(5, 1_000)), (s) => promise(() => s.close()))
      // phase 1: one process, 15 calls at once against 5 per second: it gets 429s and learns
      const teacher = start(["learned", redisUrl, prefix, "upstream", server.url, "15", "0"])
      assert.deepStrictEqual(yield* promise(() => release([teacher])), [0])
      const taught = jsonLines<{ ok: number; refused: number; learned: { limit: number; windowMs: number } | null }>(teacher)[1]!
      assert.strictEqual(taught.ok, 15)
      assert.isAbove(taught.refused, 0)
      assert.isNotNull(taught.learned)
      // about 5: the first 429 counts every send not yet refused (15 at most); each later 429 of a
      // send made before the lesson takes one off, so it may end a little under 5 — slower, never faster
      assert.isAtLeast(taught.learned!.limit, 1)
      assert.isAtMost(taught.learned!.limit, 15)
      // never shorter than the upstream's window; longer by however late the 429 was read (a loaded machine)
      assert.isAtLeast(taught.learned!.windowMs, 950)
      const before = server.counts()
      // phase 2: two fresh processes, 8 calls each at 5/s (together twice the limit)
      const pupils = [0, 1].map(() => start(["learned", redisUrl, prefix, "upstream", server.url, "8", "5"]))
      const codes = yield* promise(() => release(pupils))
      assert.deepStrictEqual(codes, [0, 0])
      type Learned = { limit: number; windowMs: number } | null
      const reports = pupils.map((p) => jsonLines<{ learnedAtStart?: Learned; ok?: number; refused?: number; learned?: Learned }>(p))
      for (const [atStart, done] of reports) {
        // they knew the limit before their first call
        assert.isDefined(atStart?.learnedAtStart)
        assert.isNotNull(atStart!.learnedAtStart!)
        assert.approximately(atStart!.learnedAtStart!.limit, taught.learned!.limit, 2)
        assert.strictEqual(done?.ok, 8)
      }
      const after = server.counts()
      const refused = after.refused - before.refused
      if (process.env.HYBRID_TEST_VERBOSE) console.log({ taught, reports, before, after, refused })
      // paced together at the learned rate: 16 calls at twice the limit, (almost) none refused —
      // a 429 now and then is the probe raising N by one after a quiet window
      assert.strictEqual(after.ok - before.ok, 16)
      assert.isAtMost(refused, 3)
      // one learned state for the fleet: both end with the same W, and N at most one apart
      // (a probe may raise N by one between the moments the two processes read it)
      const [first, second] = [reports[0]![1]!.learned!, reports[1]![1]!.learned!]
      assert.strictEqual(first.windowMs, second.windowMs)
      assert.approximately(first.limit, second.limit, 1)
    }), 180_000)
})
