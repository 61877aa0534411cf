/**
 * `resilience`: lesson 3 against its peers — the same stream of calls to a flaky HTTP
 * service (the agent's fixture, `Fixtures.make` with faults: 5xx errors, a rate limit
 * answering 429 with `Retry-After`, a heavy-tailed latency with spikes), made by three
 * clients given comparable settings (`peers/resilience-http.ts`):
 *
 * - **Hybrid**: `Retry` + effect/persistence `CircuitBreaker` + `Limit.learned` + `Limit.adaptive` +
 *   `Deadline.timeout` (`peers/resilience-hybrid.ts`);
 * - **p-retry** + p-limit (`peers/resilience-p-retry.ts`);
 * - **cockatiel**: retry + circuitBreaker + bulkhead + timeout (`peers/resilience-cockatiel.ts`).
 *
 * Calls arrive open-loop at a fixed rate, a little above what the rate limit admits, so
 * every client meets each fault. Reports the success rate, the p50/p99 latency of the
 * calls that succeeded (from arrival, retries and waits included), the requests the
 * service received (429s included) and the wall time. Each run gets fresh fixtures with
 * the same seed: the same fault draws in the same order of arrival.
 *
 * Run: `pnpm bench resilience [--quick]`.
 *
 * @since 0.1.0
 */
import { Effect } from "effect"
import { CircuitBreaker } from "effect/persistence"
import { Faults, Fixtures } from "@hybrid/agent"
import * as Hybrid from "../peers/resilience-hybrid.ts"
import * as Cockatiel from "../peers/resilience-cockatiel.ts"
import { type Client, type Outcome, settings } from "../peers/resilience-http.ts"
import * as PRetry from "../peers/resilience-p-retry.ts"
import { figure, type Figure, repetitions, type Row, type RunOptions, type Scenario, type ScenarioReport, silent } from "../Scenario.ts"
import * as Stats from "../Stats.ts"

/** Every fixture time is multiplied by this: the rate limit's "minute" lasts 3 s. */
const SCALE = 0.05
/** Requests per (scaled) minute the service admits: 100 per second. */
const RPM = 300
/** Calls per second offered by the driver: 20% above what the rate limit admits. */
const ARRIVALS_PER_SECOND = 120
const faults: Faults.Config = {
  news: {
    // 15 ms minimum at this scale, a Pareto tail (P(> 60 ms) ≈ 6%), spikes up to 300 ms
    latency: Faults.pareto({ min: 300, alpha: 2, max: 6_000 }),
    errorRate: 0.1,
    rpm: RPM
  }
}

const variants = [
  { id: "hybrid", label: "Hybrid: Retry + CircuitBreaker + Limit.learned + Limit.adaptive" },
  { id: "p-retry", label: "p-retry + p-limit" },
  { id: "cockatiel", label: "cockatiel: retry + breaker + bulkhead" }
] as const
type VariantId = typeof variants[number]["id"]

interface Sample {
  readonly variant: VariantId
  readonly ok: number
  /** Calls an open circuit refused (no request sent). */
  readonly circuitOpen: number
  readonly calls: number
  /** Of the calls that succeeded, from arrival. */
  readonly latencies: ReadonlyArray<number>
  readonly requests: number
  readonly rateLimited: number
  readonly wallMs: number
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** Starts `calls` calls at a fixed rate (open loop) and waits for all of them. */
const drive = async (call: () => Promise<Outcome>, calls: number) => {
  const latencies: Array<number> = []
  let ok = 0
  let circuitOpen = 0
  const t0 = performance.now()
  const pending: Array<Promise<void>> = []
  for (let i = 0; i < calls; i++) {
    const wait = t0 + (i * 1000) / ARRIVALS_PER_SECOND - performance.now()
    if (wait > 1) await sleep(wait)
    const start = performance.now()
    pending.push(call().then((outcome) => {
      if (outcome === "ok") {
        ok++
        latencies.push(performance.now() - start)
      } else if (outcome === "circuit-open") {
        circuitOpen++
      }
    }))
  }
  await Promise.all(pending)
  return { ok, circuitOpen, latencies, wallMs: performance.now() - t0 }
}

/** One run of one client against fresh fixtures. */
const measure = (variant: VariantId, calls: number) =>
  Effect.gen(function*() {
    const fixtures = yield* Fixtures.make({ seed: 7, scale: SCALE, faults })
    const url = `${fixtures.urls.news}/news?q=effect&limit=3`
    let client: Client
    switch (variant) {
      case "hybrid": {
        const call = yield* Hybrid.make.pipe(Effect.provide(CircuitBreaker.layerStoreMemory()))
        client = (u) => Effect.runPromise(call(u))
        break
      }
      case "p-retry":
        client = PRetry.make()
        break
      case "cockatiel":
        client = Cockatiel.make()
        break
    }
    const result = yield* Effect.promise(() => drive(() => client(url), calls))
    const stats = (yield* fixtures.stats).news!
    return { variant, calls, ...result, requests: stats.requests, rateLimited: stats.rateLimited } satisfies Sample
  }).pipe(Effect.scoped)

const run = Effect.fn("resilience.run")(function*(options: RunOptions) {
  const progress = options.progress ?? silent
  const reps = repetitions(options)
  const calls = options.quick ? 360 : 720
  progress.total((reps + 1) * variants.length)
  // warm up every client, the fixture servers and the HTTP stack (JIT, sockets): the first
  // run in a process is otherwise slower than the rest, and its timeouts trip breakers
  for (const { id } of variants) {
    yield* measure(id, 60)
    progress.tick()
  }
  const samples: Array<Sample> = []
  for (let rep = 0; rep < reps; rep++) {
    // rotate the order: no client always goes first
    for (let k = 0; k < variants.length; k++) {
      samples.push(yield* measure(variants[(rep + k) % variants.length]!.id, calls))
      progress.tick()
    }
  }

  const rows: Array<Row> = []
  const figures: Record<string, Figure> = {}
  for (const { id, label } of variants) {
    const of = samples.filter((s) => s.variant === id)
    const per = (unit: string, f: (s: Sample) => number, better?: "lower" | "higher") => figure(unit, of.map(f), { better })
    const success = per("%", (s) => (100 * s.ok) / s.calls, "higher")
    const p50 = per("ms", (s) => Stats.quantile(s.latencies, 0.5), "lower")
    const p99 = per("ms", (s) => Stats.quantile(s.latencies, 0.99), "lower")
    const requests = per("requests", (s) => s.requests, "lower")
    const rateLimited = per("requests", (s) => s.rateLimited, "lower")
    const circuitOpen = per("calls", (s) => s.circuitOpen)
    const wall = per("ms", (s) => s.wallMs, "lower")
    figures[`successRate.${id}`] = success
    figures[`p50Ms.${id}`] = p50
    figures[`p99Ms.${id}`] = p99
    figures[`requests.${id}`] = requests
    figures[`rateLimited.${id}`] = rateLimited
    figures[`circuitOpen.${id}`] = circuitOpen
    figures[`requestsPerSuccess.${id}`] = per("requests", (s) => s.requests / Math.max(1, s.ok), "lower")
    figures[`wallMs.${id}`] = wall
    rows.push({
      variant: label,
      "success %": success,
      "p50 ms": p50,
      "p99 ms": p99,
      "requests sent": requests,
      "429s": rateLimited,
      "refused by open circuit": id === "p-retry" ? "" : circuitOpen,
      "wall ms": wall
    })
  }
  const pct = (f: Figure | undefined) => f === undefined ? "n/a" : `${f.median.toFixed(1)}% [${f.min.toFixed(1)}–${f.max.toFixed(1)}]`
  const notes = [
    `${calls} calls arriving at ${ARRIVALS_PER_SECOND}/s to a fixture that admits ${RPM} requests per ${(60 * SCALE).toFixed(0)} s ` +
    `(429 + Retry-After past it), answers 5xx to 10% of requests, latency Pareto from 15 ms (spikes to 300 ms)`,
    `every client: ${settings.retries} retries, backoff ${settings.backoffBaseMs} ms × ${settings.backoffFactor}^n capped at ${settings.backoffCapMs} ms, ` +
    `${settings.attemptTimeoutMs} ms per attempt, ${settings.concurrency} in flight ` +
    `(Hybrid: adaptive from ${settings.concurrency} within [${settings.adaptiveMin}, ${settings.adaptiveMax}]), ` +
    `breaker open after ${settings.breakerFailures} consecutive 5xx/timeouts for ${settings.breakerOpenMs} ms (p-retry has none)`,
    `Retry-After is honoured by Hybrid's Retry only: p-retry and cockatiel back off on their own schedule`,
    `success: Hybrid ${pct(figures["successRate.hybrid"])}, p-retry ${pct(figures["successRate.p-retry"])}, cockatiel ${pct(figures["successRate.cockatiel"])}; ` +
    `requests per success: ${variants.map((v) => `${v.id} ${(figures[`requestsPerSuccess.${v.id}`]?.median ?? Number.NaN).toFixed(2)}`).join(", ")}`,
    `latency: of the calls that succeeded, from arrival (retries and waits included); ${reps} interleaved runs (order rotated) after a warm-up run of each client, each on fresh fixtures (seed 7); cells: median [min–max]`
  ]
  return { scenario: "resilience", figures, rows, notes } satisfies ScenarioReport
})

/**
 * @since 0.1.0
 * @category scenarios
 */
export const resilience: Scenario = {
  name: "resilience",
  description: "a flaky service (5xx, 429 + Retry-After, latency spikes): Hybrid's Retry + breaker + adaptive limit vs p-retry vs cockatiel",
  run
}

if (import.meta.main) {
  const report = await Effect.runPromise(run({ quick: process.argv.includes("--quick") }))
  console.log(JSON.stringify(report, null, 2))
}
