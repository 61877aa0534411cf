import { assert, describe, it, layer } from "@effect/vitest"
import * as fs from "node:fs"
import * as os from "node:os"
import { Cause, Effect, Exit, Fiber, Layer, Metric, Schedule, Schema, Tracer } from "effect"
import * as Deadline from "../src/Deadline.ts"
import * as NodeRunner from "../src/NodeRunner.ts"
import * as Runner from "../src/Runner.ts"
import { handlers } from "./fixtures/handlers.ts"
import { Analyze, BadResult, Crash, Inc, Leak, Nap, Primes, Remaining, Reverse, Spin, Stats, Tasks } from "./fixtures/tasks.ts"

const workerFile = new URL("./fixtures/runner.worker.ts", import.meta.url)
const pool = (options: Omit<NodeRunner.Options, "worker">) => NodeRunner.layer(Tasks, { worker: workerFile, ...options })
const inProcess = Runner.layerInProcess(Tasks, handlers)

const failure = <A, E>(exit: Exit.Exit<A, E>): E => {
  if (Exit.isSuccess(exit)) throw new Error("expected a failure")
  const reason = exit.cause.reasons.find((r) => r._tag === "Fail")
  if (reason === undefined || reason._tag !== "Fail") throw new Error(`expected a Fail, got ${Cause.pretty(exit.cause)}`)
  return reason.error
}

/** Polls the pool's statistics until `predicate` holds (at most 5 s). */
const waitFor = (predicate: (stats: NodeRunner.PoolStats) => boolean) =>
  NodeRunner.Pool.use((p) => p.stats).pipe(
    Effect.repeat({ until: predicate, schedule: Schedule.spaced("10 millis") }),
    Effect.timeout("5 seconds"),
    Effect.orDie
  )

/** The only worker's books, polled until `predicate` holds. */
const worker = (predicate: (w: NodeRunner.PoolStats["workers"][number]) => boolean) =>
  waitFor((s) => s.workers.length === 1 && predicate(s.workers[0]!))

/** Milliseconds since `t0`. */
const since = (t0: number) => performance.now() - t0

/** What a run ended with, comparable across runners: the value, or the typed error's tag and fields. */
const outcome = (exit: Exit.Exit<unknown, unknown>) =>
  Exit.isSuccess(exit)
    ? { ok: exit.value }
    : { error: JSON.parse(JSON.stringify(failure(exit))) as unknown }

const Payload = Schema.Struct({
  label: Schema.String,
  values: Schema.Array(Schema.Int.check(Schema.isBetween({ minimum: -50, maximum: 1000 })))
})

// One pool of two workers shared by the block (built once, torn down in afterAll).
layer(Layer.merge(pool({ size: 2, cancelGrace: "150 millis" }), Layer.empty), { excludeTestServices: true })(
  "NodeRunner (shared pool of 2)",
  (it) => {
    it.effect.prop(
      "equivalence: the pool and the in-process runner give identical results and typed errors",
      [Payload],
      ([payload]) =>
        Effect.gen(function*() {
          const inWorker = yield* Effect.exit(Runner.run(Analyze, payload))
          const local = yield* Effect.exit(Runner.run(Analyze, payload).pipe(Effect.provide(inProcess)))
          assert.deepStrictEqual(outcome(inWorker), outcome(local))
        }),
      { arbitrary: { runs: 60 } }
    )

    it.effect.prop(
      "equivalence on numbers (Inc)",
      [Schema.Int],
      ([n]) =>
        Effect.gen(function*() {
          const inWorker = yield* Runner.run(Inc, n)
          const local = yield* Runner.run(Inc, n).pipe(Effect.provide(inProcess))
          assert.strictEqual(inWorker, local)
        }),
      { arbitrary: { runs: 40 } }
    )

    it.effect("forEach keeps input order across workers", () =>
      Effect.gen(function*() {
        const out = yield* Runner.forEach(Primes, [{ n: 20_000 }, { n: 10 }, { n: 1000 }, { n: 2 }, { n: 100 }])
        assert.deepStrictEqual(out, [2262, 4, 168, 0, 25])
      }))

    it.effect("a bad payload is rejected in the caller with its SchemaError; a bad result names the task", () =>
      Effect.gen(function*() {
        const bad = yield* Effect.flip(Runner.run(Primes, { n: 1.5 }))
        assert.strictEqual(bad._tag, "RunnerError")
        if (bad._tag === "RunnerError") {
          assert.strictEqual(bad.reason, "InvalidPayload")
          assert.isTrue(Schema.isSchemaError(bad.cause))
        }
        const result = yield* Effect.flip(Runner.run(BadResult, undefined))
        assert.strictEqual(result._tag, "RunnerError")
        if (result._tag === "RunnerError") {
          assert.strictEqual(result.reason, "InvalidResult")
          assert.strictEqual(result.task, "BadResult")
        }
      }))

    it.effect("interrupting an Effect handler cancels it in the worker, which stays", () =>
      Effect.gen(function*() {
        const before = yield* NodeRunner.Pool.use((p) => p.stats)
        const t0 = performance.now()
        const exit = yield* Effect.exit(Runner.run(Nap, { ms: 10_000 }).pipe(Effect.timeout("50 millis")))
        assert.isTrue(Exit.isFailure(exit))
        assert.isBelow(since(t0), 500)
        yield* Effect.sleep("50 millis")
        const stats = yield* Effect.forEach([1, 2], () => Runner.run(Stats, undefined), { concurrency: 2 })
        assert.strictEqual(stats.reduce((n, s) => n + s.interrupted, 0), 1)
        const after = yield* NodeRunner.Pool.use((p) => p.stats)
        assert.strictEqual(after.spawned, before.spawned)
      }))

    it.effect("a handler stuck in synchronous code is terminated after cancelGrace and replaced", () =>
      Effect.gen(function*() {
        const before = yield* NodeRunner.Pool.use((p) => p.stats)
        const t0 = performance.now()
        const exit = yield* Effect.exit(Runner.run(Spin, { ms: 5_000 }).pipe(Effect.timeout("50 millis")))
        assert.isTrue(Exit.isFailure(exit))
        assert.isBelow(since(t0), 500, "the caller sees the interruption at once")
        // the stuck worker is terminated after cancelGrace and a new one takes its slot
        const after = yield* waitFor((s) => s.spawned > before.spawned && s.workers.every((w) => w.state === "ready"))
        assert.strictEqual(after.spawned, before.spawned + 1)
        const ids = yield* Effect.forEach([1, 2], () => Runner.run(Spin, { ms: 100 }), { concurrency: 2 })
        assert.strictEqual(new Set(ids).size, 2)
        assert.isBelow(since(t0), 2_000, "well before the 5 s loop could have ended")
        assert.strictEqual(after.workers.length, 2)
      }))

    it.effect("a crash fails only its own calls with WorkerCrashed, and the worker is replaced", () =>
      Effect.gen(function*() {
        const before = yield* NodeRunner.Pool.use((p) => p.stats)
        const [innocent, crashed] = yield* Effect.all([
          Effect.exit(Runner.run(Spin, { ms: 300 })),
          Effect.exit(Effect.sleep("30 millis").pipe(Effect.andThen(Runner.run(Crash, { mode: "exit" }))))
        ], { concurrency: 2 })
        assert.isTrue(Exit.isSuccess(innocent))
        const error = failure(crashed)
        assert.strictEqual(error._tag, "WorkerCrashed")
        if (error._tag === "WorkerCrashed") assert.match(error.cause, /code: 3/)
        const uncaught = failure(yield* Effect.exit(Runner.run(Crash, { mode: "uncaught" }).pipe(Effect.timeout("5 seconds"))))
        assert.strictEqual(uncaught._tag, "WorkerCrashed")
        if (uncaught._tag === "WorkerCrashed") assert.match(uncaught.cause, /uncaught in worker/)
        assert.deepStrictEqual(yield* Runner.forEach(Inc, [1, 2, 3, 4]), [2, 3, 4, 5])
        const after = yield* waitFor((s) => s.spawned >= before.spawned + 2)
        assert.strictEqual(after.spawned, before.spawned + 2)
        assert.strictEqual(after.workers.length, 2)
      }))

    it.effect("a thrown exception is a defect of that call only", () =>
      Effect.gen(function*() {
        const [thrown, other] = yield* Effect.all([
          Effect.exit(Runner.run(Crash, { mode: "throw" })),
          Effect.exit(Runner.run(Spin, { ms: 100 }))
        ], { concurrency: 2 })
        assert.isTrue(Exit.isFailure(thrown) && Cause.hasDies(thrown.cause))
        assert.isTrue(Exit.isSuccess(other))
      }))

    it.effect("the caller's remaining Deadline travels into the worker", () =>
      Effect.gen(function*() {
        assert.strictEqual(yield* Runner.run(Remaining, undefined), -1)
        const left = yield* Runner.run(Remaining, undefined).pipe(Deadline.within("2 seconds"))
        assert.isAbove(left, 1_000)
        assert.isAtMost(left, 2_000)
      }))

    it.effect("transferable payloads are moved, not copied", () =>
      Effect.gen(function*() {
        const bytes = new Uint8Array(1 << 20).map((_, i) => i % 251)
        const last = bytes[bytes.length - 1]
        const out = yield* Runner.run(Reverse, bytes)
        assert.strictEqual(bytes.byteLength, 0, "the caller's buffer was transferred")
        assert.strictEqual(out.length, 1 << 20)
        assert.strictEqual(out[0], last)
      }))

    it.effect("every call is a Runner.run span with its task, queue wait and run time", () =>
      Effect.gen(function*() {
        const spans: Array<Tracer.NativeSpan> = []
        const tracer = Tracer.make({
          span: (options) => {
            const span = new Tracer.NativeSpan(options)
            spans.push(span)
            return span
          }
        })
        yield* Runner.forEach(Spin, [{ ms: 20 }, { ms: 20 }]).pipe(Effect.withTracer(tracer))
        const runs = spans.filter((span) => span.name === "Runner.run")
        assert.strictEqual(runs.length, 2)
        for (const span of runs) {
          assert.strictEqual(span.status._tag, "Ended")
          assert.strictEqual(span.attributes.get("task"), "Spin")
          assert.isAtLeast(span.attributes.get("queueWaitMs") as number, 0)
          assert.isAtLeast(span.attributes.get("runMs") as number, 19)
        }
      }))

    it.effect("metrics: run-time histogram and queue depth", () =>
      Effect.gen(function*() {
        yield* Runner.forEach(Inc, [1, 2, 3, 4, 5, 6])
        const runTime = yield* Metric.value(Runner.runTime)
        assert.isAtLeast(runTime.count, 6)
        const depth = yield* Metric.value(Runner.queueDepth)
        assert.strictEqual(depth.value, 0)
      }))
  }
)

describe("NodeRunner (small pools)", () => {
  // size 1, so calls queue: taskTimeout must not count the queue, maxQueue bounds it (nothing
  // is sent ahead: every waiting call is in the main thread's queue)
  layer(pool({ size: 1, taskTimeout: "150 millis", maxQueue: 2, cancelGrace: "50 millis", sendAhead: 0 }), {
    excludeTestServices: true
  })("one worker, taskTimeout 150 ms, maxQueue 2", (it) => {
    it.effect("taskTimeout counts from the start in a worker, not from the queue", () =>
      Effect.gen(function*() {
        // the third call waits ~160 ms in the queue, but runs only 80 ms
        const ok = yield* Runner.forEach(Spin, [{ ms: 80 }, { ms: 80 }, { ms: 80 }])
        assert.strictEqual(ok.length, 3)
        const t0 = performance.now()
        const error = yield* Effect.flip(Runner.run(Spin, { ms: 5_000 }))
        assert.strictEqual(error._tag, "TaskTimeout")
        assert.isBelow(since(t0), 1_000)
        if (error._tag === "TaskTimeout") assert.strictEqual(error.timeout, 150)
        assert.strictEqual(yield* Runner.run(Inc, 1), 2)
      }))

    it.effect("maxQueue rejects calls beyond it with RunnerQueueFull", () =>
      Effect.gen(function*() {
        const exits = yield* Effect.forEach(
          [1, 2, 3, 4],
          () => Effect.exit(Runner.run(Spin, { ms: 60 })),
          { concurrency: "unbounded" }
        )
        const full = exits.filter((e) => Exit.isFailure(e)).map(failure)
        assert.strictEqual(exits.filter(Exit.isSuccess).length, 3)
        assert.strictEqual(full.length, 1)
        assert.strictEqual(full[0]?._tag, "RunnerQueueFull")
      }))
  })

})

describe("NodeRunner (calls sent ahead)", () => {
  // One worker; any task with an estimate is sent ahead (sendAhead is large), so calls wait
  // in the worker whenever it is busy.
  layer(pool({ size: 1, taskTimeout: "300 millis", cancelGrace: "100 millis", sendAhead: "1 minute" }), {
    excludeTestServices: true
  })("one worker, sendAhead 1 minute, taskTimeout 300 ms", (it) => {
    it.effect("a call sent ahead waits in the busy worker; taskTimeout counts from its start there", () =>
      Effect.gen(function*() {
        yield* Runner.run(Nap, { ms: 0 }) // the pool now has an estimate for Nap
        const t0 = performance.now()
        const fiber = yield* Effect.forkChild(Runner.forEach(Nap, [{ ms: 200 }, { ms: 200 }]))
        // one runs, the other was sent ahead and waits in the worker
        yield* worker((w) => w.running === 1 && w.waiting === 1)
        assert.strictEqual((yield* Fiber.join(fiber)).length, 2)
        // the second one was in the worker for 400 ms, over the 300 ms taskTimeout, but ran 200 ms
        assert.isAtLeast(since(t0), 390)
      }))

    it.effect("a quick call's answer does not wait for a slow call sent after it in the same message", () =>
      Effect.gen(function*() {
        yield* Runner.run(Inc, 0)
        yield* Runner.run(Spin, { ms: 5 }) // Spin takes longer than a burst's answers may wait
        const done: Record<string, number> = {}
        const at = (name: string) => Effect.tap(() => Effect.sync(() => (done[name] = performance.now())))
        yield* Effect.all([Runner.run(Inc, 1).pipe(at("inc")), Runner.run(Spin, { ms: 250 }).pipe(at("spin"))], {
          concurrency: "unbounded"
        })
        // the Inc answer left before the 250 ms Spin started, not in the message with its answer
        assert.isAtLeast(done["spin"]! - done["inc"]!, 150)
      }))

    it.effect("a task is not sent ahead before one of its calls has finished", () =>
      Effect.gen(function*() {
        yield* Runner.run(Nap, { ms: 0 })
        const fiber = yield* Effect.forkChild(Effect.all([
          Runner.run(Nap, { ms: 100 }),
          Runner.run(Primes, { n: 10 }) // never ran here: it waits in the main thread
        ], { concurrency: "unbounded" }))
        const stats = yield* waitFor((s) => s.workers[0]!.running === 1 && s.queued === 1)
        assert.strictEqual(stats.workers[0]!.waiting, 0)
        assert.deepStrictEqual((yield* Fiber.join(fiber))[1], 4)
      }))

    it.effect("interrupting a call that waits in its worker drops it there: it never runs", () =>
      Effect.gen(function*() {
        const before = yield* Runner.run(Stats, undefined)
        const running = yield* Effect.forkChild(Runner.run(Nap, { ms: 200 }))
        yield* worker((w) => w.running === 1)
        const waiting = yield* Effect.forkChild(Runner.run(Nap, { ms: 0 }))
        yield* worker((w) => w.waiting === 1)
        yield* Fiber.interrupt(waiting)
        yield* Fiber.join(running)
        const after = yield* Runner.run(Stats, undefined)
        assert.strictEqual(after.started - before.started, 1, "only the running call started")
        assert.strictEqual(after.interrupted - before.interrupted, 0)
        assert.strictEqual(after.threadId, before.threadId)
      }))

    it.effect("a stuck worker is replaced: the call it ran fails, the calls waiting in it run elsewhere", () =>
      Effect.gen(function*() {
        yield* Runner.run(Spin, { ms: 0 })
        yield* Runner.run(Inc, 0)
        const before = yield* NodeRunner.Pool.use((p) => p.stats)
        const t0 = performance.now()
        const [stuck, waiting] = yield* Effect.all([
          // synchronous: interrupting it cannot stop it, so its worker is terminated after cancelGrace
          Effect.exit(Runner.run(Spin, { ms: 5_000 }).pipe(Effect.timeout("100 millis"))),
          // sent ahead, waiting in the worker: never started, so they run on its replacement
          Effect.exit(Runner.forEach(Inc, [1, 2, 3])),
          worker((w) => w.running === 1 && w.waiting === 3)
        ], { concurrency: "unbounded" })
        assert.isTrue(Exit.isFailure(stuck))
        assert.deepStrictEqual(Exit.isSuccess(waiting) ? waiting.value : waiting, [2, 3, 4])
        assert.isBelow(since(t0), 2_500, "well before the 5 s loop could have ended")
        const after = yield* NodeRunner.Pool.use((p) => p.stats)
        assert.strictEqual(after.spawned, before.spawned + 1)
      }))

    it.effect("a crash fails the call its worker was running; the calls waiting in it run elsewhere", () =>
      Effect.gen(function*() {
        // estimates for both tasks (a defect is an answer too)
        yield* Effect.exit(Runner.run(Crash, { mode: "throw" }))
        yield* Runner.run(Inc, 0)
        const before = yield* NodeRunner.Pool.use((p) => p.stats)
        const [crashed, waiting] = yield* Effect.all([
          Effect.exit(Runner.run(Crash, { mode: "uncaught" })),
          Effect.exit(Runner.forEach(Inc, [1, 2, 3]))
        ], { concurrency: "unbounded" })
        const error = failure(crashed)
        assert.strictEqual(error._tag, "WorkerCrashed")
        if (error._tag === "WorkerCrashed") assert.match(error.cause, /uncaught in worker/)
        assert.deepStrictEqual(Exit.isSuccess(waiting) ? waiting.value : waiting, [2, 3, 4])
        const after = yield* waitFor((s) => s.spawned >= before.spawned + 1)
        assert.strictEqual(after.spawned, before.spawned + 1)
      }))
  })
})

describe("NodeRunner (dedicated pools)", () => {
  it.live("recycleAfter.tasks replaces a worker after that many tasks, even with calls sent ahead", () =>
    Effect.gen(function*() {
      // all at once: calls are sent ahead, but never more than a worker has left to run
      const ids = yield* Runner.forEach(Spin, [1, 2, 3, 4, 5, 6, 7].map(() => ({ ms: 0 })))
      const perThread = new Map<number, number>()
      for (const id of ids) perThread.set(id, (perThread.get(id) ?? 0) + 1)
      assert.deepStrictEqual([...perThread.values()], [3, 3, 1])
      const stats = yield* NodeRunner.Pool.use((p) => p.stats)
      assert.strictEqual(stats.workers.length, 1)
    }).pipe(Effect.provide(pool({ size: 1, recycleAfter: { tasks: 3 }, sendAhead: "1 minute" }))))

  it.live("recycleAfter.heapUsedMb replaces a worker whose heap grew past the limit", () =>
    Effect.gen(function*() {
      const first = yield* Runner.run(Leak, { mb: 4 })
      yield* Effect.sleep("100 millis") // the heap is checked asynchronously
      const second = yield* Runner.run(Leak, { mb: 0 })
      assert.notStrictEqual(first, second)
    }).pipe(Effect.provide(pool({ size: 1, recycleAfter: { heapUsedMb: 8 } }))))

  it.live.skipIf(process.platform !== "linux")("niceness renices the worker threads alone (Linux: per thread), not the main thread", () =>
    Effect.gen(function*() {
      /** The nice value of each of this process's threads named `prefix…` (field 19 of /proc/self/task/<tid>/stat). */
      const nice = (prefix: string) =>
        fs.readdirSync("/proc/self/task").flatMap((tid) => {
          const stat = fs.readFileSync(`/proc/self/task/${tid}/stat`, "utf8")
          const name = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"))
          return name.startsWith(prefix) ? [Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[16])] : []
        })
      assert.strictEqual(yield* Runner.run(Inc, 1), 2) // a worker has booted
      yield* Effect.sleep("200 millis") // and the other one too
      // this pool's two threads; other pools' (and every other thread) keep their 0
      assert.strictEqual(nice("hybrid-runner-").filter((n) => n === 19).length, 2)
      // and no other thread of the process: the main thread, the test's, V8's helpers keep theirs
      assert.strictEqual(nice("").filter((n) => n === 19).length, 2)
      assert.notStrictEqual(os.getPriority(0), 19)
    }).pipe(Effect.provide(pool({ size: 2, niceness: 19 }))))

  it("niceness outside [0, 19] is an InvalidOption naming it", () => {
    for (const niceness of [-1, 20, 1.5]) {
      assert.throws(() => NodeRunner.layer(Tasks, { worker: workerFile, niceness }), /niceness/)
    }
  })

  it.live("out of memory under resourceLimits is a WorkerCrashed", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Runner.run(Crash, { mode: "oom" }).pipe(Effect.timeout("10 seconds")))
      assert.strictEqual(error._tag, "WorkerCrashed")
      assert.strictEqual(yield* Runner.run(Inc, 1), 2)
    }).pipe(Effect.provide(pool({ size: 1, resourceLimits: { maxOldGenerationSizeMb: 64 } }))))

  it.live("closing the scope terminates every worker and leaves no handle behind", () =>
    Effect.gen(function*() {
      const count = (kind: string) => process.getActiveResourcesInfo().filter((r) => r === kind).length
      const before = { ports: count("MessagePort"), workers: count("Worker") }
      yield* Effect.scoped(Effect.gen(function*() {
        const context = yield* Layer.build(pool({ size: 1 }))
        const runner = context.mapUnsafe.get(Runner.Runner.key) as Runner.RunnerShape
        assert.strictEqual(yield* runner.run(Inc, 1), 2)
        assert.isAbove(count("MessagePort") + count("Worker"), before.ports + before.workers)
      }))
      yield* Effect.sleep("20 millis")
      assert.deepStrictEqual({ ports: count("MessagePort"), workers: count("Worker") }, before)
    }))

  it.live("a worker file that dies while loading fails the layer with WorkerStartFailed", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(
        Layer.build(NodeRunner.layer(Tasks, { worker: new URL("./fixtures/broken.worker.ts", import.meta.url), size: 1 }))
      ).pipe(Effect.scoped)
      assert.strictEqual(error.reason, "WorkerStartFailed")
    }))

  it("rejects bad options when built", () => {
    assert.throws(() => pool({ size: 0 }), /size/)
    assert.throws(() => pool({ size: 1.5 }), /size/)
    assert.throws(() => pool({ taskTimeout: Number.NaN }), /taskTimeout/)
    assert.throws(() => pool({ cancelGrace: -1 }), /cancelGrace/)
    assert.throws(() => pool({ sendAhead: Number.POSITIVE_INFINITY }), /sendAhead/)
    assert.throws(() => pool({ recycleAfter: { tasks: 0 } }), /recycleAfter.tasks/)
  })
})
