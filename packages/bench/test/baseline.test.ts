/**
 * `--baseline`: two synthetic JSON files (written as a run writes them) compared figure by
 * figure — one figure really changed (intervals apart), one moved within noise, one
 * parallel figure of a machine-limited run — and a file that is not a bench document.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as Baseline from "../src/baseline.ts"
import { ResultsJson } from "../src/Results.ts"
import { figure } from "../src/Scenario.ts"
import { document, result } from "./fixtures.ts"

const run = (
  wall: ReadonlyArray<number>,
  overhead: ReadonlyArray<number>,
  speedup: ReadonlyArray<number>,
  control: ReadonlyArray<number>,
  startup: number
) =>
  document([
    result({
      scenario: "io-fanout",
      figures: {
        "wallMs.gather.1000": figure("ms", wall, { better: "lower" }),
        "overheadMicros.gather.1000": figure("µs/task", overhead, { better: "lower" })
      },
      rows: [],
      notes: []
    }),
    result({
      scenario: "cpu",
      figures: { speedup: figure("×", speedup, { better: "higher", parallel: true }), startupMs: figure("ms", [startup], { better: "lower" }) },
      control: figure("cores", control),
      rows: [],
      notes: []
    })
  ])

describe("baseline", () => {
  it.effect("a real change when the intervals are apart, within noise when they overlap", () =>
    Effect.gen(function*() {
      const dir = mkdtempSync(join(tmpdir(), "hybrid-baseline-"))
      try {
        const oldPath = join(dir, "old.json")
        const newPath = join(dir, "new.json")
        // wall time: 1000 ms → 1200 ms, tight samples: a real regression
        // overhead: 10 µs → 10.4 µs with samples spread over 8 … 13 µs: within noise
        // speed-up: 1.9 → 1.2, but the new run's control delivered 1.1 cores: machine-limited
        // start-up: 900 → 600 ms, one sample each
        writeFileSync(oldPath, Schema.encodeSync(ResultsJson)(run([1000, 1002, 998, 1001, 999], [10, 8, 13, 9, 12], [1.9, 1.88, 1.92], [1.95, 1.9, 1.97], 900)))
        writeFileSync(newPath, Schema.encodeSync(ResultsJson)(run([1200, 1203, 1198, 1201, 1199], [10.4, 8.2, 12.6, 9.5, 11.9], [1.2, 1.1, 1.3], [1.1, 1.2, 1.0], 600)))
        const before = yield* Baseline.read(oldPath)
        const after = yield* Baseline.read(newPath)
        const changes = Baseline.compare(before, after)
        const of = (key: string) => changes.find((c) => c.key === key)!
        assert.strictEqual(of("wallMs.gather.1000").verdict, "worse")
        assert.closeTo(of("wallMs.gather.1000").change, 0.2, 0.005)
        assert.isAbove(of("wallMs.gather.1000").changeLow, 0)
        assert.strictEqual(of("overheadMicros.gather.1000").verdict, "within noise")
        assert.strictEqual(of("speedup").verdict, "machine-limited")
        // measured once on each side: no interval, no verdict
        assert.strictEqual(of("startupMs").verdict, "single sample")
        const lines = Baseline.describe(changes)
        assert.include(lines[0]!, "1 of 4 figures changed beyond noise")
        assert.isTrue(lines.every((line) => line.length <= 100))
      } finally {
        rmSync(dir, { recursive: true, force: true })
      }
    }))

  it.effect("a file that is not a bench document is a BaselineUnreadable naming the path", () =>
    Effect.gen(function*() {
      const dir = mkdtempSync(join(tmpdir(), "hybrid-baseline-"))
      try {
        const path = join(dir, "old-format.json")
        // the unversioned format before raw samples: medians only
        writeFileSync(path, JSON.stringify({ machine: { cores: 2 }, quick: true, reports: [{ scenario: "cpu", figures: { speedup: 1.9 } }] }))
        const error = yield* Effect.flip(Baseline.read(path))
        assert.strictEqual(error._tag, "BaselineUnreadable")
        assert.strictEqual(error.path, path)
        assert.isAtMost(error.problem.length, 300)
        const missing = yield* Effect.flip(Baseline.read(join(dir, "absent.json")))
        assert.strictEqual(missing._tag, "BaselineUnreadable")
      } finally {
        rmSync(dir, { recursive: true, force: true })
      }
    }))
})
