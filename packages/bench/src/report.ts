/**
 * What a bench run produces, in every form: the machine's facts, a terminal table per
 * scenario, the JSON document (`Results`), and a self-contained HTML page with the
 * charts of `charts.ts` inlined as SVG. Every figure comes from the run's reports;
 * nothing here types in a number.
 *
 * @since 0.1.0
 */
import { Effect, Schema } from "effect"
import { spawnSync } from "node:child_process"
import os from "node:os"
import { chartsFor, toSvg } from "./charts.ts"
import type { ScenarioReport } from "./Scenario.ts"

/**
 * The facts that head every report.
 *
 * @since 0.1.0
 * @category models
 */
export interface Machine {
  readonly cores: number
  readonly cpu: string
  readonly node: string
  readonly platform: string
  readonly memoryGiB: number
  /** `python3 --version`, when there is one (the asyncio peer). */
  readonly python?: string | undefined
}

/**
 * One scenario's report, with what the run knows about it.
 *
 * @since 0.1.0
 * @category models
 */
export interface ScenarioResult extends ScenarioReport {
  readonly description?: string | undefined
  readonly durationMs?: number | undefined
}

/**
 * The JSON document of a run, and the input of `html`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Results {
  readonly machine: Machine
  readonly quick: boolean
  /** ISO 8601, when the run started. */
  readonly date: string
  readonly durationMs: number
  readonly reports: ReadonlyArray<ScenarioResult>
}

/**
 * A chart could not be compiled or rendered.
 *
 * @since 0.1.0
 * @category errors
 */
export class ChartError extends Schema.TaggedError<ChartError>()("ChartError", {
  chart: Schema.String,
  cause: Schema.Unknown
}) {}

/**
 * This machine's facts, read now.
 *
 * @since 0.1.0
 * @category constructors
 */
export const machine = (): Machine => {
  const python = spawnSync("python3", ["--version"], { encoding: "utf8" })
  return {
    cores: os.availableParallelism(),
    cpu: os.cpus()[0]?.model ?? "unknown",
    node: process.version,
    platform: `${os.platform()} ${os.arch()}`,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    python: python.status === 0 ? (python.stdout || python.stderr).trim() : undefined
  }
}

/**
 * One line: `2 cores, AMD EPYC, 24 GiB, Node v24.21.0, linux x64, Python 3.11.7`.
 *
 * @since 0.1.0
 * @category formatting
 */
export const describeMachine = (m: Machine): string =>
  `${m.cores} cores, ${m.cpu}, ${m.memoryGiB} GiB, Node ${m.node}, ${m.platform}${m.python === undefined ? "" : `, ${m.python}`}`

const columnsOf = (report: ScenarioReport) => [...new Set(report.rows.flatMap((row) => Object.keys(row)))]

/**
 * The report's rows as a right-aligned text table.
 *
 * @since 0.1.0
 * @category formatting
 */
export const table = (report: ScenarioReport): string => {
  const columns = columnsOf(report)
  const cells = report.rows.map((row) => columns.map((c) => String(row[c] ?? "")))
  const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((r) => r[i]!.length)))
  const line = (values: ReadonlyArray<string>) => values.map((v, i) => v.padStart(widths[i]!)).join("  ")
  return [line(columns), line(widths.map((w) => "-".repeat(w))), ...cells.map(line)].join("\n")
}

// --- HTML -----------------------------------------------------------------------------------

const escape = (text: string) =>
  text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", "\"": "&quot;", "'": "&#39;" })[c]!)

const htmlTable = (report: ScenarioReport): string => {
  const columns = columnsOf(report)
  const head = columns.map((c) => `<th>${escape(c)}</th>`).join("")
  const body = report.rows.map((row) =>
    `<tr>${columns.map((c) => {
      const value = row[c]
      return `<td class="${typeof value === "number" ? "num" : ""}">${escape(value === undefined ? "" : typeof value === "number" ? value.toLocaleString("en-US") : value)}</td>`
    }).join("")}</tr>`
  ).join("\n")
  return `<table><thead><tr>${head}</tr></thead><tbody>\n${body}\n</tbody></table>`
}

const style = `
  body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto; max-width: 980px; padding: 0 1rem; color: #222; }
  h1 { margin-bottom: 0.2rem; }
  .machine { background: #f4f6f8; border-radius: 6px; padding: 0.6rem 1rem; }
  .machine dt { font-weight: 600; float: left; clear: left; width: 7rem; }
  .machine dd { margin-left: 7.5rem; }
  section { margin-top: 2.5rem; border-top: 1px solid #ddd; }
  figure { margin: 1.5rem 0; }
  figcaption { color: #555; font-size: 0.9rem; max-width: 760px; }
  figure svg { max-width: 100%; height: auto; }
  table { border-collapse: collapse; margin: 1rem 0; font-size: 0.9rem; }
  th, td { border-bottom: 1px solid #e3e3e3; padding: 0.25rem 0.6rem; text-align: left; }
  td.num { text-align: right; font-variant-numeric: tabular-nums; }
  ul.notes { color: #444; font-size: 0.9rem; }
  details pre { background: #f7f7f7; padding: 0.5rem; overflow-x: auto; font-size: 0.8rem; }
`

/**
 * The whole report as one self-contained HTML page: the machine's facts first, then one
 * section per scenario with its charts (inline SVG), its table and its notes.
 *
 * @since 0.1.0
 * @category rendering
 */
export const html = Effect.fn("report.html")(function*(results: Results) {
  const m = results.machine
  const sections: Array<string> = []
  for (const report of results.reports) {
    const figures: Array<string> = []
    for (const chart of chartsFor(report, m)) {
      const svg = yield* Effect.tryPromise({ try: () => toSvg(chart), catch: (cause) => new ChartError({ chart: chart.id, cause }) })
      figures.push(
        `<figure class="chart" data-chart="${escape(chart.id)}"><h3>${escape(chart.title)}</h3>\n${svg}\n` +
          `<figcaption>${escape(chart.caption)}</figcaption></figure>`
      )
    }
    sections.push(`<section id="${escape(report.scenario)}">
<h2>${escape(report.scenario)}</h2>
${report.description === undefined ? "" : `<p>${escape(report.description)}</p>`}
${report.durationMs === undefined ? "" : `<p class="duration">ran in ${(report.durationMs / 1000).toFixed(1)} s</p>`}
${figures.join("\n")}
${htmlTable(report)}
<ul class="notes">${report.notes.map((note) => `<li>${escape(note)}</li>`).join("")}</ul>
<details><summary>figures</summary><pre>${escape(JSON.stringify(report.figures, null, 2))}</pre></details>
</section>`)
  }
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Hybrid bench — ${escape(results.date)}</title>
<style>${style}</style>
</head>
<body>
<h1>Hybrid bench</h1>
<p>${escape(results.reports.map((r) => r.scenario).join(", "))}${results.quick ? " (quick run)" : ""}, ${escape(results.date)}, ${(results.durationMs / 1000).toFixed(0)} s</p>
<dl class="machine">
<dt>cores</dt><dd>${m.cores}</dd>
<dt>CPU</dt><dd>${escape(m.cpu)}</dd>
<dt>Node</dt><dd>${escape(m.node)}</dd>
<dt>platform</dt><dd>${escape(m.platform)}, ${m.memoryGiB} GiB</dd>
<dt>Python</dt><dd>${escape(m.python ?? "not found (asyncio peer skipped)")}</dd>
</dl>
${sections.join("\n")}
</body>
</html>
`
})
