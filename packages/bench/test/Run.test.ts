/**
 * A bench run keeps what it measured: the document is saved after every scenario (with
 * `pending`), a failing scenario is recorded and the run goes on, an interruption leaves
 * the last saved document in place.
 */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Schema } from "effect"
import * as Facts from "../src/facts.ts"
import { type Results, ResultsJson } from "../src/Results.ts"
import * as Run from "../src/Run.ts"
import { figure, type Scenario } from "../src/Scenario.ts"

const facts = Facts.runFacts({ quick: true, repetitions: 3 })

const measured = (name: string): Scenario => ({
  name,
  description: `${name}: three samples`,
  run: () =>
    Effect.succeed({
      scenario: name,
      figures: { wall: figure("ms", [1, 2, 3]) },
      rows: [{ variant: name, wall: 2 }],
      notes: []
    })
})

const failing: Scenario = {
  name: "broken",
  description: "throws",
  run: () => Effect.die(new Error("peer crashed\nstack line"))
}

/** Every saved document, as it would be read back from disk. */
const recorder = () => {
  const saved: Array<Results> = []
  const save = (document: Results) =>
    Effect.sync(() => {
      saved.push(Schema.decodeUnknownSync(ResultsJson)(Schema.encodeSync(ResultsJson)(document)))
    })
  return { saved, save }
}

describe("Run", () => {
  it.effect("saves after every scenario, pending naming the ones still to run; the last save is complete", () =>
    Effect.gen(function*() {
      const { save, saved } = recorder()
      const results = yield* Run.run({ scenarios: [measured("a"), measured("b"), measured("c")], quick: true, repetitions: 3, facts, save })
      assert.deepStrictEqual(saved.map((d) => [d.reports.map((r) => r.scenario), d.pending]), [
        [["a"], ["b", "c"]],
        [["a", "b"], ["c"]],
        [["a", "b", "c"], undefined]
      ])
      assert.deepStrictEqual(results.reports.map((r) => r.scenario), ["a", "b", "c"])
      assert.strictEqual(results.failed, undefined)
      assert.deepStrictEqual(results.reports[0]!.figures["wall"]!.samples, [1, 2, 3])
    }))

  it.effect("a failing scenario is recorded with the first line of its error; the next one still runs", () =>
    Effect.gen(function*() {
      const { save, saved } = recorder()
      const results = yield* Run.run({ scenarios: [measured("a"), failing, measured("c")], quick: true, repetitions: 3, facts, save })
      assert.deepStrictEqual(results.reports.map((r) => r.scenario), ["a", "c"])
      assert.deepStrictEqual(results.failed, [{ scenario: "broken", error: "Error: peer crashed" }])
      assert.deepStrictEqual(saved.at(-1)!.failed, results.failed)
    }))

  it.effect("interrupted inside a scenario: the document saved before it holds every finished scenario", () =>
    Effect.gen(function*() {
      const { save, saved } = recorder()
      const started = yield* Deferred.make<void>()
      const hanging: Scenario = {
        name: "hangs",
        description: "never ends",
        run: () => Deferred.succeed(started, undefined).pipe(Effect.andThen(Effect.never))
      }
      const fiber = yield* Effect.forkChild(Run.run({ scenarios: [measured("a"), hanging, measured("c")], quick: true, repetitions: 3, facts, save }))
      yield* Deferred.await(started)
      yield* Fiber.interrupt(fiber)
      assert.strictEqual(saved.length, 1)
      assert.deepStrictEqual(saved[0]!.reports.map((r) => r.scenario), ["a"])
      assert.deepStrictEqual(saved[0]!.pending, ["hangs", "c"])
    }))
})
