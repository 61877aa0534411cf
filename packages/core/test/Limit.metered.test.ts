import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit } from "effect"
import { InvalidOption, Limit, Options } from "@hybrid/core"

describe("Limit.metered", () => {
  it.effect("reserves the estimate, then reconciles with what the call used", () =>
    Effect.gen(function*() {
      const tpm = yield* Limit.rate({ limit: 1_000, window: "1 minute" })
      let seen = -1
      const result = yield* Effect.sync(() => {
        seen = 0
        return { used: 120 }
      }).pipe(
        Effect.tap(() => Effect.flatMap(tpm.inWindow, (n) => Effect.sync(() => (seen = n)))),
        Limit.metered(tpm, 600, (r) => r.used)
      )
      assert.strictEqual(seen, 600) // the estimate was held while the call ran
      assert.strictEqual(result.used, 120)
      assert.strictEqual(yield* tpm.inWindow, 120) // the surplus was refunded
    }))

  it.effect("an overrun is charged; no usage keeps the estimate; a failure keeps the reservation", () =>
    Effect.gen(function*() {
      const tpm = yield* Limit.rate({ limit: 1_000, window: "1 minute" })
      yield* Effect.succeed(300).pipe(Limit.metered(tpm, 100, (used) => used))
      assert.strictEqual(yield* tpm.inWindow, 300)
      yield* Effect.succeed("no usage").pipe(Limit.metered(tpm, 50, () => undefined))
      assert.strictEqual(yield* tpm.inWindow, 350)
      const exit = yield* Effect.exit(Effect.fail("boom").pipe(Limit.metered(tpm, 200, () => 0)))
      assert.isTrue(Exit.isFailure(exit))
      assert.strictEqual(yield* tpm.inWindow, 550)
    }))

  it.effect("without a limit the call runs as is; a cost over the whole window fails CostExceedsLimit", () =>
    Effect.gen(function*() {
      assert.strictEqual(yield* Effect.succeed(7).pipe(Limit.metered(undefined, 1e9, () => 1)), 7)
      const tpm = yield* Limit.rate({ limit: 10, window: "1 minute" })
      const error = yield* Effect.flip(Effect.succeed(1).pipe(Limit.metered(tpm, 11, () => 1)))
      assert.strictEqual(error._tag, "CostExceedsLimit")
    }))
})

describe("Options", () => {
  it("returns usable values and throws InvalidOption naming where, option and value", () => {
    assert.strictEqual(Options.integer("X.make", "size", 3), 3)
    assert.strictEqual(Options.duration("X.make", "timeout", "2 seconds", true), 2_000)
    assert.strictEqual(Options.oneOf("X.make", "mode", "a", ["a", "b"]), "a")
    assert.throws(() => Options.finite("X.make", "scale", Number.NaN), InvalidOption)
    try {
      Options.reject("X.make", "port", "abc", "a TCP port")
      assert.fail("expected a throw")
    } catch (e) {
      assert.instanceOf(e, InvalidOption)
      assert.strictEqual((e as InvalidOption).message, `X.make: option "port" must be a TCP port, got "abc"`)
    }
  })
})
