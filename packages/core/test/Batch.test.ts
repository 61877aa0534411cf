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
      assert.strictEqual(missing._tag === "InputNotFound" ? missing.path : "", path.join(dir, "nope.jsonl"))
      writeLines(input, requests(3))
      const unwritable = path.join(dir, "no-such-dir", "out.jsonl")
      const error = yield* Effect.flip(Batch.run({ input, output: unwritable, handler, progress: "off" }))
      assert.strictEqual(error._tag, "OutputNotWritable")
      assert.include(error._tag === "OutputNotWritable" ? error.path : "", "no-such-dir")
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
        // interrupted before it wrote anything, a run leaves no output
        const done = new Set(fs.existsSync(output) ? readResults(output).map((r) => r.line) : [])
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

describe("Batch owns its output", () => {
  const node = fileURLToPath(new URL("../../../node_modules/node/bin/node", import.meta.url))
  const fixture = fileURLToPath(new URL("./fixtures/batch-sigint.ts", import.meta.url))

  it.live("two runs on one output: the second fails at once with OutputLocked naming the first; after a SIGKILL the stale lock is removed and reported", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const input = path.join(dir, "in.jsonl")
      const other = path.join(dir, "other.jsonl")
      const output = path.join(dir, "out.jsonl")
      const n = 400
      writeLines(input, requests(n))
      writeLines(other, Array.from({ length: 40 }, (_, i) => JSON.stringify({ other: i })))
      const child = spawn(node, [fixture, input, output, "0"], { stdio: "ignore" })
      const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on("exit", (_code, signal) => resolve(signal)))
      // the first run is under way once it has written a result
      yield* Effect.promise(() =>
        new Promise<void>((resolve) => {
          const poll = setInterval(() => {
            if (fs.existsSync(output) && fs.statSync(output).size > 0) {
              clearInterval(poll)
              resolve()
            }
          }, 5)
        })
      )
      let calls = 0
      const handler = () => Effect.sync(() => calls++)
      for (const resume of [false, true]) {
        const t0 = Date.now()
        const error = yield* Effect.flip(Batch.run({ input: other, output, handler, progress: "off", resume }))
        assert.isBelow(Date.now() - t0, 500, "fails at once")
        assert.strictEqual(error._tag, "OutputLocked")
        if (error._tag !== "OutputLocked") return
        assert.strictEqual(error.pid, child.pid)
        assert.strictEqual(error.host, os.hostname())
        assert.include(error.message, `pid ${child.pid}`)
        assert.isTrue(Number.isFinite(Date.parse(error.startedAt)))
      }
      assert.strictEqual(calls, 0)
      // the first run is killed where it stands: its lock stays behind
      child.kill("SIGKILL")
      assert.strictEqual(yield* Effect.promise(() => exited), "SIGKILL")
      assert.isTrue(fs.existsSync(`${output}.lock`))
      const summary = yield* Batch.run({ input, output, handler: (r: unknown) => Effect.succeed(r), progress: "off", resume: true })
      assert.deepStrictEqual(summary.staleLocks.map((l) => l.pid), [child.pid])
      assertExactlyOnce(output, n)
      assert.isFalse(fs.existsSync(`${output}.lock`), "released at the end")
    }).pipe(Effect.provide(NodeFileSystem.layer)), 15_000)

  it.live("input = output (same path, a symlink, a `..` detour, a hard link, or the journal) fails with InputIsOutput and leaves the input as it was", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const input = path.join(dir, "q.jsonl")
      writeLines(input, requests(3))
      const before = fs.readFileSync(input, "utf8")
      fs.symlinkSync(input, path.join(dir, "link.jsonl"))
      fs.linkSync(input, path.join(dir, "hard.jsonl"))
      fs.mkdirSync(path.join(dir, "sub"))
      let calls = 0
      const handler = () => Effect.sync(() => calls++)
      const cases: ReadonlyArray<readonly [Partial<Batch.Options<unknown, unknown, never, never>>, string]> = [
        [{ output: input }, "same path"],
        [{ output: path.join(dir, "link.jsonl") }, "resolve"],
        [{ output: `${dir}/sub/../q.jsonl` }, "same path"],
        [{ output: path.join(dir, "hard.jsonl") }, "hard link"],
        [{ output: path.join(dir, "out.jsonl"), journal: input }, "same path"]
      ]
      for (const [paths, reason] of cases) {
        for (const mode of [{}, { resume: true }, { overwrite: true }]) {
          const error = yield* Effect.flip(Batch.run({ input, output: "", handler, progress: "off", ...paths, ...mode }))
          assert.strictEqual(error._tag, "InputIsOutput", JSON.stringify(paths))
          assert.include(error._tag === "InputIsOutput" ? error.reason : "", reason)
        }
      }
      assert.strictEqual(calls, 0)
      assert.strictEqual(fs.readFileSync(input, "utf8"), before)
      assert.isFalse(fs.existsSync(`${input}.bak`))
    }).pipe(Effect.provide(NodeFileSystem.layer)))

  it.live("a rerun without resume over an earlier run's results refuses (OutputExists names --resume, --retry-failed, --overwrite) and changes nothing; overwrite keeps them as .bak", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const input = path.join(dir, "in.jsonl")
      const output = path.join(dir, "out.jsonl")
      writeLines(input, requests(5))
      const options = { input, output, request: Request, progress: "off" as const, handler: ({ id }: { id: number }) => Effect.succeed(id) }
      yield* Batch.run(options)
      const out = fs.readFileSync(output, "utf8")
      const journaled = fs.readFileSync(`${output}.journal`, "utf8")
      const error = yield* Effect.flip(Batch.run(options))
      assert.strictEqual(error._tag, "OutputExists")
      for (const flag of ["--resume", "--retry-failed", "--overwrite", ".bak"]) assert.include(error.message, flag)
      assert.strictEqual(fs.readFileSync(output, "utf8"), out)
      assert.strictEqual(fs.readFileSync(`${output}.journal`, "utf8"), journaled)
      // an output emptied by hand but a journal left: still an earlier run's results
      fs.writeFileSync(output, "")
      assert.strictEqual((yield* Effect.flip(Batch.run(options)))._tag, "OutputExists")
      fs.writeFileSync(output, out)

      const summary = yield* Batch.run({ ...options, overwrite: true, handler: ({ id }: { id: number }) => Effect.succeed(id * 10) })
      assert.deepStrictEqual(summary.backups, [`${output}.bak`, `${output}.journal.bak`])
      assert.strictEqual(fs.readFileSync(`${output}.bak`, "utf8"), out)
      assert.strictEqual(fs.readFileSync(`${output}.journal.bak`, "utf8"), journaled)
      assert.deepStrictEqual(readResults(output).map((r) => r.value).sort((a, b) => Number(a) - Number(b)), [10, 20, 30, 40, 50])
    }).pipe(Effect.provide(NodeFileSystem.layer)))
})

describe("Batch: each line fails alone", () => {
  it.live("a 5 MB line among normal ones: its result is LineTooLarge (line and size, nothing of it), the handler never sees it, the others are ok", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const input = path.join(dir, "in.jsonl")
      const output = path.join(dir, "out.jsonl")
      const big = JSON.stringify({ id: 3, pad: "é".repeat(2_600_000) })
      writeLines(input, ['{"id":1}', '{"id":2}', big, '{"id":4}', '{"id":5}'])
      const seen: Array<number> = []
      const summary = yield* Batch.run({
        input,
        output,
        progress: "off",
        concurrency: 4,
        request: Schema.Struct({ id: Schema.Int, pad: Schema.optional(Schema.String) }),
        handler: ({ id }) => Effect.sync(() => seen.push(id)).pipe(Effect.as(id))
      })
      assert.deepStrictEqual([summary.ok, summary.failed, summary.failedLines], [4, 1, [3]])
      assert.deepStrictEqual(seen.sort(), [1, 2, 4, 5])
      const raw = fs.readFileSync(output, "utf8").split("\n").find((l) => l.includes("LineTooLarge"))!
      assert.isBelow(raw.length, 400, "echoes nothing of the line")
      assert.notInclude(raw, "éé")
      const record = JSON.parse(raw) as { line: number; error: { line: number; bytes: number; limit: number; message: string } }
      assert.strictEqual(record.line, 3)
      assert.deepStrictEqual([record.error.line, record.error.bytes, record.error.limit], [3, Buffer.byteLength(big), 1_048_576])
      assert.include(record.error.message, "line 3")
    }).pipe(Effect.provide(NodeFileSystem.layer)))

  const Kind = Schema.Literals([
    "ok",
    "slow",
    "fail",
    "throw",
    "dieValue",
    "interrupt",
    "unserializable",
    "messageThrows",
    "hugeMessage",
    "tooLarge",
    "malformed"
  ])
  type Kind = typeof Kind.Type
  const good = new Set<Kind>(["ok", "slow"])
  const Line = Schema.Struct({ id: Schema.Int, kind: Kind, pad: Schema.optional(Schema.String) })
  let run = 0

  it.live.prop(
    "random lines, some poisoned (failure, thrown defect, self-interruption, unserializable result, throwing message, huge message, oversized, malformed): every other line succeeds, every line is written once",
    { kinds: Schema.Array(Kind).check(Schema.isMinLength(1), Schema.isMaxLength(24)) },
    ({ kinds }) =>
      Effect.gen(function*() {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), `hybrid-batch-prop-${run++}-`))
        const input = path.join(dir, "in.jsonl")
        const output = path.join(dir, "out.jsonl")
        writeLines(input, kinds.map((kind, i) =>
          kind === "malformed"
            ? `{"id":${i + 1}, oops`
            : JSON.stringify({ id: i + 1, kind, ...(kind === "tooLarge" ? { pad: "x".repeat(3_000) } : {}) })
        ))
        const handler = ({ id, kind }: typeof Line.Type): Effect.Effect<unknown, unknown> => {
          switch (kind) {
            case "ok":
              return Effect.succeed({ double: id * 2 })
            case "slow":
              return Effect.sleep(5).pipe(Effect.as({ double: id * 2 }))
            case "fail":
              return Effect.fail({ _tag: "Nope", message: `no ${id}` })
            case "throw":
              return Effect.sync(() => {
                throw new Error(`thrown ${id}`)
              })
            case "dieValue":
              return Effect.die(id)
            case "interrupt":
              return Effect.interrupt
            case "unserializable":
              return Effect.succeed({ n: BigInt(id) })
            case "messageThrows":
              return Effect.fail({
                _tag: "Weird",
                get message(): string {
                  throw new Error("no message")
                }
              })
            case "hugeMessage":
              return Effect.fail({ _tag: "Huge", message: "m".repeat(1_000_000) })
            default:
              return Effect.succeed("unreachable")
          }
        }
        const summary = yield* Batch.run({ input, output, request: Line, handler, progress: "off", concurrency: 4, maxLineBytes: 2_000 })
        const results = readResults(output).sort((a, b) => a.line - b.line)
        fs.rmSync(dir, { recursive: true, force: true })
        assert.deepStrictEqual(results.map((r) => r.line), kinds.map((_, i) => i + 1))
        const bad = kinds.flatMap((k, i) => (good.has(k) ? [] : [i + 1]))
        assert.deepStrictEqual(summary.failedLines, bad)
        assert.strictEqual(summary.ok, kinds.length - bad.length)
        for (const r of results) {
          const kind = kinds[r.line - 1]!
          if (good.has(kind)) assert.deepStrictEqual([r.ok, r.value], [true, { double: r.line * 2 }])
          else assert.isFalse(r.ok, kind)
          if (kind === "tooLarge") assert.strictEqual(r.error?._tag, "LineTooLarge")
          assert.isBelow(JSON.stringify(r).length, 2_500)
        }
      }).pipe(Effect.provide(NodeFileSystem.layer)),
    { timeout: 30_000, arbitrary: { runs: 25 } }
  )
})
