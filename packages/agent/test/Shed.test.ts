/**
 * `Shed`, the 503 fast path, on a real `node:http` server: every refused request is counted
 * (the counters of one event-loop turn are recorded together after it), a log line per
 * refusal when `Info` is enabled and none at `Warn`, the wait bound given to `admits`
 * applies, and what admission would take passes through untouched.
 */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Logger, Metric, References } from "effect"
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import * as Admission from "../src/serve/Admission.ts"
import * as ServeMetrics from "../src/serve/Metrics.ts"
import * as Shed from "../src/serve/Shed.ts"

const overloaded = Metric.withAttributes(ServeMetrics.shed, { reason: "overloaded" })

/** A server whose own handler answers 200 "passed", with the fast path in front; `requests` POSTs at once. */
const shedding = (
  options: { readonly requests: number; readonly maxQueued?: number; readonly maxWaitMs?: number; readonly heldMs?: number }
) =>
  Effect.gen(function*() {
    const admission = yield* Admission.make({ maxInFlight: 1, maxQueued: options.maxQueued ?? 0 })
    if (options.heldMs !== undefined) {
      // one answer teaches the mean answer time
      yield* admission.run(Effect.sleep(options.heldMs))
    }
    const release = yield* Deferred.make<void>()
    const held = yield* Effect.forkChild(admission.run(Deferred.await(release)), { startImmediately: true })
    yield* Effect.yieldNow
    const context = yield* Effect.context<never>()
    const server = Shed.install(createServer((_request, response) => response.end("passed")), {
      admission,
      context,
      answerPaths: ["/v1/answer"],
      maxBodyBytes: 1_000,
      maxWaitMs: options.maxWaitMs
    })
    yield* Effect.callback<void>((resume) => void server.listen(0, "127.0.0.1", () => resume(Effect.void)))
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    const before = (yield* Metric.value(overloaded)).count
    const statuses = yield* Effect.promise(() =>
      Promise.all(Array.from({ length: options.requests }, () =>
        fetch(`${url}/v1/answer`, { method: "POST", body: "{}" }).then(async (r) => `${r.status} ${r.headers.get("retry-after")} ${await r.text()}`)
      ))
    )
    const other = yield* Effect.promise(() => fetch(`${url}/v1/answer`).then((r) => r.text()))
    yield* Effect.sleep("20 millis") // the tally is recorded after the turn that shed
    const counted = (yield* Metric.value(overloaded)).count - before
    yield* Effect.sync(() => server.close())
    yield* Deferred.succeed(release, undefined)
    yield* Fiber.join(held)
    return { statuses, other, counted }
  })

describe("Shed", () => {
  it.live("every 503 is counted and logged at Info; a GET passes through", () => {
    const lines: Array<string> = []
    return Effect.gen(function*() {
      const { counted, other, statuses } = yield* shedding({ requests: 12 })
      // the one slot busy, no queue: every POST to the answer path is shed
      const shed = statuses.filter((s) => s.startsWith("503"))
      assert.strictEqual(shed.length, 12)
      for (const s of shed) assert.match(s, /^503 1 \{"error":\{"tag":"Overloaded","message":"1 answers in flight and 0 waiting/)
      assert.strictEqual(other, "passed")
      assert.strictEqual(counted, shed.length)
      assert.strictEqual(lines.filter((l) => /^POST \/v1\/answer 503 /.test(l)).length, shed.length)
    }).pipe(
      Effect.provide(Logger.layer([Logger.make(({ message }) => void lines.push(String(message)))])),
      Effect.provideService(References.MinimumLogLevel, "Info")
    )
  })

  it.live("at Warn nothing is logged, and the counts are still exact", () => {
    const lines: Array<string> = []
    return Effect.gen(function*() {
      const { counted, statuses } = yield* shedding({ requests: 12 })
      assert.strictEqual(counted, 12)
      assert.strictEqual(statuses.filter((s) => s.startsWith("503")).length, 12)
      assert.deepStrictEqual(lines, [])
    }).pipe(
      Effect.provide(Logger.layer([Logger.make(({ message }) => void lines.push(String(message)))])),
      Effect.provideService(References.MinimumLogLevel, "Warn")
    )
  })

  it.live("with a wait bound, a request that would wait past it is shed even with a queue place free", () =>
    Effect.gen(function*() {
      // answers take 40 ms; one is running: a queued request would wait ~40 ms
      const roomy = yield* shedding({ requests: 1, maxQueued: 1, heldMs: 40, maxWaitMs: 1_000 })
      assert.deepStrictEqual(roomy.statuses, ["200 null passed"])
      const tight = yield* shedding({ requests: 1, maxQueued: 1, heldMs: 40, maxWaitMs: 10 })
      assert.match(tight.statuses[0]!, /^503 1 /)
    }).pipe(Effect.provide(Logger.layer([]))))
})
