import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { InvalidOption } from "@hybrid/core"
import { Faults } from "@hybrid/agent"
import { rng } from "../src/fixtures/random.ts"

const parseError = (spec: string) => Effect.flip(Faults.parse(spec))

describe("Faults.parse", () => {
  it.effect("reads the CLI's example spec", () =>
    Effect.gen(function*() {
      const config = yield* Faults.parse("news=down,weather=slow,kb=malformed,llm=429")
      assert.deepStrictEqual(config, {
        news: { down: true },
        weather: { slowdown: 4 },
        kb: { malformedRate: 1 },
        llm: { rpm: 2 }
      })
    }))

  it.effect("combines faults with +, merges repeated services, applies all to every service", () =>
    Effect.gen(function*() {
      const config = yield* Faults.parse(" all = errors:0.1 , llm=tpm:500+rpm:60+slow:2, llm=hang:0.2 , kb=uniform:100:300")
      assert.deepStrictEqual(config.weather, { errorRate: 0.1 })
      assert.deepStrictEqual(config.llm, { errorRate: 0.1, tpm: 500, rpm: 60, slowdown: 2, hangRate: 0.2 })
      assert.deepStrictEqual(config.kb, { errorRate: 0.1, latency: { _tag: "Uniform", min: 100, max: 300 } })
      assert.deepStrictEqual(yield* Faults.parse(""), {})
    }))

  it.effect("latency shapes: fixed, lognormal, pareto, and tail keeps the healthy median", () =>
    Effect.gen(function*() {
      const config = yield* Faults.parse("weather=fixed:250ms,news=lognormal:800:0.5,kb=pareto:100:1.2,llm=tail")
      assert.deepStrictEqual(config.weather?.latency, { _tag: "Fixed", millis: 250 })
      assert.deepStrictEqual(config.news?.latency, { _tag: "LogNormal", median: 800, sigma: 0.5, max: 16_000 })
      assert.deepStrictEqual(config.kb?.latency, { _tag: "Pareto", min: 100, alpha: 1.2, max: 2_000 })
      const tail = config.llm?.latency
      assert.strictEqual(tail?._tag, "Pareto")
      if (tail?._tag === "Pareto") {
        const healthy = Faults.defaults.llm.latency
        assert.strictEqual(healthy._tag, "LogNormal")
        if (healthy._tag === "LogNormal") assert.closeTo(tail.min * Math.pow(2, 1 / tail.alpha), healthy.median, 1e-9)
      }
    }))

  it.effect("a bad entry fails with FaultSpecError naming the entry", () =>
    Effect.gen(function*() {
      const cases: ReadonlyArray<[string, string, string]> = [
        ["news=down,weather=sloww", "weather=sloww", "unknown fault"],
        ["news=down,mail=down", "mail=down", "unknown service"],
        ["news", "news", "expected service=fault"],
        ["kb=errors:1.5", "kb=errors:1.5", "between 0 and 1"],
        ["weather=tpm:100", "weather=tpm:100", "llm only"],
        ["llm=rpm:0", "llm=rpm:0", "positive integer"],
        ["news=down+", "news=down+", "missing fault"],
        ["kb=uniform:300:100", "kb=uniform:300:100", "max must be ≥ min"],
        ["kb=slow:x", "kb=slow:x", "must be a number"],
        ["kb=errors:0.6+hang:0.6", "kb=errors:0.6+hang:0.6", "more than 1"]
      ]
      for (const [spec, entry, reason] of cases) {
        const error = yield* parseError(spec)
        assert.strictEqual(error._tag, "FaultSpecError")
        assert.strictEqual(error.entry, entry, spec)
        assert.include(error.reason, reason, spec)
        assert.include(error.message, `"${entry}"`)
      }
    }))
})

describe("Faults latency", () => {
  const draws = (latency: Faults.Latency, n = 20_000) => {
    const r = rng(42, "test")
    return Array.from({ length: n }, () => Faults.sample(latency, r)).sort((a, b) => a - b)
  }
  const quantile = (xs: ReadonlyArray<number>, q: number) => xs[Math.floor(q * (xs.length - 1))]!

  it("fixed and uniform stay within their bounds", () => {
    assert.isTrue(draws(Faults.fixed("250 millis"), 100).every((x) => x === 250))
    const u = draws(Faults.uniform(100, 300))
    assert.isAtLeast(u[0]!, 100)
    assert.isAtMost(u[u.length - 1]!, 300)
    assert.closeTo(quantile(u, 0.5), 200, 5)
  })

  it("lognormal has the configured median and a tail; pareto never goes below min and has a heavier tail", () => {
    const ln = draws(Faults.lognormal({ median: 1000, sigma: 0.5 }))
    assert.closeTo(quantile(ln, 0.5), 1000, 30)
    assert.isAbove(quantile(ln, 0.99) / quantile(ln, 0.5), 2.5) // e^(0.5·2.33) ≈ 3.2
    const p = draws(Faults.pareto({ min: 100, alpha: 1.2, max: "1 hour" }))
    assert.isAtLeast(p[0]!, 100)
    assert.closeTo(quantile(p, 0.5), 100 * Math.pow(2, 1 / 1.2), 5)
    assert.isAbove(quantile(p, 0.99) / quantile(p, 0.5), 20) // (100)^(1/1.2) / 2^(1/1.2) ≈ 26
    const capped = draws(Faults.pareto({ min: 100, alpha: 1.2 }))
    assert.isAtMost(capped[capped.length - 1]!, 2_000)
  })

  it("constructors and validate reject bad options with InvalidOption", () => {
    assert.throws(() => Faults.uniform(300, 100), InvalidOption)
    assert.throws(() => Faults.fixed(-1), InvalidOption)
    try {
      Faults.validate({ news: { errorRate: 0.5, hangRate: 0.6 } })
      assert.fail("expected InvalidOption")
    } catch (e) {
      assert.instanceOf(e, InvalidOption)
      if (e instanceof InvalidOption) assert.include(e.option, "faults.news")
    }
  })
})
