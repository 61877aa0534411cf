/**
 * The HTML report, rendered from synthetic scenario reports (test data, not
 * measurements, `fixtures.ts`) and opened in headless Chromium: every chart is there,
 * drawn by Vega as SVG; every point has its error bar; a left-out point is named in the
 * caption; the run facts head the page; a machine-limited scenario says so.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { pathToFileURL } from "node:url"
import { chromium } from "playwright-core"
import { chartsFor } from "../src/charts.ts"
import { html } from "../src/report.ts"
import * as Fixtures from "./fixtures.ts"

const CHROMIUM = "/usr/bin/chromium"
const hasChromium = existsSync(CHROMIUM)
if (!hasChromium) {
  console.warn(`report.test.ts: skipping the browser test — ${CHROMIUM} is absent (CI installs it: apt-get install -y chromium)`)
}

const results = Fixtures.document([
  Fixtures.result(Fixtures.ioFanout(), "N concurrent timer waits"),
  Fixtures.result(Fixtures.resilience()),
  Fixtures.result(Fixtures.cpu()),
  Fixtures.result(Fixtures.pipeline())
])

const charts = results.reports.flatMap((report) => chartsFor(report, results.facts))
const expected = charts.map((chart) => chart.id)

describe("report", () => {
  it("builds the charts every scenario is meant to have", () => {
    assert.deepStrictEqual(expected, [
      "io-fanout-overhead",
      "io-fanout-heap",
      "io-fanout-memory",
      "resilience-success",
      "resilience-requests",
      "resilience-p50",
      "resilience-p99",
      "cpu-speedup",
      "cpu-throughput",
      "pipeline-bound"
    ])
  })

  it("a caption names every point left out, and why", () => {
    const memory = charts.find((chart) => chart.id === "io-fanout-memory")!
    assert.include(memory.caption, "Promise.all at N = 1,000 (below page granularity)")
    const heap = charts.find((chart) => chart.id === "io-fanout-heap")!
    assert.notInclude(heap.caption, "Left out") // Python has no heap figure: an empty cell, not a left-out point
    const speedup = charts.find((chart) => chart.id === "cpu-speedup")!
    assert.include(speedup.caption, "Machine-limited")
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
      // the run facts: machine, versions, commit, load
      const facts = tab.locator("dl.facts")
      assert.include(await facts.locator(`dd[data-fact="cpu"]`).innerText(), "Test CPU @ 3.0GHz")
      assert.include(await facts.locator(`dd[data-fact="packages"]`).innerText(), "effect 4.1.0")
      assert.include(await facts.locator(`dd[data-fact="packages"]`).innerText(), "piscina 5.3.2")
      assert.include(await facts.locator(`dd[data-fact="node"]`).innerText(), "v24.0.0")
      assert.include(await facts.locator(`dd[data-fact="python"]`).innerText(), "Python 3.12.0")
      assert.include(await facts.locator(`dd[data-fact="commit"]`).innerText(), "0123456789abcdef0123456789abcdef01234567 (dirty)")
      assert.include(await facts.locator(`dd[data-fact="load"]`).innerText(), "0.5 0.4 0.3 before")
      assert.include(await tab.locator("section#io-fanout p.duration").innerText(), "load average 0.5 0.4 0.3 before, 0.9 0.5 0.3 after")
      // the guard: the cpu fixture's control delivered 1.1 cores
      assert.include(await tab.locator(`section#cpu .warning[data-machine-limited="true"]`).innerText(), "1.10 cores delivered of 4")
      assert.isAbove(await tab.locator("section#cpu.machine-limited td.parallel").count(), 0)
      // every figure cell shows its spread
      assert.include(await tab.locator("section#resilience td.figure").first().innerText(), "min–max")
      assert.strictEqual(await tab.locator("figure.chart").count(), expected.length)
      for (const id of expected) {
        const svg = tab.locator(`figure[data-chart="${id}"] svg`)
        assert.strictEqual(await svg.count(), 1, `${id}: one SVG`)
        const box = await svg.boundingBox()
        assert.isTrue(box !== null && box.width > 100 && box.height > 50, `${id}: the SVG is laid out (${JSON.stringify(box)})`)
        // Vega classes a layer's marks by its name: every point or bar ("values") has its error bar
        const points = await svg.locator("g.values_marks path").count()
        const bars = await svg.locator("g.errorbars_marks line").count()
        assert.isAbove(points, 0, `${id}: the chart has data marks`)
        assert.strictEqual(bars, points, `${id}: one error bar per point`)
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
