/**
 * The Python asyncio peer (`python/asyncio_bench.py`) still runs and prints what the
 * scenarios parse — on tiny inputs, in a second or two. Skipped without `python3`.
 */
import { assert, describe, it } from "@effect/vitest"
import { execFileSync, spawnSync } from "node:child_process"
import { fileURLToPath } from "node:url"

const script = fileURLToPath(new URL("../python/asyncio_bench.py", import.meta.url))
const hasPython = spawnSync("python3", ["--version"]).status === 0
if (!hasPython) console.warn("python.test.ts: skipping — no python3 on PATH (the bench skips its asyncio peer too)")

const run = (args: ReadonlyArray<string>) => JSON.parse(execFileSync("python3", [script, ...args], { encoding: "utf8" })) as Record<string, unknown>

describe.skipIf(!hasPython)("asyncio_bench.py", () => {
  it("fanout: N timer waits through asyncio.gather, unbounded and under a Semaphore", () => {
    const gather = run(["fanout", "--n", "200", "--wait-ms", "50"])
    assert.strictEqual(gather.variant, "python")
    assert.strictEqual(gather.n, 200)
    assert.isAtLeast(gather.wallMs as number, 50)
    const bounded = run(["fanout", "--n", "200", "--wait-ms", "10", "--limit", "20"])
    assert.strictEqual(bounded.variant, "python-bounded")
    assert.isAtLeast(bounded.wallMs as number, 100) // ten waves of 10 ms
    assert.isNumber(bounded.rssPerTask)
  })

  it("pipeline: gather-then-process and Queue stages, with the bound", () => {
    const result = run(["pipeline", "--items", "16", "--concurrency", "4", "--fetch-ms", "5", "--store-ms", "2", "--cpu-ms", "1", "--workers", "2", "--reps", "1"])
    assert.isAbove(result.boundMs as number, 0)
    assert.lengthOf(result.gatherMs as Array<number>, 1)
    assert.lengthOf(result.pipelineMs as Array<number>, 1)
    // raw samples for the peer's own bound and pool, one per repetition (the scenario's spread)
    assert.lengthOf(result.cpuMs as Array<number>, 1)
    assert.lengthOf(result.poolSamplesMs as Array<number>, 1)
    assert.isAtLeast((result.pipelineMs as Array<number>)[0]!, 16 * 7 / 4) // Σ I/O / concurrency
  })
}, 60_000)
