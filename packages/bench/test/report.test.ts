/**
 * The HTML report, rendered from a small fixed set of scenario reports (test data, not
 * measurements) and opened in headless Chromium: every chart is there, drawn by Vega as
 * SVG with marks in it, and the machine's facts head the page.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { pathToFileURL } from "node:url"
import { chromium } from "playwright-core"
import { chartsFor } from "../src/charts.ts"
import { html, type Results } from "../src/report.ts"

const CHROMIUM = "/usr/bin/chromium"
const hasChromium = existsSync(CHROMIUM)
if (!hasChromium) {
  console.warn(`report.test.ts: skipping the browser test — ${CHROMIUM} is absent (CI installs it: apt-get install -y chromium)`)
}

const results: Results = {
  machine: { cores: 4, cpu: "Test CPU @ 3.0GHz", node: "v24.0.0", platform: "linux x64", memoryGiB: 16, python: "Python 3.12.0" },
  quick: true,
  date: "2026-01-01T00:00:00.000Z",
  durationMs: 1234,
  reports: [
    {
      scenario: "io-fanout",
      description: "N concurrent timer waits",
      figures: {},
      rows: [1_000, 10_000, 100_000].flatMap((n, i) => [
        { n, variant: "Gather.all", "wall ms": 1010 + i, "overhead µs/task": 7 - i, "heap B/task": 1700, "RSS B/task": 1800 + i },
        { n, variant: "Promise.all", "wall ms": 1005 + i, "overhead µs/task": 2 - i * 0.5, "heap B/task": 500, "RSS B/task": 700 },
        { n, variant: "asyncio.gather (Python)", "wall ms": 1020 + i, "overhead µs/task": 12, "heap B/task": "", "RSS B/task": 1300 }
      ]),
      notes: ["test data"]
    },
    {
      scenario: "resilience",
      figures: {},
      rows: [
        { variant: "Hybrid", "success %": 97.5, "p50 ms": 30, "p99 ms": 1200, "requests sent": 550, "429s": 150, "wall ms": 3700 },
        { variant: "p-retry + p-limit", "success %": 86, "p50 ms": 24, "p99 ms": 650, "requests sent": 640, "429s": 300, "wall ms": 3600 }
      ],
      notes: []
    },
    {
      scenario: "cpu",
      figures: { cores: 4 },
      rows: [
        { variant: "sequential (main thread)", "8 tasks ms": 2400, speedup: 1 },
        { variant: "NodeRunner (4 workers)", "8 tasks ms": 700, speedup: 3.4, "tiny tasks/s": 9000 },
        { variant: "piscina 5 (4 threads)", "8 tasks ms": 680, speedup: 3.5, "tiny tasks/s": 17000 }
      ],
      notes: []
    },
    {
      scenario: "pipeline",
      figures: { boundMs: 800 },
      rows: [
        { variant: "gather, then process", "wall ms": 1400, "× bound": 1.75 },
        { variant: "Pipeline", "wall ms": 880, "× bound": 1.1 },
        { variant: "critical-path bound", "wall ms": 800, "× bound": 1 },
        { variant: "asyncio Queue pipeline (Python)", "wall ms": 1100, "× bound": 1.3, "bound ms": 850 }
      ],
      notes: []
    }
  ]
}

const expected = results.reports.flatMap((report) => chartsFor(report, results.machine).map((chart) => chart.id))

describe("report", () => {
  it("builds the charts every scenario is meant to have", () => {
    assert.deepStrictEqual(expected, [
      "io-fanout-overhead",
      "io-fanout-memory",
      "resilience-success",
      "resilience-requests",
      "resilience-latency",
      "cpu-speedup",
      "cpu-throughput",
      "pipeline-bound"
    ])
  })

  it.skipIf(!hasChromium)("renders every chart as a non-empty SVG in headless Chromium", async () => {
    const page = await Effect.runPromise(html(results))
    const dir = mkdtempSync(join(tmpdir(), "hybrid-report-"))
    const file = join(dir, "report.html")
    writeFileSync(file, page)
    const context = await chromium.launchPersistentContext(join(dir, "profile"), {
      executablePath: CHROMIUM,
      headless: true,
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync"
      ]
    })
    try {
      const tab = await context.newPage()
      await tab.goto(pathToFileURL(file).href)
      assert.include(await tab.locator("dl.machine").innerText(), "Test CPU @ 3.0GHz")
      assert.strictEqual(await tab.locator("figure.chart").count(), expected.length)
      for (const id of expected) {
        const svg = tab.locator(`figure[data-chart="${id}"] svg`)
        assert.strictEqual(await svg.count(), 1, `${id}: one SVG`)
        const box = await svg.boundingBox()
        assert.isTrue(box !== null && box.width > 100 && box.height > 50, `${id}: the SVG is laid out (${JSON.stringify(box)})`)
        // Vega draws data as groups classed mark-<type>; bars, lines and points are paths
        const marks = await svg.locator("g.mark-rect path, g.mark-line path, g.mark-symbol path").count()
        assert.isAbove(marks, 0, `${id}: the chart has data marks`)
      }
      // the cpu chart draws the ideal line; the pipeline chart marks the bound
      assert.isAbove(await tab.locator(`figure[data-chart="cpu-speedup"] svg g.mark-rule line`).count(), 0)
      assert.include(await tab.locator(`figure[data-chart="cpu-speedup"] svg`).innerHTML(), "ideal ×4")
    } finally {
      await context.close()
      rmSync(dir, { recursive: true, force: true })
    }
  }, 120_000)
})
