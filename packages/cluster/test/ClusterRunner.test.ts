import { Deadline, Runner } from "@hybrid/core"
import { ClusterRunner } from "@hybrid/cluster"
import { Cause, Effect, Exit, Fiber, Option } from "effect"
import { afterEach, assert, beforeAll, describe, it } from "vitest"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { Child, databaseUrl, dropTables, freePort, freshPrefix, requireDatabase, RunnerProcess } from "./support.ts"
import { Tasks, Wait } from "./fixtures/tasks.ts"

const fastFailover = { SHARD_LOCK_EXPIRATION: "3 seconds" }
let enabled = false
const started: Array<RunnerProcess> = []
const prefixes: Array<string> = []

beforeAll(async () => {
  enabled = await requireDatabase()
})

afterEach(async () => {
  await Promise.all(started.splice(0).map((r) => r.stop()))
  if (enabled) for (const prefix of prefixes.splice(0)) await dropTables(prefix)
})

/** Starts `count` runners on a fresh prefix and waits until they serve. */
const cluster = async (count: number, persisted: "all" | "none", env: Record<string, string> = {}) => {
  const prefix = freshPrefix()
  prefixes.push(prefix)
  const runners: Array<RunnerProcess> = []
  for (let i = 0; i < count; i++) {
    const runner = new RunnerProcess(`r${i + 1}`, await freePort(), prefix, persisted, env)
    started.push(runner)
    runners.push(runner)
  }
  await Promise.all(runners.map((r) => r.ready()))
  await warmUp(prefix, runners)
  return { prefix, runners }
}

const inCluster = <A, E>(
  prefix: string,
  program: Effect.Effect<A, E, Runner.Runner>,
  options: Partial<ClusterRunner.LayerOptions> = {}
) => Effect.runPromiseExit(program.pipe(Effect.provide(ClusterRunner.layer(Tasks, { database: databaseUrl, prefix, ...options }))))

/**
 * Runs small batches (negative `n`s, which `numbers` leaves out) until every runner has
 * served one: a runner that has just started owns no shard until the engine rebalances.
 */
const warmUp = async (prefix: string, runners: ReadonlyArray<RunnerProcess>) => {
  const until = Date.now() + 60_000
  for (let round = 1; ; round++) {
    const exit = await inCluster(prefix, Runner.forEach(Wait, range(64).map((i) => ({ n: -round * 100 - i, ms: 5 }))))
    const served = new Set(Exit.isSuccess(exit) ? exit.value.map((r) => r.runner) : [])
    if (runners.every((r) => served.has(r.name))) return
    if (Date.now() > until) throw new Error(`runners never all owned shards: served by ${[...served].join(", ")}`)
    await new Promise((r) => setTimeout(r, 250))
  }
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i)

const waitFor = async (check: () => boolean, ms: number, what: string) => {
  const until = Date.now() + ms
  while (!check()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

describe("ClusterRunner", () => {
  it("three runners and one caller: 300 tasks, each exactly once, spread over every runner", async (t) => {
    if (!enabled) return t.skip()
    const { prefix, runners } = await cluster(3, "none")
    const exit = await inCluster(prefix, Runner.forEach(Wait, range(300).map((n) => ({ n, ms: 20 }))))
    assert.isTrue(Exit.isSuccess(exit), String(Exit.isFailure(exit) && Cause.pretty(exit.cause)))
    const results = Exit.isSuccess(exit) ? exit.value : []
    assert.deepStrictEqual(results.map((r) => r.n), range(300))
    const done = runners.flatMap((r) => r.numbers("done")).sort((a, b) => a - b)
    assert.deepStrictEqual(done, range(300))
    for (const runner of runners) {
      assert.isAbove(runner.numbers("done").length, 0, `${runner.name} served no call`)
      const served = results.filter((r) => r.runner === runner.name).length
      assert.strictEqual(served, runner.numbers("done").length)
    }
  })

  it("a runner SIGKILLed mid-batch: every persisted task completes on the survivors, no result twice", async (t) => {
    if (!enabled) return t.skip()
    const { prefix, runners } = await cluster(3, "all", fastFailover)
    const victim = runners[Math.floor(Math.random() * runners.length)]!
    // kill at a random moment once the victim has calls in flight
    const inFlight = 1 + Math.floor(Math.random() * 20)
    let killedAt = 0
    const killing = waitFor(() => victim.numbers("start").length >= inFlight, 60_000, "calls on the victim").then(() => {
      killedAt = victim.kill()
    })
    const exit = await inCluster(
      prefix,
      Runner.forEach(Wait, range(300).map((n) => ({ n, ms: 300 }))),
      { persisted: "all" }
    )
    await killing
    assert.isTrue(Exit.isSuccess(exit), String(Exit.isFailure(exit) && Cause.pretty(exit.cause)))
    const results = Exit.isSuccess(exit) ? exit.value : []
    assert.deepStrictEqual(results.map((r) => r.n), range(300))
    const survivors = runners.filter((r) => r !== victim)
    const unfinished = new Set(victim.numbers("start").filter((n) => !victim.numbers("done").includes(n)))
    // every call the victim started and did not finish was run again by a survivor
    const redone = survivors.flatMap((r) => r.lines).filter((l) => {
      const n = Number(l.text.slice(5))
      return l.text.startsWith("done ") && unfinished.has(n)
    })
    for (const n of unfinished) assert.isTrue(redone.some((l) => l.text === `done ${n}`), `call ${n} was not redelivered`)
    assert.isFalse(results.some((r) => r.runner === victim.name && unfinished.has(r.n)))
    if (unfinished.size > 0) {
      const first = Math.min(...redone.map((l) => l.at))
      console.log(
        `cluster failover: ${unfinished.size} calls in flight on ${victim.name} at the kill; ` +
          `kill -> first redelivered completion ${first - killedAt} ms (shardLockExpiration 3 s)`
      )
    }
  })

  it("the same idempotency key on a persisted task is one call", async (t) => {
    if (!enabled) return t.skip()
    const { prefix, runners } = await cluster(1, "all")
    const options = { persisted: "all" as const, idempotencyKey: (_: unknown, p: unknown) => `wait-${(p as { n: number }).n}` }
    const first = await inCluster(prefix, Runner.run(Wait, { n: 7, ms: 10 }), options)
    const second = await inCluster(prefix, Runner.run(Wait, { n: 7, ms: 10 }), options)
    assert.deepStrictEqual([Exit.isSuccess(first), Exit.isSuccess(second)], [true, true])
    assert.deepStrictEqual(runners[0]!.numbers("start"), [7])
  })

  it("interrupting a call interrupts it on the remote runner", async (t) => {
    if (!enabled) return t.skip()
    const { prefix, runners } = await cluster(1, "none")
    const runner = runners[0]!
    const exit = await inCluster(prefix, Effect.gen(function*() {
      const fiber = yield* Effect.forkChild(Runner.run(Wait, { n: 1, ms: 20_000 }))
      yield* Effect.promise(() => waitFor(() => runner.numbers("start").includes(1), 10_000, "the call to start"))
      yield* Fiber.interrupt(fiber)
    }))
    assert.isTrue(Exit.isSuccess(exit))
    await waitFor(() => runner.numbers("interrupted").includes(1), 5_000, "the remote interruption")
    assert.deepStrictEqual(runner.numbers("done"), [])
  })

  it("the caller's deadline bounds a remote call and stops it there", async (t) => {
    if (!enabled) return t.skip()
    const { prefix, runners } = await cluster(1, "none")
    const started = Date.now()
    const exit = await inCluster(prefix, Runner.run(Wait, { n: 2, ms: 20_000 }).pipe(Deadline.within("2 seconds")))
    const elapsed = Date.now() - started
    assert.isTrue(Exit.isFailure(exit))
    const error = Exit.isFailure(exit) ? Cause.findErrorOption(exit.cause) : Option.none()
    assert.strictEqual(Option.isSome(error) && (error.value as { _tag: string })._tag, "DeadlineExceeded")
    assert.isBelow(elapsed, 5_000)
    // the call either never reached the runner before the deadline, or was stopped there
    const runner = runners[0]!
    if (runner.numbers("start").includes(2)) {
      await waitFor(() => runner.numbers("interrupted").includes(2), 5_000, "the remote stop")
    }
    assert.notInclude(runner.numbers("done"), 2)
  })

  it("a runner that cannot bind its port says which, and exits non-zero", async (t) => {
    if (!enabled) return t.skip()
    const { prefix, runners } = await cluster(1, "none")
    const twin = new RunnerProcess("twin", runners[0]!.port, prefix, "none")
    started.push(twin)
    const code = await twin.exit
    assert.notStrictEqual(code, 0)
    const text = twin.lines.map((l) => l.text).join("\n")
    assert.include(text, `RunnerPortInUse: cannot listen on 127.0.0.1:${runners[0]!.port}`)
  })
})

describe("a distributed Batch", () => {
  it("200 lines, a runner and then the coordinator SIGKILLed: the resumed output has every line exactly once", async (t) => {
    if (!enabled) return t.skip()
    const { prefix, runners } = await cluster(3, "all", fastFailover)
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "hybrid-cluster-batch-"))
    const input = path.join(dir, "in.jsonl")
    const output = path.join(dir, "out.jsonl")
    fs.writeFileSync(input, range(200).map((n) => JSON.stringify({ n, ms: 250 })).join("\n") + "\n")
    const first = new Child("coordinator", 0, "batch.ts", [input, output, prefix, "0"])
    started.push(first)
    // a runner dies once work is flowing, the coordinator a little later
    await waitFor(() => runners.every((r) => r.numbers("done").length > 0), 30_000, "work on every runner")
    const victim = runners[0]!
    victim.kill()
    await waitFor(() => fs.existsSync(output) && fs.readFileSync(output, "utf8").split("\n").length > 60, 30_000, "60 results")
    first.kill()
    await first.exit
    const journaledLines = new Set(
      fs.readFileSync(output, "utf8").split("\n").filter((l) => l !== "").map((l) => JSON.parse(l).line - 1)
    )
    const journaled = journaledLines.size
    assert.isBelow(journaled, 200, "the coordinator finished before it was killed")
    // (the victim's own "done" lines may have died before their replies were stored: those run again)
    const doneBeforeResume = new Set(runners.slice(1).flatMap((r) => r.numbers("done")))

    const second = new Child("coordinator-2", 0, "batch.ts", [input, output, prefix, "1"])
    started.push(second)
    assert.strictEqual(await second.exit, 0, second.lines.map((l) => l.text).join("\n"))
    const records = fs.readFileSync(output, "utf8").split("\n").filter((l) => l !== "").map((l) => JSON.parse(l))
    const lines = records.map((r: { line: number }) => r.line).sort((a: number, b: number) => a - b)
    assert.deepStrictEqual(lines, range(200).map((n) => n + 1))
    assert.isTrue(records.every((r: { ok: boolean }) => r.ok))
    // a line a survivor had finished before the resume was joined, not run again
    const startedAfterResume = runners.slice(1).flatMap((r) =>
      r.lines.filter((l) => l.at > second.startedAt && l.text.startsWith("start ")).map((l) => Number(l.text.slice(6)))
    )
    const repeated = startedAfterResume.filter((n) => doneBeforeResume.has(n))
    assert.deepStrictEqual(repeated, [])
    console.log(
      `distributed batch: ${journaled} lines journaled at the coordinator's kill; the resume joined ` +
        `${[...doneBeforeResume].filter((n) => !journaledLines.has(n)).length} lines finished on survivors but not ` +
        `journaled, and started ${startedAfterResume.length} calls`
    )
    fs.rmSync(dir, { recursive: true, force: true })
  })
})

describe("ClusterRunner without a database", () => {
  it("an unreachable database is a typed error naming the URL without its password", async () => {
    const exit = await Effect.runPromiseExit(
      Runner.run(Wait, { n: 1, ms: 1 }).pipe(
        Effect.provide(ClusterRunner.layer(Tasks, { database: "postgres://app:s3cret-pw@127.0.0.1:1/test" }))
      )
    )
    assert.isTrue(Exit.isFailure(exit))
    const error = Exit.isFailure(exit) ? Cause.findErrorOption(exit.cause) : Option.none()
    assert.isTrue(Option.isSome(error) && error.value instanceof ClusterRunner.DatabaseUnreachable)
    const shown = Option.isSome(error) ? (error.value as ClusterRunner.DatabaseUnreachable) : undefined
    assert.strictEqual(shown?.url, "postgres://app:***@127.0.0.1:1/test")
    assert.notInclude(shown?.message ?? "", "s3cret")
  })

  it("a URL that is not PostgreSQL's is refused before connecting", async () => {
    const exit = await Effect.runPromiseExit(
      Runner.run(Wait, { n: 1, ms: 1 }).pipe(
        Effect.provide(ClusterRunner.layer(Tasks, { database: "mysql://root@127.0.0.1/test" }))
      )
    )
    const error = Exit.isFailure(exit) ? Cause.findErrorOption(exit.cause) : Option.none()
    assert.include(Option.isSome(error) ? (error.value as Error).message : "", "expected postgres://")
  })
})
