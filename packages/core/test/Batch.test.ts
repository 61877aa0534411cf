import { NodeFileSystem } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Schema } from "effect"
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { Batch, InvalidOption } from "@hybrid/core"
import * as tokens from "../src/internal/batchTokens.ts"

/** A fresh temp dir, removed when the test's scope closes. */
const tempDir = Effect.acquireRelease(
  Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "hybrid-batch-"))),
  (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
)

const writeLines = (file: string, lines: ReadonlyArray<string>) => fs.writeFileSync(file, lines.join("\n") + "\n")

const Result = Schema.Struct({
  line: Schema.Int,
  ok: Schema.Boolean,
  value: Schema.optionalKey(Schema.Unknown),
  error: Schema.optionalKey(Schema.Struct({ _tag: Schema.String, message: Schema.String })),
  attempts: Schema.Int,
  ms: Schema.Finite
})
const decodeResult = Schema.decodeUnknownSync(Schema.fromJsonString(Result))
const readResults = (file: string) =>
  fs.readFileSync(file, "utf8").split("\n").filter((l) => l !== "").map((l) => decodeResult(l))

/** Asserts that `output` holds every line 1..n exactly once. */
const assertExactlyOnce = (output: string, n: number) => {
  const lines = readResults(output).map((r) => r.line).sort((a, b) => a - b)
  assert.deepStrictEqual(lines, Array.from({ length: n }, (_, i) => i + 1))
}

const requests = (n: number) => Array.from({ length: n }, (_, i) => JSON.stringify({ id: i + 1 }))

const Request = Schema.Struct({ id: Schema.Int })

describe("Batch", () => {
  it.live("one result per line; a malformed line is a failed result naming its line; the run goes on", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const input = path.join(dir, "in.jsonl")
      const output = path.join(dir, "out.jsonl")
      writeLines(input, ['{"id":1}', "{oops", "", '{"id":"three"}', '{"id":4}'])
      const summary = yield* Batch.run({
        input,
        output,
        request: Request,
        progress: "off",
        handler: ({ id }) => id === 4 ? Effect.fail({ _tag: "Nope", message: "no 4" }) : Effect.succeed({ double: id * 2 })
      })
      assert.deepStrictEqual([summary.lines, summary.ok, summary.failed], [4, 1, 3])
      const results = readResults(output).sort((a, b) => a.line - b.line)
      assert.deepStrictEqual(results.map((r) => [r.line, r.ok]), [[1, true], [2, false], [4, false], [5, false]])
      assert.deepStrictEqual(results[0]!.value, { double: 2 })
      assert.strictEqual(results[1]!.error?._tag, "MalformedLine")
      assert.include(results[1]!.error?.message, "line 2")
      assert.strictEqual(results[2]!.error?._tag, "MalformedLine")
      assert.deepStrictEqual(results[3]!.error, { _tag: "Nope", message: "no 4" })
      assert.strictEqual(results[3]!.attempts, 1)
    }).pipe(Effect.provide(NodeFileSystem.layer)))

  it.live("a missing input or an unwritable output fails before any work, naming the path", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const input = path.join(dir, "in.jsonl")
      let calls = 0
      const handler = () => Effect.sync(() => calls++)
      const missing = yield* Effect.flip(
        Batch.run({ input: path.join(dir, "nope.jsonl"), output: path.join(dir, "o.jsonl"), handler, progress: "off" })
      )
      assert.strictEqual(missing._tag, "InputNotFound")
      assert.strictEqual(missing.path, path.join(dir, "nope.jsonl"))
      writeLines(input, requests(3))
      const unwritable = path.join(dir, "no-such-dir", "out.jsonl")
      const error = yield* Effect.flip(Batch.run({ input, output: unwritable, handler, progress: "off" }))
      assert.strictEqual(error._tag, "OutputNotWritable")
      assert.include(error.path, "no-such-dir")
      assert.strictEqual(calls, 0)
    }).pipe(Effect.provide(NodeFileSystem.layer)))

  it("rejects bad options when called", () => {
    const base = { input: "i", output: "o", handler: () => Effect.void }
    for (
      const bad of [
        { concurrency: 0 },
        { limits: { requestsPerMinute: -1 } },
        { limits: { tokensPerMinute: Number.NaN } },
        { progressEvery: Number.NaN }
      ]
    ) {
      try {
        Batch.run({ ...base, ...bad })
        assert.fail("expected InvalidOption")
      } catch (e) {
        assert.instanceOf(e, InvalidOption)
      }
    }
  })

  it.live("resume: interrupted at random points, then resumed, the output has every line exactly once and no finished line runs twice", () =>
    Effect.gen(function*() {
      for (let round = 0; round < 8; round++) {
        const dir = yield* tempDir
        const input = path.join(dir, "in.jsonl")
        const output = path.join(dir, "out.jsonl")
        const n = 40
        writeLines(input, requests(n))
        const calls = new Map<number, number>()
        const handler = ({ id }: { readonly id: number }) =>
          Effect.sync(() => calls.set(id, (calls.get(id) ?? 0) + 1)).pipe(
            Effect.andThen(Effect.sleep(1 + (id * 7) % 5)),
            Effect.as({ id })
          )
        const options = { input, output, request: Request, handler, concurrency: 4, progress: "off" as const }
        // several interruptions in a row, each resuming the last
        for (let k = 0; k < 3; k++) {
          const fiber = yield* Effect.forkChild(Batch.run({ ...options, resume: k > 0 }), { startImmediately: true })
          yield* Effect.sleep(Math.floor(Math.random() * 25))
          yield* Fiber.interrupt(fiber)
        }
        const done = new Set(readResults(output).map((r) => r.line))
        const before = new Map(calls)
        const summary = yield* Batch.run({ ...options, resume: true })
        assertExactlyOnce(output, n)
        assert.strictEqual(summary.skipped + summary.ok, n)
        for (const line of done) assert.strictEqual(calls.get(line), before.get(line), `line ${line} ran again`)
      }
    }).pipe(Effect.provide(NodeFileSystem.layer)))

  it.live("resume after a crash mid-write: a torn journal line and a missing output line are repaired", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const input = path.join(dir, "in.jsonl")
      const output = path.join(dir, "out.jsonl")
      writeLines(input, requests(10))
      let calls = 0
      const options = {
        input,
        output,
        progress: "off" as const,
        handler: (r: unknown) => Effect.sync(() => calls++).pipe(Effect.as(r))
      }
      yield* Batch.run(options)
      // the crash: the journal's last record was written, the output's was not; then a torn write
      const out = fs.readFileSync(output, "utf8").split("\n").filter((l) => l !== "")
      fs.writeFileSync(output, out.slice(0, -1).join("\n") + "\n")
      fs.appendFileSync(`${output}.journal`, '{"key":"abc","line":')
      fs.appendFileSync(output, '{"line":3,"ok":tr')
      calls = 0
      const summary = yield* Batch.run({ ...options, resume: true })
      assert.strictEqual(calls, 0)
      assert.strictEqual(summary.skipped, 10)
      assertExactlyOnce(output, 10)
    }).pipe(Effect.provide(NodeFileSystem.layer)))

  it.live("retryFailed reruns only the failures; a changed config redoes everything", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const input = path.join(dir, "in.jsonl")
      const output = path.join(dir, "out.jsonl")
      writeLines(input, requests(6))
      const seen: Array<number> = []
      let failOdd = true
      const options = {
        input,
        output,
        request: Request,
        progress: "off" as const,
        retry: false as const,
        handler: ({ id }: { readonly id: number }) =>
          Effect.sync(() => seen.push(id)).pipe(
            Effect.andThen(failOdd && id % 2 === 1 ? Effect.fail("odd") : Effect.succeed(id))
          )
      }
      const first = yield* Batch.run(options)
      assert.deepStrictEqual([first.ok, first.failed], [3, 3])
      seen.length = 0
      const resumed = yield* Batch.run({ ...options, resume: true })
      assert.deepStrictEqual([resumed.skipped, seen.length], [6, 0])
      failOdd = false
      const retried = yield* Batch.run({ ...options, retryFailed: true })
      assert.deepStrictEqual(seen.sort(), [1, 3, 5])
      assert.deepStrictEqual([retried.skipped, retried.ok, retried.failed], [3, 3, 0])
      assertExactlyOnce(output, 6)
      assert.isTrue(readResults(output).every((r) => r.ok))
      seen.length = 0
      yield* Batch.run({ ...options, resume: true, config: { model: "another" } })
      assert.strictEqual(seen.length, 6)
    }).pipe(Effect.provide(NodeFileSystem.layer)))

  it.live("retries overload failures and counts attempts", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const input = path.join(dir, "in.jsonl")
      const output = path.join(dir, "out.jsonl")
      writeLines(input, requests(2))
      const attempts = new Map<number, number>()
      yield* Batch.run({
        input,
        output,
        request: Request,
        progress: "off",
        retry: { times: 3, base: 1, while: (e: { readonly status: number }) => e.status === 429 },
        handler: ({ id }, { attempt }) =>
          Effect.sync(() => attempts.set(id, attempt)).pipe(
            Effect.andThen(attempt < 3 ? Effect.fail({ status: 429 }) : Effect.succeed(id))
          )
      })
      assert.deepStrictEqual(readResults(output).map((r) => [r.ok, r.attempts]), [[true, 3], [true, 3]])
    }).pipe(Effect.provide(NodeFileSystem.layer)))

  it.live("token budget: estimates are reserved, then reconciled with the usage the handler reports", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const input = path.join(dir, "in.jsonl")
      const output = path.join(dir, "out.jsonl")
      const chat = (i: number) => ({ messages: [{ role: "user", content: `Summarise document number ${i}, please.` }], max_tokens: 300 })
      writeLines(input, Array.from({ length: 8 }, (_, i) => JSON.stringify(chat(i))))
      const count = yield* tokens.encoder("o200k_base")
      const estimates = Array.from({ length: 8 }, (_, i) => tokens.estimate(count, chat(i)))
      // each estimate is > 300, the limit is 1000 a minute: without refunds only 3 calls
      // would fit this minute; the handler reports 20 tokens used, so all 8 fit at once
      const start = Date.now()
      const summary = yield* Batch.run({
        input,
        output,
        progress: "off",
        concurrency: 1,
        limits: { tokensPerMinute: 1_000 },
        handler: () => Effect.succeed({ choices: [], usage: { prompt_tokens: 15, completion_tokens: 5 } })
      })
      assert.isBelow(Date.now() - start, 5_000)
      assert.strictEqual(summary.ok, 8)
      assert.strictEqual(summary.tokens.reserved, estimates.reduce((a, b) => a + b, 0))
      assert.strictEqual(summary.tokens.used, 160)
      assert.strictEqual(summary.tokens.refunded, summary.tokens.reserved - 160)
      assert.isAbove(estimates[0]!, 300)
      assert.isBelow(estimates[0]!, 330)
    }).pipe(Effect.provide(NodeFileSystem.layer)))

  it.live("a real Ctrl-C (SIGINT to a child process) loses no finished result; the resume completes exactly once", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const input = path.join(dir, "in.jsonl")
      const output = path.join(dir, "out.jsonl")
      const n = 120
      writeLines(input, requests(n))
      const fixture = fileURLToPath(new URL("./fixtures/batch-sigint.ts", import.meta.url))
      const node = fileURLToPath(new URL("../../../node_modules/node/bin/node", import.meta.url))
      const code = yield* Effect.promise(() =>
        new Promise<number | null>((resolve) => {
          const child = spawn(node, [fixture, input, output, "0"], { stdio: "ignore" })
          // wait for the first results, then interrupt at a random moment
          const poll = setInterval(() => {
            if (fs.existsSync(output) && fs.statSync(output).size > 0) {
              clearInterval(poll)
              setTimeout(() => child.kill("SIGINT"), Math.floor(Math.random() * 150))
            }
          }, 5)
          child.on("exit", (code) => {
            clearInterval(poll)
            resolve(code)
          })
        })
      )
      assert.strictEqual(code, 130)
      const journaled = fs.readFileSync(`${output}.journal`, "utf8").split("\n").filter((l) => l !== "").length
      const written = readResults(output)
      assert.strictEqual(written.length, journaled)
      assert.isBelow(written.length, n)
      const done = new Set(written.map((r) => r.line))
      const reran: Array<number> = []
      const summary = yield* Batch.run({
        input,
        output,
        request: Request,
        resume: true,
        progress: "off",
        concurrency: 8,
        handler: ({ id }) => Effect.sync(() => reran.push(id))
      })
      assert.strictEqual(summary.skipped, done.size)
      assert.isTrue(reran.every((id) => !done.has(id)))
      assertExactlyOnce(output, n)
    }).pipe(Effect.provide(NodeFileSystem.layer)), 10_000)
})
