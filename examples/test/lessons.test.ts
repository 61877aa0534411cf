/**
 * Every lesson runs: each `examples/NN-*.ts` present is started as a child process with
 * `--scale 0.05` (simulated latencies and CPU work shrunk to a twentieth) and must exit 0
 * having printed something. A smoke test of the programs as a learner runs them, not a
 * check of their timings.
 */
import { assert, describe, it } from "@effect/vitest"
import { execFile } from "node:child_process"
import { readdirSync } from "node:fs"
import { fileURLToPath } from "node:url"

const examples = fileURLToPath(new URL("..", import.meta.url))
const lessons = readdirSync(examples).filter((file) => /^\d\d-.*\.ts$/.test(file)).sort()

const run = (lesson: string) =>
  new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    execFile(process.execPath, [lesson, "--scale", "0.05"], { cwd: examples, timeout: 30_000 }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : typeof error.code === "number" ? error.code : null, stdout, stderr })
    })
  })

describe("lessons", () => {
  it("finds the lessons", () => {
    assert.isAtLeast(lessons.length, 5)
  })

  for (const lesson of lessons) {
    it(`${lesson} --scale 0.05 exits 0 and prints its results`, async () => {
      const { code, stdout, stderr } = await run(lesson)
      assert.strictEqual(code, 0, `${lesson} failed:\n${stderr}`)
      assert.isAbove(stdout.trim().length, 0, `${lesson} printed nothing`)
    }, 40_000)
  }
})
