import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Exit, Fiber, Metric, Schema } from "effect"
import { TestClock } from "effect/testing"
import * as Deadline from "../src/Deadline.ts"
import * as Runner from "../src/Runner.ts"
import * as Task from "../src/Task.ts"
import { handlers } from "./fixtures/handlers.ts"
import { Analyze, BadResult, Inc, Nap, Primes, Remaining, Reverse, Tasks } from "./fixtures/tasks.ts"

const InProcess = Runner.layerInProcess(Tasks, handlers, { taskTimeout: "10 seconds" })

const failure = <A, E>(exit: Exit.Exit<A, E>): E => {
  if (Exit.isSuccess(exit)) throw new Error("expected a failure")
  const reason = exit.cause.reasons.find((r) => r._tag === "Fail")
  if (reason === undefined || reason._tag !== "Fail") throw new Error(`expected a Fail, got ${String(exit.cause)}`)
  return reason.error
}

describe("Runner (in process)", () => {
  it.effect("run returns the handler's result, typed errors stay typed", () =>
    Effect.gen(function*() {
      assert.strictEqual(yield* Runner.run(Inc, 41), 42)
      assert.deepStrictEqual(yield* Runner.run(Analyze, { label: "a", values: [1, 5, 2] }), {
        label: "a",
        sum: 8,
        max: 5,
        count: 3
      })
      const error = yield* Effect.flip(Runner.run(Analyze, { label: "a", values: [1, -5] }))
      assert.strictEqual(error._tag, "NegativeFound")
      if (error._tag === "NegativeFound") assert.deepStrictEqual([error.index, error.value], [1, -5])
      const empty = yield* Effect.flip(Runner.run(Analyze, { label: "e", values: [] }))
      assert.strictEqual(empty._tag, "EmptyInput")
    }).pipe(Effect.provide(InProcess)))

  it.effect("forEach keeps input order", () =>
    Effect.gen(function*() {
      const out = yield* Runner.forEach(Primes, [{ n: 100 }, { n: 10 }, { n: 1000 }, { n: 2 }])
      assert.deepStrictEqual(out, [25, 4, 168, 0])
    }).pipe(Effect.provide(InProcess)))

  it.effect("a payload that fails its Schema is a RunnerError carrying the SchemaError", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Runner.run(Primes, { n: 1.5 }))
      assert.strictEqual(error._tag, "RunnerError")
      if (error._tag !== "RunnerError") return
      assert.strictEqual(error.reason, "InvalidPayload")
      assert.strictEqual(error.task, "Primes")
      assert.isTrue(Schema.isSchemaError(error.cause))
    }).pipe(Effect.provide(InProcess)))

  it.effect("a result that fails its Schema is a RunnerError naming the task", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Runner.run(BadResult, undefined))
      assert.strictEqual(error._tag, "RunnerError")
      if (error._tag !== "RunnerError") return
      assert.strictEqual(error.reason, "InvalidResult")
      assert.strictEqual(error.task, "BadResult")
    }).pipe(Effect.provide(InProcess)))

  it.effect("a task outside the group is a RunnerError", () =>
    Effect.gen(function*() {
      const Other = Task.make("Other", { payload: Schema.Number, success: Schema.Number })
      const error = yield* Effect.flip(Runner.run(Other, 1))
      assert.strictEqual(error._tag, "RunnerError")
      if (error._tag === "RunnerError") assert.strictEqual(error.reason, "UnknownTask")
    }).pipe(Effect.provide(InProcess)))

  it.effect("taskTimeout fails the call with TaskTimeout", () =>
    Effect.gen(function*() {
      const fiber = yield* Effect.forkChild(Runner.run(Nap, { ms: 60_000 }))
      yield* TestClock.adjust("10 seconds")
      const error = failure(yield* Fiber.await(fiber))
      assert.strictEqual(error._tag, "TaskTimeout")
      if (error._tag === "TaskTimeout") assert.strictEqual(error.timeout, 10_000)
    }).pipe(Effect.provide(InProcess)))

  it.effect("handlers see the caller's Deadline", () =>
    Effect.gen(function*() {
      assert.strictEqual(yield* Runner.run(Remaining, undefined), -1)
      const left = yield* Runner.run(Remaining, undefined).pipe(Deadline.within("3 seconds"))
      assert.strictEqual(left, 3000)
    }).pipe(Effect.provide(InProcess)))

  it.effect("Uint8Array payloads and results round-trip", () =>
    Effect.gen(function*() {
      const out = yield* Runner.run(Reverse, new Uint8Array([1, 2, 3]))
      assert.deepStrictEqual(Array.from(out), [3, 2, 1])
    }).pipe(Effect.provide(InProcess)))

  it.effect("records run time", () =>
    Effect.gen(function*() {
      yield* Runner.run(Inc, 1)
      const state = yield* Metric.value(Runner.runTime)
      assert.isTrue(state.count >= 1)
    }).pipe(Effect.provide(InProcess)))

  it("rejects bad options when built", () => {
    assert.throws(() => Runner.layerInProcess(Tasks, handlers, { taskTimeout: Duration.millis(Number.NaN) }), /taskTimeout/)
    assert.throws(() => Task.group(Inc, Inc), /unique task names/)
  })
})
