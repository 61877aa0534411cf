/**
 * `fleet`: 1, 2, 4 and 8 processes (real `node` processes) sharing one TPM budget against
 * a fixture LLM that answers 429 past it (a sliding window of `LIMIT` tokens per scaled
 * minute), with four limiters (`peers/fleet-child.ts`):
 *
 * - **Hybrid**: `Limit.rate` on `RedisLimit.store` — one exact sliding window in Redis;
 * - **local**: `Limit.rate` in memory with `limit / N` per process;
 * - **naive**: `Limit.rate` in memory with the whole limit in every process (each
 *   process believing it owns the budget, as a fleet starts out);
 * - **bottleneck**: bottleneck's Redis clustering (ioredis), reservoir = the limit
 *   refreshed every window, weight = the tokens.
 *
 * The load is uneven, as a fleet's is: process i receives calls in proportion to i + 1,
 * 25 % more in total than the budget admits, each asking for a random number of tokens.
 * Reports tokens admitted per window vs the limit (of the calls the fixture accepted),
 * the 429s it sent, the windows the limiter itself overfilled (admissions whose trailing
 * window holds more than the limit; must be 0), and the p50/p99 wait for admission. Then
 * the overhead of one admission on Redis vs in memory (µs, median, loopback).
 *
 * Needs Redis at `HYBRID_REDIS_URL` (default redis://127.0.0.1:6379); without it the
 * scenario reports that and measures nothing.
 *
 * Run: `pnpm bench fleet [--quick]`.
 *
 * @since 0.1.0
 */
import * as NodeRedis from "@effect/platform-node/NodeRedis"
import { Effect } from "effect"
import { spawn } from "node:child_process"
import * as http from "node:http"
import * as net from "node:net"
import { fileURLToPath } from "node:url"
import { Limit, RedisLimit } from "@hybrid/core"
import type { Admission, ChildConfig, ChildReport } from "../peers/fleet-child.ts"
import {
  type Figure,
  figure,
  interleave,
  median,
  repetitions,
  type Row,
  type RunOptions,
  type Scenario,
  type ScenarioReport,
  silent
} from "../Scenario.ts"
import * as Stats from "../Stats.ts"

/** Tokens per (scaled) minute. */
const LIMIT = 60_000
const MIN_COST = 50
const MAX_COST = 950
/** Calls offered, as a multiple of what the budget admits. */
const OVERLOAD = 1.25
/** `Limit.rate`'s margin (Hybrid and local), as a fraction of the window: absorbs the jitter between admission and arrival. */
const MARGIN = Number(process.env.FLEET_MARGIN ?? 0.03)

const variants = [
  { id: "hybrid", label: "Hybrid: Limit.rate on RedisLimit.store (one sliding window)" },
  { id: "local", label: "local Limit.rate, limit / N per process" },
  { id: "naive", label: "local Limit.rate, the whole limit per process" },
  { id: "bottleneck", label: "bottleneck Redis cluster (reservoir per window)" }
] as const
type VariantId = typeof variants[number]["id"]

const redisUrl = process.env.HYBRID_REDIS_URL ?? "redis://127.0.0.1:6379"
const child = fileURLToPath(new URL("../peers/fleet-child.ts", import.meta.url))

/** The fixture LLM: a sliding window of `limit` tokens per `windowMs`, 429 + retry-after-ms past it. */
const fixture = (limit: number, windowMs: number) =>
  new Promise<{ url: string; rateLimited: () => number; close: () => Promise<void> }>((resolve) => {
    const log: Array<{ at: number; tokens: number }> = []
    let inWindow = 0
    let rateLimited = 0
    const server = http.createServer((request, response) => {
      if (request.url === "/warmup") return void response.end("{}")
      const tokens = Number(new URL(request.url ?? "/", "http://x").searchParams.get("tokens") ?? 0)
      const now = Date.now()
      while (log.length > 0 && log[0]!.at + windowMs <= now) inWindow -= log.shift()!.tokens
      if (inWindow + tokens > limit) {
        rateLimited++
        let freed = 0
        let i = 0
        while (inWindow - freed + tokens > limit && i < log.length) freed += log[i++]!.tokens
        const wait = Math.max(1, (log[i - 1]?.at ?? now) + windowMs - now)
        response.writeHead(429, { "retry-after-ms": String(wait), "retry-after": String(Math.ceil(wait / 1000)) })
        response.end()
        return
      }
      log.push({ at: now, tokens })
      inWindow += tokens
      setTimeout(() => response.end(JSON.stringify({ usage: { total_tokens: tokens } })), 5)
    })
    server.keepAliveTimeout = 1_000
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo
      resolve({
        url: `http://127.0.0.1:${port}`,
        rateLimited: () => rateLimited,
        close: () => new Promise((done) => server.close(() => done()))
      })
      server.unref()
    })
  })

const redisAnswers = (url: string) =>
  new Promise<boolean>((resolve) => {
    const { hostname, port } = new URL(url)
    const socket = net.connect({ host: hostname, port: Number(port || 6379) })
    const done = (ok: boolean) => {
      socket.destroy()
      resolve(ok)
    }
    socket.setTimeout(1_000, () => done(false))
    socket.on("error", () => done(false))
    socket.on("connect", () => socket.write("PING\r\n"))
    socket.on("data", () => done(true))
  })

/**
 * Starts the children, releases them together once all are ready (imports and warm-up
 * done), collects their reports. A child still running `budgetMs` after the release, or
 * not ready within `startMs`, is killed, and so are the others.
 */
const runChildren = async (configs: ReadonlyArray<ChildConfig>, budgetMs: number, startMs = 180_000) => {
  const children = configs.map((config) => {
    const proc = spawn(process.execPath, [child, JSON.stringify(config)], { stdio: ["pipe", "pipe", "inherit"] })
    let out = ""
    const ready = new Promise<void>((resolve) =>
      proc.stdout.setEncoding("utf8").on("data", (chunk: string) => {
        out += chunk
        if (out.startsWith("ready\n")) resolve()
      })
    )
    const exited = new Promise<ChildReport>((resolve, reject) => {
      proc.on("exit", (code) => {
        const line = out.split("\n").find((l) => l.startsWith("{"))
        if (code === 0 && line !== undefined) resolve(JSON.parse(line) as ChildReport)
        else reject(new Error(`fleet child exited with ${code}`))
      })
    })
    return { proc, ready, exited }
  })
  const killAll = () => children.forEach((c) => c.proc.exitCode === null && c.proc.kill("SIGKILL"))
  let timer: NodeJS.Timeout | undefined
  try {
    timer = setTimeout(killAll, startMs)
    await Promise.race([Promise.all(children.map((c) => c.ready)), Promise.any(children.map((c) => c.exited))])
    clearTimeout(timer)
    timer = setTimeout(killAll, budgetMs)
    for (const c of children) c.proc.stdin.write("go\n")
    return await Promise.all(children.map((c) => c.exited))
  } finally {
    clearTimeout(timer)
    killAll()
  }
}

interface Measured {
  readonly variant: VariantId
  readonly processes: number
  readonly utilisation: number
  readonly rateLimited: number
  readonly violations: number
  readonly waitP50: number
  readonly waitP99: number
}

/** Admissions whose trailing window (their own included) holds more than `limit`. */
const violations = (admissions: ReadonlyArray<Admission>, windowMs: number) => {
  let count = 0
  let start = 0
  let sum = 0
  for (let i = 0; i < admissions.length; i++) {
    sum += admissions[i]!.cost
    while (admissions[start]!.at <= admissions[i]!.at - windowMs) sum -= admissions[start++]!.cost
    if (sum > LIMIT) count++
  }
  return count
}

const measure = (variant: VariantId, processes: number, windowMs: number, windows: number, run: number) =>
  Effect.promise(async (): Promise<Measured> => {
    const server = await fixture(LIMIT, windowMs)
    const prefix = `hybrid-bench:fleet:${process.pid}:${run}:`
    const totalRate = (OVERLOAD * LIMIT) / ((MIN_COST + MAX_COST) / 2) / (windowMs / 1000)
    const weights = Array.from({ length: processes }, (_, i) => i + 1)
    const sum = weights.reduce((a, b) => a + b, 0)
    const durationMs = windows * windowMs
    try {
      const reports = await runChildren(
        weights.map((w, i) => ({
          variant,
          fixture: server.url,
          redis: redisUrl,
          prefix,
          limit: LIMIT,
          windowMs,
          processes,
          rate: (totalRate * w) / sum,
          durationMs,
          minCost: MIN_COST,
          maxCost: MAX_COST,
          seed: 1_000 * run + i,
          margin: MARGIN
        })),
        durationMs + 2 * windowMs + 20_000
      )
      const admissions = reports.flatMap((r) => r.admissions).sort((a, b) => a.at - b.at)
      const first = admissions[0]?.at ?? 0
      // full windows from the first admission (the last one may be cut by the run's end)
      const full = windows - 1
      const accepted = admissions.filter((a) => a.status === 200 && a.at < first + full * windowMs)
        .reduce((s, a) => s + a.cost, 0)
      const waits = admissions.map((a) => a.waitMs)
      return {
        variant,
        processes,
        utilisation: accepted / (full * LIMIT),
        rateLimited: server.rateLimited(),
        violations: violations(admissions, windowMs),
        waitP50: Stats.quantile(waits, 0.5),
        waitP99: Stats.quantile(waits, 0.99)
      }
    } finally {
      await server.close()
    }
  })

/** Median µs of one admission that never waits: memory vs Redis (loopback). */
const overhead = (admissions: number) =>
  Effect.gen(function*() {
    const time = (consume: Effect.Effect<void, unknown>) =>
      Effect.gen(function*() {
        const samples: Array<number> = []
        for (let i = 0; i < admissions; i++) {
          const t = performance.now()
          yield* consume
          samples.push((performance.now() - t) * 1000)
        }
        return median(samples)
      })
    const memory = yield* Limit.rate({ limit: 1e9, window: "1 minute" })
    const redis = yield* Limit.rate({
      limit: 1e9,
      window: "1 minute",
      key: "overhead",
      store: RedisLimit.store({ prefix: `hybrid-bench:fleet:${process.pid}:overhead:` })
    })
    // warm up both (JIT, script load)
    yield* time(memory.consume(1))
    yield* time(redis.consume(1))
    return { memory: yield* time(memory.consume(1)), redis: yield* time(redis.consume(1)) }
  }).pipe(Effect.provide(NodeRedis.layer({ url: redisUrl })))

const run = Effect.fn("fleet.run")(function*(options: RunOptions) {
  const progress = options.progress ?? silent
  if (!(yield* Effect.promise(() => redisAnswers(redisUrl)))) {
    return {
      scenario: "fleet",
      figures: {},
      rows: [],
      notes: [`no Redis answers at ${redisUrl}: nothing measured (start redis-server, or set HYBRID_REDIS_URL)`]
    } satisfies ScenarioReport
  }
  const windowMs = options.quick ? 1_000 : 3_000
  const windows = options.quick ? 3 : 4
  const sizes = process.env.FLEET_SIZES ? process.env.FLEET_SIZES.split(",").map(Number) : options.quick ? [1, 4] : [1, 2, 4, 8]
  const reps = repetitions({ ...options, repetitions: options.repetitions ?? 3 })
  progress.total(sizes.length * variants.length * reps + reps)
  const rows: Array<Row> = []
  const figures: Record<string, Figure> = {}
  let runs = 0
  for (const processes of sizes) {
    const samples = yield* interleave(
      { repetitions: reps, variants: variants.map((v) => v.id), progress },
      (variant) => measure(variant, processes, windowMs, windows, ++runs)
    )
    for (const { id, label } of variants) {
      const of = samples[id]
      const per = (unit: string, f: (m: Measured) => number, better?: "lower" | "higher") => figure(unit, of.map(f), { better })
      const key = `${id}.${processes}`
      const cells = {
        utilisation: per("%", (m) => 100 * m.utilisation, "higher"),
        rateLimited: per("requests", (m) => m.rateLimited, "lower"),
        violations: per("admissions", (m) => m.violations, "lower"),
        waitP50: per("ms", (m) => m.waitP50, "lower"),
        waitP99: per("ms", (m) => m.waitP99, "lower")
      }
      figures[`utilisation.${key}`] = cells.utilisation
      figures[`rateLimited.${key}`] = cells.rateLimited
      figures[`violations.${key}`] = cells.violations
      figures[`waitP50Ms.${key}`] = cells.waitP50
      figures[`waitP99Ms.${key}`] = cells.waitP99
      rows.push({
        variant: label,
        processes,
        "tokens/window vs limit %": cells.utilisation,
        "429s": cells.rateLimited,
        "window violations": cells.violations,
        "wait p50 ms": cells.waitP50,
        "wait p99 ms": cells.waitP99
      })
    }
  }
  const costs: Array<{ memory: number; redis: number }> = []
  for (let rep = 0; rep < reps; rep++) {
    costs.push(yield* overhead(options.quick ? 300 : 2_000))
    progress.tick()
  }
  figures["overheadUs.memory"] = figure("µs", costs.map((c) => c.memory), { better: "lower" })
  figures["overheadUs.redis"] = figure("µs", costs.map((c) => c.redis), { better: "lower" })
  const notes = [
    `${LIMIT.toLocaleString("en")} tokens per ${windowMs / 1000} s window at the fixture (a sliding window, 429 + retry-after-ms past it); ` +
    `calls ask ${MIN_COST}–${MAX_COST} tokens, arrive open-loop at ${OVERLOAD}× what the budget admits, process i getting a share ∝ i + 1; ` +
    `${windows} windows per run, ${reps} interleaved runs per size; no client retries (a 429 is counted, not retried); ` +
    `Hybrid and local use Limit.rate's margin of ${MARGIN * 100} % of the window (the jitter between admission and arrival)`,
    `tokens/window: tokens of calls the fixture accepted, over the first ${windows - 1} full windows from the first admission, vs the limit; ` +
    `window violations: admissions whose trailing window (by the limiter's own admission times: Redis TIME for Hybrid, this host's clock for the others) holds more than the limit`,
    `one admission that never waits, median: in memory ${figures["overheadUs.memory"].median.toFixed(1)} µs, ` +
    `on Redis ${figures["overheadUs.redis"].median.toFixed(1)} µs (loopback, one Lua script); cells: median [min–max]`
  ]
  return { scenario: "fleet", figures, rows, notes } satisfies ScenarioReport
})

/**
 * @since 0.1.0
 * @category scenarios
 */
export const fleet: Scenario = {
  name: "fleet",
  description: "1–8 processes sharing one TPM budget: Hybrid's Redis sliding window vs limit / N per process vs bottleneck's Redis cluster",
  run
}

if (import.meta.main) {
  const report = await Effect.runPromise(run({ quick: process.argv.includes("--quick") }))
  console.log(JSON.stringify(report, null, 2))
}
