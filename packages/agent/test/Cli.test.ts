/**
 * The `hybrid` CLI as a user runs it: each case starts `src/cli/main.ts` as a child
 * process (Node's own binary, `process.execPath`) at `--scale 0.05` against the fixtures.
 */
import { assert, describe, it } from "@effect/vitest"
import { execFile } from "node:child_process"
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"

const main = fileURLToPath(new URL("../src/cli/main.ts", import.meta.url))

interface Result {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

const hybrid = (args: ReadonlyArray<string>, env: Record<string, string> = {}) =>
  new Promise<Result>((resolve) => {
    execFile(process.execPath, [main, ...args], { env: { ...process.env, ...env }, timeout: 150_000 }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : typeof error.code === "number" ? error.code : null, stdout, stderr })
    })
  })

interface DemoJson {
  readonly sequential: { readonly wallMs: number }
  readonly hybrid: { readonly wallMs: number; readonly boundMs: number }
  readonly speedup: number
  readonly answers: ReadonlyArray<{
    readonly query: string
    readonly text: string
    readonly degraded: boolean
    readonly sources: ReadonlyArray<{ readonly name: string; readonly status: string; readonly ms: number }>
  }>
}

const status = (answer: DemoJson["answers"][number], name: string) => answer.sources.find((s) => s.name === name)?.status

describe("hybrid CLI", () => {
  it("demo --json prints one JSON object: both runs, the speedup, the bound and the answers", async () => {
    const { code, stderr, stdout } = await hybrid(["demo", "--json", "--scale", "0.05", "--queries", "2"])
    assert.strictEqual(code, 0, stderr)
    const demo = JSON.parse(stdout) as DemoJson // the whole of stdout: nothing else is printed
    assert.isAbove(demo.sequential.wallMs, 0)
    assert.isAbove(demo.hybrid.wallMs, 0)
    assert.isAbove(demo.hybrid.boundMs, 0)
    assert.isAtMost(demo.hybrid.boundMs, demo.hybrid.wallMs + 1)
    // the speed-up itself is the agent benchmark's figure (×2.7 on a quiet machine): two
    // queries at scale 0.05 are too short a run to compare on a loaded CI machine
    assert.isAbove(demo.speedup, 0, stdout)
    assert.closeTo(demo.speedup, demo.sequential.wallMs / demo.hybrid.wallMs, 0.01)
    assert.strictEqual(demo.answers.length, 2)
    for (const answer of demo.answers) {
      assert.isAbove(answer.query.length, 0)
      assert.isAbove(answer.text.length, 0)
      assert.isFalse(answer.degraded)
      assert.deepStrictEqual(answer.sources.map((s) => [s.name, s.status]), [["weather", "ok"], ["news", "ok"], ["kb", "ok"]])
      assert.isTrue(answer.sources.every((s) => s.ms > 0))
    }
  }, 160_000)

  it("demo --faults news=down: news fails in every answer (then its circuit opens), the others are ok", async () => {
    const { code, stderr, stdout } = await hybrid(["demo", "--json", "--scale", "0.05", "--queries", "2", "--faults", "news=down"])
    assert.strictEqual(code, 0, stderr)
    const demo = JSON.parse(stdout) as DemoJson
    assert.strictEqual(demo.answers.length, 2)
    // the first answer's news is refused; after 5 refused attempts the breaker opens and
    // the next answer's news fails fast: "circuit-open", a failure without a request
    assert.strictEqual(status(demo.answers[0]!, "news"), "failed")
    for (const answer of demo.answers) {
      assert.include(["failed", "circuit-open"], status(answer, "news"))
      assert.strictEqual(status(answer, "weather"), "ok")
      assert.strictEqual(status(answer, "kb"), "ok")
      assert.isTrue(answer.degraded)
      assert.isAbove(answer.text.length, 0)
    }
  }, 160_000)

  it("demo without --json (not a terminal): a plain line per phase, every line within 80 columns, the answer wrapped at words", async () => {
    const { code, stderr, stdout } = await hybrid(["demo", "--scale", "0.05", "--queries", "2"])
    assert.strictEqual(code, 0, stderr)
    const lines = stdout.split("\n")
    for (const line of lines) assert.isAtMost([...line].length, 80, line)
    assert.notMatch(stdout, /\x1b|\r/) // no terminal control codes when stdout is not a terminal
    for (const phase of ["sequential", "hybrid"]) {
      assert.include(stdout, `  ${phase}: starting the fixtures`)
      assert.match(stdout, new RegExp(`  ${phase} 1/2: (weather|news|kb) ok after \\d+\\.\\d\\d s`))
      assert.match(stdout, new RegExp(`  ${phase} 2/2: \\d+\\.\\d\\d s, weather ok, news ok, kb ok`))
    }
    // the answers' paragraphs are wrapped greedily at word boundaries: a line ends where the next word would not fit
    const answer = lines.slice(lines.findIndex((l) => l.startsWith("  answer (")) + 1)
    const block = answer.slice(0, answer.findIndex((l) => !l.startsWith("    ")))
    assert.isAbove(block.length, 1)
    for (let i = 0; i + 1 < block.length; i++) {
      const next = block[i + 1]!.trim().split(" ")[0]!
      assert.isAbove([...block[i]!].length + 1 + [...next].length, 80, `${block[i]} | ${next}`)
    }
  }, 160_000)

  it("a bad --faults entry, --scale or --queries: non-zero exit, the flag and the value named", async () => {
    // three independent runs, side by side: on a loaded 2-core CI machine each start-up can take many seconds
    const [faults, scale, queries] = await Promise.all([
      hybrid(["demo", "--scale", "0.05", "--faults", "news=down,kb=sometimes"]),
      hybrid(["demo", "--scale", "-1"]),
      hybrid(["demo", "--queries", "many"])
    ])
    assert.notStrictEqual(faults.code, 0)
    assert.include(faults.stderr, "--faults")
    assert.include(faults.stderr, "kb=sometimes")
    assert.include(faults.stderr, "unknown fault")
    assert.strictEqual(faults.stdout, "")
    assert.notStrictEqual(scale.code, 0)
    assert.include(scale.stderr, "--scale")
    assert.notStrictEqual(queries.code, 0)
    assert.include(queries.stderr, "--queries")
    assert.include(queries.stderr, "many")
  }, 160_000)

  it("ask answers one question (--json: the Answer)", async () => {
    const { code, stderr, stdout } = await hybrid(["ask", "Will it rain in Oslo, and what is new about electric cars?", "--scale", "0.05", "--budget", "5s", "--json"])
    assert.strictEqual(code, 0, stderr)
    const answer = JSON.parse(stdout) as { text: string; synthesis: string; sources: ReadonlyArray<{ name: string; status: string }> }
    assert.strictEqual(answer.synthesis, "llm")
    assert.match(answer.text, /electric car|Oslo/i)
    assert.deepStrictEqual(answer.sources.map((s) => s.status), ["ok", "ok", "ok"])
    const bad = await hybrid(["ask", "anything", "--budget", "soon"])
    assert.notStrictEqual(bad.code, 0)
    assert.include(bad.stderr, "--budget")
    assert.include(bad.stderr, "soon")
  }, 160_000)

  it("batch writes one line per input line, with its line number; --resume skips the lines done", async () => {
    const dir = mkdtempSync(join(tmpdir(), "hybrid-batch-"))
    const input = join(dir, "in.jsonl")
    const output = join(dir, "out.jsonl")
    writeFileSync(input, ['{"query":"Will it rain in Oslo?"}', "not json", "", '{"query":"electric cars"}', '{"nope":1}'].join("\n"))
    const args = ["batch", input, "-o", output, "--scale", "0.05", "--budget", "5s", "--concurrency", "2"]
    const first = await hybrid(args)
    assert.strictEqual(first.code, 3, first.stderr) // some lines failed
    const lines = readFileSync(output, "utf8").trim().split("\n").map((l) => JSON.parse(l) as { line: number; ok: boolean; value?: { text: string } })
    assert.deepStrictEqual(lines.map((l) => [l.line, l.ok]).sort((a, b) => Number(a[0]) - Number(b[0])), [[1, true], [2, false], [4, true], [5, false]])
    assert.isTrue(lines.filter((l) => l.ok).every((l) => (l.value?.text.length ?? 0) > 0))
    assert.include(first.stdout, "4 lines, 2 ok, 2 failed")
    assert.include(first.stderr, "2 of 4 lines failed (lines 2, 5)")

    const resumed = await hybrid([...args, "--resume"])
    assert.strictEqual(resumed.code, 3, resumed.stderr) // the kept failures are still failures
    assert.include(resumed.stdout, "0 ok, 0 failed, 4 skipped")
    assert.strictEqual(readFileSync(output, "utf8").trim().split("\n").length, 4)

    const missing = await hybrid(["batch", join(dir, "missing.jsonl"), "-o", output])
    assert.strictEqual(missing.code, 2)
    assert.include(missing.stderr, "missing.jsonl")
  }, 160_000)
})
