import { assert, describe, it } from "@effect/vitest"
import { Cause, Deferred, Effect, Exit, Fiber, Queue, Schema, Stream } from "effect"
import { TestClock } from "effect/testing"
import { InvalidOption, Pipeline } from "@hybrid/core"
import { runs, runVirtual } from "./support.ts"

type Outcome = Pipeline.Outcome<number, unknown, unknown>

/** An iterable that counts how many items were read from it. */
const counted = (n: number) => {
  const state = { pulled: 0 }
  const iterable: Iterable<number> = {
    *[Symbol.iterator]() {
      for (let i = 0; i < n; i++) {
        state.pulled++
        yield i
      }
    }
  }
  return { iterable, state }
}

const sleepThen = <A>(ms: number, value: A) => Effect.sleep(ms).pipe(Effect.as(value))

const Spec = Schema.Struct({
  kind: Schema.Literals(["stage", "batch"]),
  concurrency: Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 3 })),
  buffer: Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 4 })),
  size: Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 4 }))
})
const Item = Schema.Struct({
  ms: Schema.Array(Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 40 }))).check(Schema.isBetweenLength(3, 3)),
  failAt: Schema.Int.check(Schema.isBetween({ minimum: -3, maximum: 2 }))
})

describe("Pipeline", () => {
  it.effect("runs every stage, records failures with their stage and input, keeps input order when asked", () =>
    Effect.gen(function*() {
      const exit = yield* runVirtual(
        Pipeline.from([1, 2, 3, 4, 5, 6])
          .stage("fetch", (n: number) => sleepThen((7 - n) * 10, n * 10), { concurrency: 6 })
          .stage("check", (n: number) => n === 40 ? Effect.fail("forty" as const) : Effect.succeed(n + 1))
          .run({ ordered: true })
      )
      assert.isTrue(Exit.isSuccess(exit))
      if (!Exit.isSuccess(exit)) return
      const report = exit.value
      assert.deepStrictEqual(report.outcomes.map((o) => o.index), [0, 1, 2, 3, 4, 5])
      assert.deepStrictEqual(
        report.outcomes.map((o) => o._tag === "Ok" ? o.value : o._tag === "Failed" ? `${o.stage}:${String(o.error)}` : "?"),
        [11, 21, 31, "check:forty", 51, 61]
      )
      const failed = report.outcomes[3]
      assert.strictEqual(failed?._tag === "Failed" ? failed.input : undefined, 4)
      assert.deepStrictEqual([report.inputs, report.ok, report.failed, report.cancelled], [6, 5, 1, 0])
      assert.deepStrictEqual(report.stages.map((s) => [s.name, s.itemsIn, s.itemsOut, s.failures]), [
        ["fetch", 6, 6, 0],
        ["check", 6, 5, 1]
      ])
    }))

  it.effect("default order is completion order", () =>
    Effect.gen(function*() {
      const exit = yield* runVirtual(
        Pipeline.from([3, 1, 2]).stage("wait", (n: number) => sleepThen(n * 10, n), { concurrency: 3 }).run()
      )
      assert.deepStrictEqual(Exit.isSuccess(exit) ? exit.value.outcomes.map((o) => o.input) : [], [1, 2, 3])
    }))

  it.effect("stages overlap: N items through 3 stages of 10 ms take (N + 2) × 10 ms, not 3N × 10 ms", () =>
    Effect.gen(function*() {
      const exit = yield* runVirtual(
        Pipeline.from(Array.from({ length: 20 }, (_, i) => i))
          .stage("fetch", (n: number) => sleepThen(10, n))
          .stage("process", (n: number) => sleepThen(10, n))
          .stage("store", (n: number) => sleepThen(10, n))
          .run()
      )
      assert.isTrue(Exit.isSuccess(exit))
      if (Exit.isSuccess(exit)) assert.strictEqual(exit.value.wallMs, 220)
    }))

  it.effect("names the bottleneck: the stage whose workers are busiest", () =>
    Effect.gen(function*() {
      const exit = yield* runVirtual(
        Pipeline.from(Array.from({ length: 30 }, (_, i) => i))
          .stage("fetch", (n: number) => sleepThen(40, n), { concurrency: 8 })
          .stage("parse", (n: number) => sleepThen(20, n), { concurrency: 1 })
          .stage("store", (n: number) => sleepThen(5, n))
          .run()
      )
      assert.isTrue(Exit.isSuccess(exit))
      if (!Exit.isSuccess(exit)) return
      assert.strictEqual(exit.value.bottleneck, "parse")
      const parse = exit.value.stages.find((s) => s.name === "parse")!
      assert.isAbove(parse.utilization, 0.9)
      assert.isAbove(parse.avgQueueDepth, 1)
      assert.strictEqual(parse.busyMs, 600)
    }))

  it.effect("backpressure: a slow last stage bounds what is held; queues never exceed their buffers", () =>
    Effect.gen(function*() {
      const { iterable, state } = counted(300)
      let delivered = 0
      let peakHeld = 0
      const spy = (n: number) =>
        Effect.sync(() => {
          peakHeld = Math.max(peakHeld, state.pulled - delivered)
          return n
        })
      const stages = [
        { buffer: 2, concurrency: 1 },
        { buffer: 3, concurrency: 2 },
        { buffer: 2, concurrency: 1 }
      ]
      const sinkBuffer = 4
      const exit = yield* runVirtual(
        Pipeline.from(iterable)
          .stage("fetch", spy, stages[0])
          .stage("parse", (n: number) => Effect.andThen(spy(n), Effect.succeed(n)), stages[1])
          .stage("store", (n: number) => sleepThen(100, n), stages[2])
          .run({ sinkBuffer, sink: () => Effect.sync(() => void delivered++) })
      )
      assert.isTrue(Exit.isSuccess(exit))
      if (!Exit.isSuccess(exit)) return
      const report = exit.value
      assert.strictEqual(report.ok, 300)
      // queued + in workers + waiting for the sink + at the sink + at the source
      const bound = stages.reduce((sum, s) => sum + s.buffer + s.concurrency, 0) + sinkBuffer + 2
      assert.isAtMost(peakHeld, bound)
      assert.isAbove(peakHeld, 5)
      report.stages.forEach((s, i) => assert.isAtMost(s.maxQueueDepth, stages[i]!.buffer))
      assert.isAbove(report.sourceBlockedMs, 0)
      assert.strictEqual(report.bottleneck, "store")
    }))

  it.effect.prop(
    "conservation: with random durations, failures and a stop point, every input ends exactly once",
    [
      Schema.Array(Spec).check(Schema.isBetweenLength(1, 3)),
      Schema.Array(Item).check(Schema.isBetweenLength(0, 16)),
      Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 400 })),
      Schema.Literals(["interrupt", "until", "none"]),
      Schema.Boolean
    ],
    ([specs, items, stopAt, mode, ordered]) =>
      Effect.gen(function*() {
        const { iterable, state } = counted(items.length)
        const seen: Array<Outcome> = []
        let pipeline: Pipeline.Pipeline<number, unknown, unknown> = Pipeline.from(iterable)
        specs.forEach((spec, k) => {
          const step = (n: unknown) => {
            const item = items[n as number]!
            return Effect.sleep(item.ms[k]!).pipe(
              Effect.andThen(item.failAt === k ? Effect.fail(`fail ${n}@${k}`) : Effect.succeed(n))
            )
          }
          pipeline = spec.kind === "stage"
            ? pipeline.stage(`s${k}`, step, spec)
            : pipeline.batch(`s${k}`, (chunk) => Effect.forEach(chunk, step), { ...spec, within: 15 })
        })
        const stop = yield* Deferred.make<void>()
        const fiber = yield* Effect.forkChild(
          pipeline.run({
            ordered,
            sink: (o) => Effect.sync(() => void seen.push(o)),
            until: mode === "until" ? Deferred.await(stop) : undefined
          }),
          { startImmediately: true }
        )
        yield* TestClock.adjust(stopAt)
        if (mode === "interrupt") yield* Fiber.interrupt(fiber)
        if (mode === "until") yield* Deferred.succeed(stop, undefined)
        yield* TestClock.adjust(3_600_000)
        const exit = yield* Fiber.await(fiber)

        // exactly one outcome per input read, none twice
        const indices = seen.map((o) => o.index).sort((a, b) => a - b)
        assert.deepStrictEqual(indices, Array.from({ length: state.pulled }, (_, i) => i))
        if (ordered) assert.deepStrictEqual(seen.map((o) => o.index), indices)
        for (const o of seen) {
          const item = items[o.index]!
          if (o._tag === "Ok") {
            assert.strictEqual(o.value, o.index)
            assert.isFalse(item.failAt >= 0 && item.failAt < specs.length)
          }
          // a batch fails as a whole: a chunk-mate's failure fails the item too
          if (o._tag === "Failed" && specs[Number(o.stage.slice(1))]?.kind !== "batch") {
            assert.strictEqual(o.stage, `s${item.failAt}`)
          }
        }
        if (mode === "interrupt" && Exit.isFailure(exit)) {
          assert.isTrue(Cause.hasInterruptsOnly(exit.cause))
          return
        }
        assert.isTrue(Exit.isSuccess(exit))
        if (!Exit.isSuccess(exit)) return
        const report = exit.value
        assert.strictEqual(report.inputs, state.pulled)
        assert.strictEqual(report.ok + report.failed + report.cancelled, report.inputs)
        assert.strictEqual(report.ok, seen.filter((o) => o._tag === "Ok").length)
        if (mode === "none") {
          assert.strictEqual(report.inputs, items.length)
          assert.strictEqual(report.cancelled, 0)
          const failing = items.filter((i) => i.failAt >= 0 && i.failAt < specs.length).length
          if (specs.every((s) => s.kind === "stage")) assert.strictEqual(report.failed, failing)
          else assert.isAtLeast(report.failed, failing)
        }
      }),
    runs
  )

  it.effect("an interrupted run delivers finished results and Cancelled for the rest, naming their stage", () =>
    Effect.gen(function*() {
      const seen: Array<Outcome> = []
      const fiber = yield* Effect.forkChild(
        Pipeline.from([0, 1, 2, 3])
          .stage("fast", (n: number) => Effect.succeed(n))
          .stage("slow", (n: number) => sleepThen(n === 0 ? 5 : 1_000, n), { concurrency: 2 })
          .run({ sink: (o) => Effect.sync(() => void seen.push(o)) }),
        { startImmediately: true }
      )
      yield* TestClock.adjust(10)
      yield* Fiber.interrupt(fiber)
      assert.deepStrictEqual(seen.map((o) => [o.index, o._tag, o._tag === "Cancelled" ? o.stage : ""]), [
        [0, "Ok", ""],
        [1, "Cancelled", "slow"],
        [2, "Cancelled", "slow"],
        [3, "Cancelled", "slow"]
      ])
    }))

  it.effect("until stops the run and returns the report", () =>
    Effect.gen(function*() {
      const exit = yield* runVirtual(
        Pipeline.from([0, 1, 2]).stage("slow", (n: number) => sleepThen(100 * (n + 1), n), { concurrency: 3 })
          .run({ until: Effect.sleep(150) })
      )
      assert.isTrue(Exit.isSuccess(exit))
      if (!Exit.isSuccess(exit)) return
      assert.deepStrictEqual([exit.value.ok, exit.value.cancelled, exit.value.stopped], [1, 2, true])
    }))

  it.effect("reads a Stream or a Queue source", () =>
    Effect.gen(function*() {
      const fromStream = yield* Pipeline.from(Stream.range(1, 5)).stage("double", (n: number) => Effect.succeed(n * 2))
        .run({ ordered: true })
      assert.deepStrictEqual(fromStream.outcomes.map((o) => o._tag === "Ok" ? o.value : -1), [2, 4, 6, 8, 10])
      const queue = yield* Queue.bounded<string, Cause.Done>(8)
      yield* Queue.offerAll(queue, ["a", "b", "c"])
      yield* Queue.end(queue)
      const fromQueue = yield* Pipeline.from(queue).stage("upper", (s: string) => Effect.succeed(s.toUpperCase()))
        .run({ ordered: true })
      assert.deepStrictEqual(fromQueue.outcomes.map((o) => o._tag === "Ok" ? o.value : ""), ["A", "B", "C"])
    }))

  it.effect("a failing source: items already read finish, then run fails with the source's error", () =>
    Effect.gen(function*() {
      const seen: Array<Outcome> = []
      const source = Stream.concat(Stream.make(1, 2), Stream.fail("source broke" as const))
      const error = yield* Pipeline.from(source).stage("id", (n: number) => Effect.succeed(n))
        .run({ sink: (o) => Effect.sync(() => void seen.push(o)) })
        .pipe(Effect.flip)
      assert.strictEqual(error, "source broke")
      assert.deepStrictEqual(seen.map((o) => o._tag), ["Ok", "Ok"])
    }))

  it.effect("batch: f gets chunks of `size` (fewer after `within`); a wrong result count fails the chunk", () =>
    Effect.gen(function*() {
      const chunks: Array<ReadonlyArray<number>> = []
      const exit = yield* runVirtual(
        Pipeline.from([0, 1, 2, 3, 4, 5, 6])
          .stage("arrive", (n: number) => sleepThen(n < 5 ? n : 100, n))
          .batch("store", (chunk) =>
            Effect.sync(() => {
              chunks.push(chunk)
              return chunk.includes(6) ? [] : chunk.map((n) => n * 10)
            }), { size: 2, within: 50 })
          .run({ ordered: true })
      )
      assert.deepStrictEqual(chunks, [[0, 1], [2, 3], [4], [5], [6]])
      assert.isTrue(Exit.isSuccess(exit))
      if (!Exit.isSuccess(exit)) return
      const last = exit.value.outcomes[6]
      assert.strictEqual(last?._tag === "Failed" ? (last.error as { _tag: string })._tag : "", "BatchMismatch")
      assert.strictEqual(exit.value.ok, 6)
    }))

  it.effect("a defect in a stage fails that item with StageDefect; the run goes on", () =>
    Effect.gen(function*() {
      const report = yield* Pipeline.from([1, 2, 3])
        .stage("risky", (n: number) => n === 2 ? Effect.die("bug") : Effect.succeed(n))
        .run({ ordered: true })
      assert.deepStrictEqual(report.outcomes.map((o) => o._tag), ["Ok", "Failed", "Ok"])
      const failed = report.outcomes[1]
      assert.strictEqual(failed?._tag === "Failed" ? (failed.error as { _tag: string })._tag : "", "StageDefect")
    }))

  it.effect("a pipeline without stages passes inputs through", () =>
    Effect.gen(function*() {
      const report = yield* Pipeline.from(["x", "y"]).run({ ordered: true })
      assert.deepStrictEqual(report.outcomes.map((o) => o._tag === "Ok" ? o.value : ""), ["x", "y"])
    }))

  it("rejects bad options when the pipeline is built", () => {
    const p = Pipeline.from([1])
    const bad = [
      () => p.stage("a", Effect.succeed, { concurrency: 0 }),
      () => p.stage("a", Effect.succeed, { buffer: -1 }),
      () => p.stage("a", Effect.succeed, { concurrency: Number.NaN }),
      () => p.batch("a", Effect.succeed, { size: 0 }),
      () => p.batch("a", Effect.succeed, { size: 2, within: Number.NaN }),
      () => p.stage("", Effect.succeed),
      () => p.stage("a", Effect.succeed).stage("a", Effect.succeed),
      () => p.run({ sinkBuffer: 0 })
    ]
    for (const build of bad) {
      try {
        build()
        assert.fail("expected InvalidOption")
      } catch (e) {
        assert.instanceOf(e, InvalidOption)
      }
    }
  })
})
