/**
 * Synthetic bench documents for the tests (test data, not measurements): figures built
 * from fixed samples with the same constructors the scenarios use.
 */
import { FORMAT, type Results, type RunFacts, type ScenarioResult } from "../src/Results.ts"
import { figure, type ScenarioReport } from "../src/Scenario.ts"

export const facts = (overrides: Partial<RunFacts> = {}): RunFacts => ({
  date: "2026-01-01T00:00:00.000Z",
  quick: true,
  repetitions: 3,
  cpu: "Test CPU @ 3.0GHz",
  cores: 4,
  memoryGiB: 16,
  platform: "linux x64",
  node: "v24.0.0",
  python: "Python 3.12.0",
  packages: { effect: "4.1.0", piscina: "5.3.2", "p-limit": "7.3.3" },
  git: { commit: "0123456789abcdef0123456789abcdef01234567", dirty: true },
  loadBefore: [0.5, 0.4, 0.3],
  loadAfter: [1.5, 0.8, 0.4],
  ...overrides
})

export const result = (report: ScenarioReport, description = "test data"): ScenarioResult => ({
  ...report,
  description,
  durationMs: 1000,
  loadBefore: [0.5, 0.4, 0.3],
  loadAfter: [0.9, 0.5, 0.3],
  ...(report.control !== undefined && report.control.median < 1.5 ? { machineLimited: true } : {})
})

export const document = (reports: ReadonlyArray<ScenarioResult>, overrides: Partial<RunFacts> = {}): Results => ({
  format: FORMAT,
  facts: facts(overrides),
  durationMs: 1234,
  reports
})

/** One io-fanout report: three variants over three sizes, Promise.all's RSS at 1k flagged. */
export const ioFanout = (): ScenarioReport => {
  const rows = [1_000, 10_000, 100_000].flatMap((n, i) => [
    {
      n,
      variant: "Gather.all",
      "wall ms": figure("ms", [1010 + i, 1012 + i, 1011 + i]),
      "overhead µs/task": figure("µs/task", [7 - i, 7.5 - i, 6.8 - i]),
      "heap B/task": figure("B/task", [1700, 1710, 1690]),
      "RSS B/task": figure("B/task", [1800 + i, 1810, 1790])
    },
    {
      n,
      variant: "Promise.all",
      "wall ms": figure("ms", [1005 + i, 1006, 1004]),
      "overhead µs/task": figure("µs/task", [2 - i * 0.5, 2.2 - i * 0.5, 1.9 - i * 0.5]),
      "heap B/task": figure("B/task", [500, 510, 490]),
      "RSS B/task": n === 1_000 ? figure("B/task", [0, 0, 262], { flag: "below page granularity" }) : figure("B/task", [700, 710, 690])
    },
    {
      n,
      variant: "asyncio.gather (Python)",
      "wall ms": figure("ms", [1020 + i, 1021, 1019]),
      "overhead µs/task": figure("µs/task", [12, 12.5, 11.8]),
      "heap B/task": "",
      "RSS B/task": figure("B/task", [1300, 1310, 1290])
    }
  ])
  return { scenario: "io-fanout", figures: { "wallMs.gather.1000": figure("ms", [1010, 1012, 1011]) }, rows, notes: ["test data"] }
}

export const resilience = (): ScenarioReport => ({
  scenario: "resilience",
  figures: {},
  rows: [
    {
      variant: "Hybrid",
      "success %": figure("%", [97.5, 98, 97]),
      "p50 ms": figure("ms", [30, 31, 29]),
      "p99 ms": figure("ms", [1200, 1100, 1300]),
      "requests sent": figure("requests", [550, 560, 540]),
      "429s": figure("requests", [150, 140, 160]),
      "wall ms": figure("ms", [3700, 3710, 3690])
    },
    {
      variant: "p-retry + p-limit",
      "success %": figure("%", [86, 87, 85]),
      "p50 ms": figure("ms", [24, 25, 23]),
      "p99 ms": figure("ms", [650, 640, 660]),
      "requests sent": figure("requests", [640, 650, 630]),
      "429s": figure("requests", [300, 310, 290]),
      "wall ms": figure("ms", [3600, 3610, 3590])
    }
  ],
  notes: []
})

/** A cpu report whose control delivered 1.1 cores of 4: machine-limited. */
export const cpu = (): ScenarioReport => {
  const speed = figure("×", [3.4, 3.3, 3.5], { parallel: true })
  return {
    scenario: "cpu",
    figures: { speedup: speed },
    control: figure("cores", [1.1, 1.2, 1.0]),
    rows: [
      { variant: "sequential (main thread)", "8 tasks ms": figure("ms", [2400, 2410, 2390]), speedup: "1 (reference)" },
      { variant: "NodeRunner (4 workers)", "8 tasks ms": figure("ms", [700, 710, 690]), speedup: speed, "tiny tasks/s": figure("tasks/s", [9000, 9100, 8900]) },
      { variant: "piscina 5 (4 threads)", "8 tasks ms": figure("ms", [680, 690, 670]), speedup: figure("×", [3.5, 3.4, 3.6]), "tiny tasks/s": figure("tasks/s", [17000, 17100, 16900]) }
    ],
    notes: []
  }
}

export const pipeline = (): ScenarioReport => {
  const bound = figure("ms", [800, 805, 795])
  return {
    scenario: "pipeline",
    figures: { boundMs: bound },
    rows: [
      { variant: "gather, then process", "wall ms": figure("ms", [1400, 1410, 1390]), "bound ms": bound },
      { variant: "Pipeline", "wall ms": figure("ms", [880, 890, 870]), "bound ms": bound },
      { variant: "critical-path bound", "wall ms": bound, "bound ms": bound },
      { variant: "asyncio Queue pipeline (Python)", "wall ms": figure("ms", [1100, 1110, 1090]), "bound ms": 850 }
    ],
    notes: []
  }
}
