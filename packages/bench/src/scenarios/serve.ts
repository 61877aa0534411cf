/**
 * `serve`: `hybrid serve --scale 0.05` under load — the server as an operator runs it (its
 * own process, default admission control), driven by autocannon from another process
 * (`peers/serve-load.ts`) at 10, 50 and 200 connections for a bounded time each, every
 * request `POST /v1/answer` with one of the sample queries and `budgetMs` 2000.
 *
 * Per connection count: answers/s (200s per second), p50 / p99 of the accepted answers
 * (200), the share of 503s (shed by admission control, or `NoAnswer`), the p99 of the
 * 503s, the share of 200s with every source `ok` (an answer from all three sources), and
 * the server's RSS after the round. Targets (issue 13), at 200 connections: ≥ 99 % of
 * 200s with every source ok, 503s in < 50 ms, the accepted p99 ≤ budget + 10 %
 * (2,200 ms), RSS flat across the rounds (± 10 %).
 *
 * Repetitions: 5 (3 when quick), interleaved across the connection counts; a round lasts
 * 8 s (4 s quick), after one warm-up round. `--quick` ≈ 1 minute, the full run ≈ 2½.
 *
 * Run: `pnpm bench serve [--quick]`.
 */
import { Effect } from "effect"
import { type ChildProcess, execFile, spawn } from "node:child_process"
import { readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { figure, type Figure, interleave, repetitions, type Row, type RunOptions, type Scenario, silent } from "../Scenario.ts"

const SCALE = 0.05
const BUDGET_MS = 2_000
const LEVELS = ["10", "50", "200"] as const
type Level = (typeof LEVELS)[number]

const main = fileURLToPath(new URL("../../../agent/src/cli/main.ts", import.meta.url))
const loadgen = fileURLToPath(new URL("../peers/serve-load.ts", import.meta.url))

/** What `serve-load.ts` prints. */
interface Load {
  readonly seconds: number
  readonly total: number
  readonly ok: number
  readonly allOk: number
  readonly byStatus: Readonly<Record<string, { readonly count: number; readonly p50: number | null; readonly p99: number | null }>>
}

interface Round {
  readonly answersPerSec: number
  readonly p50: number
  readonly p99: number
  readonly share503: number
  readonly p99of503: number
  readonly allOkShare: number
  readonly rssMb: number
}

const startServer = () =>
  Effect.callback<{ readonly url: string; readonly child: ChildProcess }, Error>((resume) => {
    const child = spawn(process.execPath, [main, "serve", "--port", "0", "--scale", String(SCALE), "--log-level", "warn"], {
      stdio: ["ignore", "pipe", "pipe"]
    })
    let out = ""
    let err = ""
    child.stderr.on("data", (d) => (err += d))
    child.stdout.on("data", (d) => {
      out += d
      const m = /listening on (\S+)/.exec(out)
      if (m?.[1] !== undefined) resume(Effect.succeed({ url: m[1], child }))
    })
    child.once("exit", (code) => resume(Effect.fail(new Error(`hybrid serve exited (${code}) before listening: ${err}`))))
  })

const stopServer = (child: ChildProcess) =>
  Effect.callback<void>((resume) => {
    if (child.exitCode !== null) return resume(Effect.void)
    child.once("exit", () => resume(Effect.void))
    child.kill("SIGTERM")
  })

const runLoad = (url: string, connections: number, seconds: number) =>
  Effect.callback<Load, Error>((resume) => {
    execFile(process.execPath, [loadgen, url, String(connections), String(seconds), String(BUDGET_MS)], {
      maxBuffer: 1 << 20
    }, (error, stdout, stderr) => {
      if (error !== null) return resume(Effect.fail(new Error(`serve-load failed: ${error.message} ${stderr}`)))
      resume(Effect.succeed(JSON.parse(stdout.trim().split("\n").at(-1)!) as Load))
    })
  })

const rssMb = (pid: number): number => {
  const status = readFileSync(`/proc/${pid}/status`, "utf8")
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? Number.NaN)
  return kb / 1024
}

const roundOf = (load: Load, pid: number): Round => {
  const shed = load.byStatus["503"]
  const accepted = load.byStatus["200"]
  return {
    answersPerSec: load.ok / load.seconds,
    p50: accepted?.p50 ?? Number.NaN,
    p99: accepted?.p99 ?? Number.NaN,
    share503: (shed?.count ?? 0) / Math.max(1, load.total),
    p99of503: shed?.p99 ?? Number.NaN,
    allOkShare: load.ok === 0 ? Number.NaN : load.allOk / load.ok,
    rssMb: rssMb(pid)
  }
}

/**
 * @since 0.1.0
 * @category scenarios
 */
export const serve: Scenario = {
  name: "serve",
  description: `hybrid serve --scale ${SCALE} under load from autocannon (another process): 10, 50 and 200 connections, budget ${BUDGET_MS} ms`,
  run: (options: RunOptions) =>
    Effect.gen(function*() {
      const reps = repetitions(options)
      const seconds = options.quick ? 4 : 8
      const progress = options.progress ?? silent
      progress.total(reps * LEVELS.length + 1)
      const { child, url } = yield* startServer()
      const pid = child.pid!
      const rounds = yield* Effect.gen(function*() {
        yield* runLoad(url, 10, 2) // warm-up: JIT, worker threads, connections
        progress.tick()
        return yield* interleave(
          { repetitions: reps, variants: LEVELS, progress },
          (level: Level) => Effect.map(runLoad(url, Number(level), seconds), (load) => roundOf(load, pid))
        )
      }).pipe(Effect.ensuring(stopServer(child)))

      const figures: Record<string, Figure> = {}
      const rows: Array<Row> = []
      for (const level of LEVELS) {
        const r = rounds[level]
        const f = {
          answersPerSec: figure("answers/s", r.map((x) => x.answersPerSec), { better: "higher" }),
          p50: figure("ms", r.map((x) => x.p50), { better: "lower" }),
          p99: figure("ms", r.map((x) => x.p99), { better: "lower" }),
          share503: figure("%", r.map((x) => 100 * x.share503), { better: "lower" }),
          p99of503: figure("ms", r.map((x) => x.p99of503), { better: "lower" }),
          allOk: figure("%", r.map((x) => 100 * x.allOkShare), { better: "higher" }),
          rss: figure("MB", r.map((x) => x.rssMb), { better: "lower" })
        }
        for (const [key, value] of Object.entries(f)) figures[`${key}.c${level}`] = value
        rows.push({
          connections: level,
          "answers/s": f.answersPerSec,
          "p50 ms (200)": f.p50,
          "p99 ms (200)": f.p99,
          "503 %": f.share503,
          "p99 ms (503)": f.p99of503,
          "200s all sources ok %": f.allOk,
          "RSS MB": f.rss
        })
      }
      const heavy = rounds["200"]
      const rss = heavy.map((x) => x.rssMb)
      const drift = (Math.max(...rss) - Math.min(...rss)) / Math.min(...rss)
      const shedP99 = Math.max(...heavy.map((x) => x.p99of503).filter(Number.isFinite))
      return {
        scenario: "serve",
        figures,
        rows,
        notes: [
          `each round ${seconds} s of closed-loop load after one warm-up round; the server runs default admission control (an adaptive limit of at most 4 answers per core in flight, a queue no longer than the limit, a wait of at most half the budget); autocannon does not honour Retry-After, so a refused connection asks again at once and the 503 share counts those retries`,
          `targets at 200 connections: ≥ 99 % of 200s with every source ok (median here ${figures["allOk.c200"]!.median.toFixed(1)} %), ` +
          `503s in < 50 ms (worst round's p99 ${Number.isFinite(shedP99) ? shedP99.toFixed(0) : "—"} ms), ` +
          `accepted p99 ≤ ${BUDGET_MS * 1.1} ms (median ${figures["p99.c200"]!.median.toFixed(0)} ms), ` +
          `RSS flat ± 10 % across the rounds (spread ${(100 * drift).toFixed(1)} %)`
        ]
      }
    })
}
