/**
 * Nothing a user gives is lost, nothing a provider says leaks — the `hybrid` CLI as a
 * user runs it (child processes, `--scale 0.05`, fixtures), with hostile inputs and a
 * hostile upstream on 127.0.0.1.
 */
import { assert, describe, it } from "@effect/vitest"
import { execFile, spawn } from "node:child_process"
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs"
import { createServer, type IncomingMessage, type Server } from "node:http"
import type { AddressInfo } from "node:net"
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
    execFile(process.execPath, [main, ...args], { env: { ...process.env, ...env }, timeout: 100_000, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : typeof error.code === "number" ? error.code : null, stdout, stderr })
    })
  })

const records = (file: string) =>
  readFileSync(file, "utf8").split("\n").filter((l) => l !== "").map((l) => JSON.parse(l) as { line: number; ok: boolean; error?: { _tag: string; message: string } })

/** A query of 5 MB of varied words (the tokenizer's worst case is not repetition). */
const bigQuery = () => Array.from({ length: 620_000 }, (_, i) => `w${(i * 7919) % 100_003}`).join(" ")

describe("hybrid batch: exit codes, one run per output, each line alone", () => {
  it("exit 3 with a 5 MB line among normal ones (it fails alone, LineTooLarge); 2 for a rerun without --resume, input = output, a bad flag; 1 for a locked output; 0 when all are ok (--overwrite keeps .bak)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "hybrid-safety-"))
    const input = join(dir, "in.jsonl")
    const output = join(dir, "out.jsonl")
    const big = JSON.stringify({ query: bigQuery() })
    writeFileSync(input, ['{"query":"Will it rain in Oslo?"}', '{"query":"electric cars"}', big, '{"query":"asyncio event loop"}', JSON.stringify({ query: "x ".repeat(1_500) })].join("\n") + "\n")
    const args = ["batch", input, "-o", output, "--scale", "0.05", "--budget", "5s", "--concurrency", "4"]

    const first = await hybrid(args)
    assert.strictEqual(first.code, 3, first.stderr)
    assert.include(first.stderr, "2 of 5 lines failed (lines 3, 5)")
    const results = records(output).sort((a, b) => a.line - b.line)
    assert.deepStrictEqual(results.map((r) => [r.line, r.ok]), [[1, true], [2, true], [3, false], [4, true], [5, false]])
    assert.strictEqual(results[2]!.error?._tag, "LineTooLarge")
    assert.include(results[2]!.error?.message, "line 3")
    assert.strictEqual(results[4]!.error?._tag, "MalformedLine")
    assert.include(results[4]!.error?.message, "at most 2000 characters")
    // nothing of the big line is echoed, in the output or the journal
    assert.isBelow(readFileSync(output, "utf8").split("\n")[0]!.length + readFileSync(output).length, 200_000)
    assert.notInclude(readFileSync(`${output}.journal`, "utf8"), "w7919 w15838")
    const out = readFileSync(output, "utf8")

    // a rerun without --resume: refused, nothing changed
    const rerun = await hybrid(args)
    assert.strictEqual(rerun.code, 2, rerun.stderr)
    for (const flag of ["--resume", "--retry-failed", "--overwrite"]) assert.include(rerun.stderr, flag)
    assert.strictEqual(readFileSync(output, "utf8"), out)

    // input = output: refused, the input is intact
    const before = readFileSync(input, "utf8")
    const same = await hybrid(["batch", input, "-o", join(dir, ".", "in.jsonl"), "--scale", "0.05"])
    assert.strictEqual(same.code, 2, same.stderr)
    assert.include(same.stderr, "same file")
    assert.strictEqual(readFileSync(input, "utf8"), before)

    // a live run holds the output (here: this test process's pid in the lock)
    writeFileSync(`${output}.lock`, JSON.stringify({ pid: process.pid, host: (await import("node:os")).hostname(), startedAt: new Date().toISOString(), token: "t" }))
    const locked = await hybrid([...args, "--resume"])
    assert.strictEqual(locked.code, 1, locked.stderr)
    assert.include(locked.stderr, `pid ${process.pid}`)

    // a run whose lines all succeed: 0; --overwrite kept the earlier results
    writeFileSync(`${output}.lock`, JSON.stringify({ pid: 2 ** 22 + 17, host: (await import("node:os")).hostname(), startedAt: "2026-01-01T00:00:00.000Z", token: "dead" }))
    writeFileSync(input, '{"query":"news about Lisbon"}\n')
    const ok = await hybrid([...args, "--overwrite"])
    assert.strictEqual(ok.code, 0, ok.stderr)
    assert.include(ok.stderr, "stale lock")
    assert.strictEqual(readFileSync(`${output}.bak`, "utf8"), out)
    assert.isTrue(existsSync(`${output}.journal.bak`))
    assert.deepStrictEqual(records(output).map((r) => [r.line, r.ok]), [[1, true]])

    const usage = await hybrid(["batch", input, "-o", output, "--concurrency", "zero"])
    assert.strictEqual(usage.code, 2, `usage run: code ${usage.code}, stderr ${usage.stderr.slice(0, 300)}`)
  }, 300_000)
})

// --- a hostile LLM ---------------------------------------------------------------------------

const key = "sk-hybrid-test-Zq9xT4mLw2Rb7Kc1Vn8Hs3Jd"

const listen = (server: Server) =>
  new Promise<number>((resolve) => server.listen(0, "127.0.0.1", () => resolve((server.address() as AddressInfo).port)))

const body = (req: IncomingMessage) =>
  new Promise<string>((resolve) => {
    let text = ""
    req.on("data", (chunk) => (text += chunk))
    req.on("end", () => resolve(text))
  })

/** An OpenAI-compatible proxy that answers 401, echoing the Authorization header it got. */
const hostileLlm = () =>
  createServer(async (req, res) => {
    await body(req)
    res.writeHead(401, { "content-type": "application/json" })
    res.end(JSON.stringify({
      error: {
        message: `Invalid credentials. Received headers: authorization=${req.headers.authorization}; ` +
          `key ${String(req.headers.authorization).replace(/^Bearer /, "")} is not known to this proxy`,
        type: "invalid_request_error"
      }
    }))
  })

/** A tiny OTLP/HTTP collector: keeps every request body. */
const collector = () => {
  const bodies: Array<string> = []
  const server = createServer(async (req, res) => {
    bodies.push(`${req.url}\n${await body(req)}`)
    res.writeHead(200, { "content-type": "application/json" })
    res.end("{}")
  })
  return { server, bodies }
}

describe("a hostile LLM whose 401 echoes the Authorization header", () => {
  it("the key appears nowhere: stdout, stderr, the serve response, out.jsonl, the journal, the OTLP export", async () => {
    const llm = hostileLlm()
    const otlp = collector()
    const llmPort = await listen(llm)
    const otlpPort = await listen(otlp.server)
    try {
      const dir = mkdtempSync(join(tmpdir(), "hybrid-leak-"))
      const env = {
        OPENAI_BASE_URL: `http://hybrid:${key}@127.0.0.1:${llmPort}/v1`,
        OPENAI_API_KEY: key,
        HYBRID_LLM_RETRIES: "0",
        OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${otlpPort}`
      }
      // every source down: the answer needs the LLM, which refuses
      const faults = ["--faults", "weather=down,news=down,kb=down", "--scale", "0.05", "--budget", "3s"]
      const input = join(dir, "in.jsonl")
      const output = join(dir, "out.jsonl")
      writeFileSync(input, '{"query":"Will it rain in Oslo?"}\n')
      const [ask, batch] = await Promise.all([
        hybrid(["ask", "Will it rain in Oslo?", ...faults], env),
        hybrid(["batch", input, "-o", output, ...faults], env)
      ])
      assert.strictEqual(ask.code, 1, ask.stderr)
      assert.include(ask.stderr, "NoAnswer")
      assert.strictEqual(batch.code, 3, batch.stderr)
      const serveBody = await serveOnce(env, faults)
      assert.match(serveBody, /^503 /)

      const surfaces: Record<string, string> = {
        "ask stdout": ask.stdout,
        "ask stderr": ask.stderr,
        "batch stdout": batch.stdout,
        "batch stderr": batch.stderr,
        "serve response": serveBody,
        "out.jsonl": readFileSync(output, "utf8"),
        "journal": readFileSync(`${output}.journal`, "utf8"),
        "otlp": otlp.bodies.join("\n")
      }
      assert.include(surfaces["out.jsonl"], "NoAnswer")
      assert.isAbove(otlp.bodies.length, 0, "the collector received the export")
      for (const [surface, text] of Object.entries(surfaces)) {
        for (const piece of [key, key.slice(0, 12), key.slice(-12)]) {
          assert.notInclude(text, piece, `${surface} leaks the key`)
        }
        assert.notInclude(text, `hybrid:`, `${surface} prints the URL's userinfo`)
      }
      // and span attributes carry no stack traces or absolute paths
      assert.notMatch(surfaces["otlp"], /(\\n|\n)\s+at \S/, "no stack frames")
      assert.notInclude(surfaces["otlp"], fileURLToPath(new URL("../src", import.meta.url)))
    } finally {
      llm.close()
      otlp.server.close()
    }
  }, 120_000)
})

/** Starts `hybrid serve`, posts one question, returns the response body, stops the server. */
const serveOnce = (env: Record<string, string>, flags: ReadonlyArray<string>) =>
  new Promise<string>((resolve, reject) => {
    const child = spawn(process.execPath, [main, "serve", "--port", "0", ...flags.filter((f, i, all) => f !== "--budget" && all[i - 1] !== "--budget")], {
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"]
    })
    let stdout = ""
    let stderr = ""
    child.stderr.on("data", (chunk) => (stderr += chunk))
    child.stdout.on("data", async (chunk) => {
      stdout += chunk
      const match = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(stdout)
      if (match?.[1] === undefined || stdout.includes("\u0000posted")) return
      stdout += "\u0000posted"
      try {
        const response = await fetch(`${match[1]}/v1/answer`, { method: "POST", body: JSON.stringify({ query: "Will it rain in Oslo?", budgetMs: 3_000 }) })
        const text = `${response.status} ${await response.text()}`
        child.kill("SIGTERM")
        child.once("exit", () => resolve(`${text}\n${stdout}\n${stderr}`))
      } catch (e) {
        child.kill("SIGKILL")
        reject(e)
      }
    })
    child.once("exit", (code) => {
      if (!stdout.includes("listening")) reject(new Error(`serve exited (${code}):\n${stderr}`))
    })
  })
