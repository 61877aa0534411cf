/**
 * `io-fanout`: N concurrent tasks that each wait 1 s on a timer, run through `Gather.all`,
 * raw `Effect.forEach({ concurrency: "unbounded" })` and `Promise.all`, side by side.
 * Reports the overhead per task, (wall − 1 s) / N, and the heap held per pending task.
 *
 * Every measurement runs in a fresh Node process (this file, with `--child`), so one
 * variant's garbage does not count against the next; repetitions are interleaved and
 * the median is reported.
 *
 * Run: `pnpm bench io-fanout [--quick]`.
 */
import { Effect } from "effect"
import { execFile } from "node:child_process"
import { fileURLToPath } from "node:url"
import type { Row, Scenario, ScenarioReport } from "../Scenario.ts"

const WAIT_MS = 1_000
const variants = ["gather", "effect", "promise"] as const
type Variant = typeof variants[number]

interface Sample {
  readonly variant: Variant
  readonly n: number
  readonly wallMs: number
  readonly heapPerTask: number
}

// ---- the child: one measurement -------------------------------------------------

const child = async (variant: Variant, n: number): Promise<Sample> => {
  const { Gather } = await import("@hybrid/core")
  const gc = (globalThis as { gc?: () => void }).gc
  gc?.()
  const heapBefore = process.memoryUsage().heapUsed
  let heapPeak = heapBefore
  // sample the heap once every task is pending: half-way through the wait
  const probe = setTimeout(() => {
    heapPeak = Math.max(heapPeak, process.memoryUsage().heapUsed)
  }, WAIT_MS / 2)
  const start = performance.now()
  if (variant === "promise") {
    await Promise.all(Array.from({ length: n }, () => new Promise<void>((resolve) => setTimeout(resolve, WAIT_MS))))
  } else {
    const tasks = Array.from({ length: n }, () => Effect.sleep(WAIT_MS))
    await Effect.runPromise(
      variant === "gather" ? Gather.all(tasks) : Effect.forEach(tasks, (t) => t, { concurrency: "unbounded" })
    )
  }
  const wallMs = performance.now() - start
  clearTimeout(probe)
  return { variant, n, wallMs, heapPerTask: (heapPeak - heapBefore) / n }
}

// ---- the parent: interleaved repetitions -----------------------------------------

const self = fileURLToPath(import.meta.url)

const measure = (variant: Variant, n: number) =>
  Effect.tryPromise(() =>
    new Promise<Sample>((resolve, reject) => {
      execFile(process.execPath, ["--expose-gc", self, "--child", variant, String(n)], { maxBuffer: 1 << 20 }, (error, stdout) => {
        if (error) reject(error)
        else resolve(JSON.parse(stdout) as Sample)
      })
    })
  )

const median = (xs: ReadonlyArray<number>) => {
  const sorted = [...xs].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

const run = ({ quick }: { readonly quick: boolean }): Effect.Effect<ScenarioReport, unknown> =>
  Effect.gen(function*() {
    const sizes = quick ? [1_000, 10_000] : [10_000, 100_000]
    const reps = quick ? 1 : 3
    const samples: Array<Sample> = []
    for (let rep = 0; rep < reps; rep++) {
      for (const n of sizes) {
        for (const variant of variants) samples.push(yield* measure(variant, n))
      }
    }
    const rows: Array<Row> = []
    const figures: Record<string, number> = {}
    for (const n of sizes) {
      const of = (variant: Variant) => samples.filter((s) => s.variant === variant && s.n === n)
      const overhead = (variant: Variant) => median(of(variant).map((s) => ((s.wallMs - WAIT_MS) * 1000) / n))
      const heap = (variant: Variant) => median(of(variant).map((s) => s.heapPerTask))
      for (const variant of variants) {
        rows.push({
          n,
          variant: variant === "gather" ? "Gather.all" : variant === "effect" ? "Effect.forEach unbounded" : "Promise.all",
          "wall ms": Math.round(median(of(variant).map((s) => s.wallMs))),
          "overhead µs/task": Number(overhead(variant).toFixed(3)),
          "heap B/task": Math.round(heap(variant))
        })
        figures[`overheadMicros.${variant}.${n}`] = overhead(variant)
        figures[`heapBytes.${variant}.${n}`] = heap(variant)
      }
      const wall = (variant: Variant) => median(of(variant).map((s) => s.wallMs))
      figures[`gatherVsEffectWall.${n}`] = wall("gather") / wall("effect")
      figures[`gatherVsEffectOverhead.${n}`] = overhead("gather") / overhead("effect")
    }
    return {
      scenario: "io-fanout",
      figures,
      rows,
      notes: [
        `each task waits ${WAIT_MS} ms; overhead = (wall − ${WAIT_MS} ms) / N; heap sampled half-way through the wait`,
        `median of ${reps} interleaved repetition(s), each in a fresh process`
      ]
    }
  })

export const ioFanout: Scenario = {
  name: "io-fanout",
  description: "N concurrent 1 s timer waits: Gather.all vs raw Effect vs Promise.all",
  run
}

if (process.argv[2] === "--child") {
  const sample = await child(process.argv[3] as Variant, Number(process.argv[4]))
  process.stdout.write(JSON.stringify(sample))
}
