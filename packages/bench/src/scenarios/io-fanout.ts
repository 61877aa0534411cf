/**
 * `io-fanout`: lesson 1's claim at scale — N concurrent tasks that each wait on a timer
 * cost little more than one wait. N = 1k, 10k, 100k, through:
 *
 * - **unbounded** (every task waits 1 s at once): `Gather.all`, raw
 *   `Effect.forEach({ concurrency: "unbounded" })`, `Promise.all` over `setTimeout`, and
 *   Python's `asyncio.gather` (`python/asyncio_bench.py`, when `python3` exists);
 * - **bounded** (N/10 at a time, each task waits 100 ms, so ten waves make the same
 *   ideal 1 s): `Gather.all({ concurrency: N/10 })`, `p-limit(N/10)` and Python's
 *   `asyncio.Semaphore(N/10)`.
 *
 * Reports the overhead per task, (wall − 1 s) / N, and the memory held per pending task:
 * the JS heap (Node) and the resident set size (Node and Python alike), sampled half-way
 * through the wait.
 *
 * Every measurement runs in a fresh process (this file with `--child`, or `python3`), so
 * one variant's garbage does not count against the next; repetitions are interleaved
 * (5, or 3 when quick) and every figure keeps its raw samples, median, min–max and
 * interval. RSS moves in pages (and V8 grows its heap in 256 KiB pages): a growth below
 * 1 MiB in total is flagged as page granularity rather than read as bytes per task — at
 * small N the heap is the figure.
 *
 * Run: `pnpm bench io-fanout [--quick]`.
 *
 * @since 0.1.0
 */
import { Effect } from "effect"
import { execFile, spawnSync } from "node:child_process"
import { fileURLToPath } from "node:url"
import { figure, type Figure, mapFigure, ratio, repetitions, type Row, type RunOptions, type Scenario, type ScenarioReport, silent } from "../Scenario.ts"

const WAIT_MS = 1_000
/** The bounded variants run N/WAVES at a time, each task waiting WAIT_MS/WAVES. */
const WAVES = 10
/** Below this total RSS growth, the RSS per task is page granularity, not a measurement. */
const RSS_GRANULARITY_BYTES = 1 << 20

const variants = [
  { id: "gather", label: "Gather.all", runtime: "node", bounded: false },
  { id: "effect", label: "Effect.forEach unbounded", runtime: "node", bounded: false },
  { id: "promise", label: "Promise.all", runtime: "node", bounded: false },
  { id: "python", label: "asyncio.gather (Python)", runtime: "python", bounded: false },
  { id: "gather-bounded", label: "Gather.all, concurrency N/10", runtime: "node", bounded: true },
  { id: "p-limit", label: "p-limit(N/10)", runtime: "node", bounded: true },
  { id: "python-bounded", label: "asyncio.Semaphore(N/10) (Python)", runtime: "python", bounded: true }
] as const
type Variant = typeof variants[number]
type VariantId = Variant["id"]

interface Sample {
  readonly variant: VariantId
  readonly n: number
  readonly wallMs: number
  /** JS heap per pending task (Node only). */
  readonly heapPerTask?: number | undefined
  readonly rssPerTask: number
}

// ---- the child: one Node measurement ------------------------------------------------

const child = async (id: VariantId, n: number): Promise<Sample> => {
  const { Gather } = await import("@hybrid/core")
  const { default: pLimit } = await import("p-limit")
  const bounded = id === "gather-bounded" || id === "p-limit"
  const limit = Math.max(1, Math.floor(n / WAVES))
  const wait = bounded ? WAIT_MS / WAVES : WAIT_MS
  const gc = (globalThis as { gc?: () => void }).gc
  gc?.()
  const before = process.memoryUsage()
  let heapPeak = before.heapUsed
  let rssPeak = before.rss
  // sample memory once every task is pending: half-way through the wait
  const probe = setTimeout(() => {
    const now = process.memoryUsage()
    heapPeak = Math.max(heapPeak, now.heapUsed)
    rssPeak = Math.max(rssPeak, now.rss)
  }, WAIT_MS / 2)
  const sleep = () => new Promise<void>((resolve) => setTimeout(resolve, wait))
  const start = performance.now()
  switch (id) {
    case "promise":
      await Promise.all(Array.from({ length: n }, sleep))
      break
    case "p-limit": {
      const run = pLimit(limit)
      await Promise.all(Array.from({ length: n }, () => run(sleep)))
      break
    }
    default: {
      const tasks = Array.from({ length: n }, () => Effect.sleep(wait))
      await Effect.runPromise(
        id === "gather"
          ? Gather.all(tasks)
          : id === "gather-bounded"
          ? Gather.all(tasks, { concurrency: limit })
          : Effect.forEach(tasks, (t) => t, { concurrency: "unbounded" })
      )
    }
  }
  const wallMs = performance.now() - start
  clearTimeout(probe)
  return { variant: id, n, wallMs, heapPerTask: (heapPeak - before.heapUsed) / n, rssPerTask: (rssPeak - before.rss) / n }
}

// ---- the parent: interleaved repetitions -----------------------------------------------

const self = fileURLToPath(import.meta.url)
const pythonScript = fileURLToPath(new URL("../../python/asyncio_bench.py", import.meta.url))

/** `python3 --version`, or undefined when there is no usable python3. */
const pythonVersion = (): string | undefined => {
  const probe = spawnSync("python3", ["--version"], { encoding: "utf8" })
  return probe.status === 0 ? (probe.stdout || probe.stderr).trim() : undefined
}

const exec = (file: string, args: ReadonlyArray<string>) =>
  Effect.callback<string, Error>((resume) => {
    const proc = execFile(file, args, { maxBuffer: 1 << 20 }, (error, stdout, stderr) => {
      if (error) resume(Effect.fail(new Error(`${file} ${args.join(" ")} failed: ${stderr || error.message}`)))
      else resume(Effect.succeed(stdout))
    })
    return Effect.sync(() => proc.kill())
  })

const measure = (variant: Variant, n: number): Effect.Effect<Sample, Error> => {
  const args = variant.runtime === "node"
    ? exec(process.execPath, ["--expose-gc", self, "--child", variant.id, String(n)])
    : exec("python3", [
      pythonScript,
      "fanout",
      "--n",
      String(n),
      ...(variant.bounded ? ["--wait-ms", String(WAIT_MS / WAVES), "--limit", String(Math.floor(n / WAVES))] : ["--wait-ms", String(WAIT_MS)])
    ])
  return Effect.flatMap(args, (stdout) =>
    Effect.try({ try: () => JSON.parse(stdout) as Sample, catch: () => new Error(`unreadable sample: ${stdout}`) }))
}

const run = Effect.fn("io-fanout.run")(function*(options: RunOptions) {
  const progress = options.progress ?? silent
  const sizes = [1_000, 10_000, 100_000]
  const reps = repetitions(options)
  const python = pythonVersion()
  const chosen = variants.filter((v) => v.runtime === "node" || python !== undefined)
  // a quick run skips the bounded asyncio variant at the largest N, its slowest measurement
  const measured = (variant: Variant, n: number) => !(options.quick && variant.id === "python-bounded" && n === sizes.at(-1))
  progress.total(reps * sizes.reduce((sum, n) => sum + chosen.filter((v) => measured(v, n)).length, 0))
  const samples: Array<Sample> = []
  for (let rep = 0; rep < reps; rep++) {
    for (const n of sizes) {
      // rotate the order each repetition: no variant always runs first
      const order = chosen.map((_, i) => chosen[(i + rep) % chosen.length]!)
      for (const variant of order) {
        if (!measured(variant, n)) continue
        samples.push(yield* measure(variant, n))
        progress.tick()
      }
    }
  }

  const rows: Array<Row> = []
  const figures: Record<string, Figure> = {}
  for (const n of sizes) {
    const of = (id: VariantId) => samples.filter((s) => s.variant === id && s.n === n)
    const walls: Partial<Record<VariantId, Figure>> = {}
    for (const variant of chosen) {
      if (!measured(variant, n)) continue
      const mine = of(variant.id)
      const wall = figure("ms", mine.map((s) => s.wallMs), { better: "lower" })
      walls[variant.id] = wall
      const overhead = mapFigure(wall, "µs/task", (ms) => ((ms - WAIT_MS) * 1000) / n)
      const heaps = mine.flatMap((s) => s.heapPerTask === undefined ? [] : [s.heapPerTask])
      const heap = heaps.length === 0 ? undefined : figure("B/task", heaps, { better: "lower" })
      const rssSamples = mine.map((s) => s.rssPerTask)
      const rssProbe = figure("B/task", rssSamples)
      const rss = figure("B/task", rssSamples, {
        better: "lower",
        flag: rssProbe.median * n < RSS_GRANULARITY_BYTES ? "below page granularity" : undefined
      })
      rows.push({
        n,
        variant: variant.label,
        "wall ms": wall,
        "overhead µs/task": overhead,
        "heap B/task": heap ?? "",
        "RSS B/task": rss
      })
      figures[`wallMs.${variant.id}.${n}`] = wall
      figures[`overheadMicros.${variant.id}.${n}`] = overhead
      if (heap !== undefined) figures[`heapBytes.${variant.id}.${n}`] = heap
      figures[`rssBytes.${variant.id}.${n}`] = rss
    }
    const pair = (key: string, a: VariantId, b: VariantId) => {
      const x = walls[a]
      const y = walls[b]
      if (x !== undefined && y !== undefined) figures[`${key}.${n}`] = ratio(x, y, { better: "lower" })
    }
    pair("gatherVsEffectWall", "gather", "effect")
    pair("gatherVsPromiseWall", "gather", "promise")
    pair("gatherVsPLimitWall", "gather-bounded", "p-limit")
    pair("gatherVsPythonWall", "gather", "python")
    pair("gatherVsPythonBoundedWall", "gather-bounded", "python-bounded")
  }
  const big = sizes[sizes.length - 1]!
  const at = (key: string) => {
    const f = figures[`${key}.${big}`]
    return f === undefined ? "n/a" : `${f.median.toFixed(2)}× [${f.low.toFixed(2)}–${f.high.toFixed(2)}]`
  }
  const notes = [
    `unbounded: every task waits ${WAIT_MS} ms at once; bounded: N/${WAVES} at a time, each waiting ${WAIT_MS / WAVES} ms (${WAVES} waves, the same ideal ${WAIT_MS} ms)`,
    `overhead = (wall − ${WAIT_MS} ms) / N; memory sampled half-way through the wait (heap: V8's heapUsed; RSS: the process's resident set, for Node and Python alike); ` +
    `RSS growth below ${RSS_GRANULARITY_BYTES / 2 ** 20} MiB in total is flagged "below page granularity"`,
    `at N = ${big.toLocaleString("en-US")}, wall-time ratios (median, 95% interval, paired per repetition): Gather.all / Promise.all ${at("gatherVsPromiseWall")}, ` +
    `/ raw Effect ${at("gatherVsEffectWall")} (Gather.all is Effect.all, unbounded)` +
    (python === undefined ? "" : `, / asyncio.gather ${at("gatherVsPythonWall")}`) +
    `; bounded, Gather.all / p-limit ${at("gatherVsPLimitWall")}`,
    python === undefined
      ? "Python asyncio skipped: no python3 on PATH"
      : `Python peer: ${python}, ${pythonScript.split("/").slice(-2).join("/")} (standard library only)`,
    `${reps} interleaved repetitions, each measurement in a fresh process; cells: median [min–max]`,
    ...(options.quick && python !== undefined
      ? [`quick run: asyncio.Semaphore at N = ${big.toLocaleString("en-US")} is measured in full runs only, to keep --quick short`]
      : [])
  ]
  return { scenario: "io-fanout", figures, rows, notes } satisfies ScenarioReport
})

/**
 * @since 0.1.0
 * @category scenarios
 */
export const ioFanout: Scenario = {
  name: "io-fanout",
  description: "N = 1k/10k/100k concurrent timer waits: Gather.all vs raw Effect vs Promise.all vs p-limit vs Python asyncio",
  run
}

if (process.argv[2] === "--child") {
  const sample = await child(process.argv[3] as VariantId, Number(process.argv[4]))
  process.stdout.write(JSON.stringify(sample))
}
