/**
 * What a bench run produces as a page: one self-contained HTML document with the run
 * facts first (machine, versions, commit, load), then per scenario its load before and
 * after, the raw worker_threads control beside the parallel figures (and the
 * machine-limited warning below 1.5 cores), its charts (inline SVG from `charts.ts`, an
 * error bar on every point), its table (median with min–max and the 95 % interval) and
 * its notes; with a baseline, the change of every figure. Every figure comes from the
 * run's document; nothing here types in a number.
 *
 * @since 0.1.0
 */
import { Effect, Schema } from "effect"
import type { Change } from "./baseline.ts"
import { baselineChart, type Chart, chartsFor, toSvg } from "./charts.ts"
import { isMachineLimited, MACHINE_LIMITED } from "./Control.ts"
import type { Cell, Results, RunFacts, ScenarioResult } from "./Results.ts"
import { columnsOf, formatNumber } from "./table.ts"

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

const escape = (text: string) =>
  text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", "\"": "&quot;", "'": "&#39;" })[c]!)

const htmlCell = (cell: Cell | undefined): string => {
  if (cell === undefined) return "<td></td>"
  if (typeof cell === "string") return `<td>${escape(cell)}</td>`
  if (typeof cell === "number") return `<td class="num">${escape(formatNumber(cell))}</td>`
  const spread = cell.flag === undefined
    ? `min–max ${formatNumber(cell.min)}–${formatNumber(cell.max)}, 95% CI ${formatNumber(cell.low)}–${formatNumber(cell.high)}, n = ${cell.n}`
    : cell.flag
  const classes = `num figure${cell.flag === undefined ? "" : " flagged"}${cell.parallel === true ? " parallel" : ""}`
  const title = cell.parallel === true ? ` title="a parallel figure: read it beside the raw worker_threads control"` : ""
  return `<td class="${classes}"${title}>${escape(formatNumber(cell.median))}` +
    `<span class="spread">${escape(spread)}</span></td>`
}

const htmlTable = (report: ScenarioResult): string => {
  const columns = columnsOf(report.rows)
  const head = columns.map((c) => `<th>${escape(c)}</th>`).join("")
  const body = report.rows.map((row) => `<tr>${columns.map((c) => htmlCell(row[c])).join("")}</tr>`).join("\n")
  return `<table><thead><tr>${head}</tr></thead><tbody>\n${body}\n</tbody></table>`
}

const style = `
  body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto; max-width: 1020px; padding: 0 1rem; color: #222; }
  h1 { margin-bottom: 0.2rem; }
  dl.facts { background: #f4f6f8; border-radius: 6px; padding: 0.6rem 1rem; }
  dl.facts dt { font-weight: 600; float: left; clear: left; width: 8rem; }
  dl.facts dd { margin-left: 8.5rem; }
  section { margin-top: 2.5rem; border-top: 1px solid #ddd; }
  .warning { background: #fff3cd; border-left: 4px solid #d39e00; padding: 0.5rem 1rem; }
  figure { margin: 1.5rem 0; }
  figcaption { color: #555; font-size: 0.9rem; max-width: 760px; }
  figure svg { max-width: 100%; height: auto; }
  table { border-collapse: collapse; margin: 1rem 0; font-size: 0.9rem; }
  th, td { border-bottom: 1px solid #e3e3e3; padding: 0.25rem 0.6rem; text-align: left; vertical-align: top; }
  td.num { text-align: right; font-variant-numeric: tabular-nums; }
  td .spread { display: block; color: #777; font-size: 0.75rem; white-space: nowrap; }
  td.flagged { color: #999; }
  section.machine-limited td.parallel { background: #fff3cd; }
  ul.notes { color: #444; font-size: 0.9rem; }
  details pre { background: #f7f7f7; padding: 0.5rem; overflow-x: auto; font-size: 0.8rem; }
`

const factsList = (f: RunFacts, durationMs: number) => {
  const items: Array<readonly [string, string, string]> = [
    ["date", "run", `${f.date}, ${f.quick ? "quick run" : "full run"}, ${f.repetitions} interleaved repetitions, ${(durationMs / 1000).toFixed(0)} s`],
    ["cpu", "CPU", `${f.cpu}, ${f.cores} cores, ${f.memoryGiB} GiB, ${f.platform}`],
    ["node", "Node", f.node],
    ["python", "Python", f.python ?? "not found (asyncio peer skipped)"],
    ["packages", "packages", Object.entries(f.packages).map(([name, version]) => `${name} ${version}`).join(", ")],
    ["commit", "commit", f.git === undefined ? "not a git checkout" : `${f.git.commit}${f.git.dirty ? " (dirty)" : ""}`],
    ["load", "load average", `${f.loadBefore.join(" ")} before, ${f.loadAfter.join(" ")} after (1, 5, 15 min)`]
  ]
  return `<dl class="facts">\n${items.map(([id, label, value]) => `<dt>${escape(label)}</dt><dd data-fact="${id}">${escape(value)}</dd>`).join("\n")}\n</dl>`
}

const controlLine = (report: ScenarioResult, cores: number) => {
  const c = report.control
  if (c === undefined) return ""
  const text = `raw worker_threads control: ${c.median.toFixed(2)} cores delivered of ${cores} [${c.min.toFixed(2)}–${c.max.toFixed(2)}, n = ${c.n}]`
  return isMachineLimited(c)
    ? `<p class="warning control" data-machine-limited="true">Machine-limited: ${escape(text)} — fewer than ${MACHINE_LIMITED}, so this scenario's parallel figures measure the machine, not the pools; no conclusion is drawn from them.</p>`
    : `<p class="control">${escape(text)}</p>`
}

const figureHtml = (chart: Chart) =>
  Effect.tryPromise({ try: () => toSvg(chart), catch: (cause) => new ChartError({ chart: chart.id, cause }) }).pipe(
    Effect.map((svg) =>
      `<figure class="chart" data-chart="${escape(chart.id)}"><h3>${escape(chart.title)}</h3>\n${svg}\n` +
      `<figcaption>${escape(chart.caption)}</figcaption></figure>`
    )
  )

const changesTable = (changes: ReadonlyArray<Change>) => {
  const pct = (x: number) => `${x >= 0 ? "+" : ""}${(x * 100).toFixed(1)}%`
  const rows = changes.map((c) =>
    `<tr class="change ${c.verdict.replace(/\s/g, "-")}"><td>${escape(c.key)}</td><td class="num">${escape(formatNumber(c.before.median))}</td>` +
    `<td class="num">${escape(formatNumber(c.after.median))}</td><td class="num">${escape(pct(c.change))}</td>` +
    `<td class="num">${escape(`${pct(c.changeLow)} … ${pct(c.changeHigh)}`)}</td><td>${escape(c.verdict)}</td></tr>`
  ).join("\n")
  return `<table class="baseline"><thead><tr><th>figure</th><th>baseline</th><th>now</th><th>change</th><th>interval</th><th>verdict</th></tr></thead><tbody>\n${rows}\n</tbody></table>`
}

/**
 * The whole report as one self-contained HTML page.
 *
 * @since 0.1.0
 * @category rendering
 */
export const html = Effect.fn("report.html")(function*(results: Results, changes: ReadonlyArray<Change> = []) {
  const f = results.facts
  const sections: Array<string> = []
  for (const report of results.reports) {
    const figures: Array<string> = []
    for (const chart of chartsFor(report, f)) figures.push(yield* figureHtml(chart))
    const mine = changes.filter((c) => c.scenario === report.scenario)
    const changeChart = baselineChart(report.scenario, mine)
    const baseline = changeChart === undefined
      ? ""
      : `<h3>Against the baseline</h3>\n${yield* figureHtml(changeChart)}\n${changesTable(mine)}`
    sections.push(`<section id="${escape(report.scenario)}"${isMachineLimited(report.control) ? ` class="machine-limited"` : ""}>
<h2>${escape(report.scenario)}</h2>
<p>${escape(report.description)}</p>
<p class="duration">ran in ${(report.durationMs / 1000).toFixed(1)} s; load average ${escape(report.loadBefore.join(" "))} before, ${escape(report.loadAfter.join(" "))} after</p>
${controlLine(report, f.cores)}
${figures.join("\n")}
${htmlTable(report)}
<ul class="notes">${report.notes.map((note) => `<li>${escape(note)}</li>`).join("")}</ul>
${baseline}
<details><summary>raw samples</summary><pre>${escape(JSON.stringify(Object.fromEntries(Object.entries(report.figures).map(([k, v]) => [k, v.samples])), null, 1))}</pre></details>
</section>`)
  }
  const against = results.baseline === undefined
    ? ""
    : `<p class="baseline-of">compared with ${escape(results.baseline.path)} (${escape(results.baseline.date)}${results.baseline.commit === undefined ? "" : `, ${escape(results.baseline.commit.slice(0, 12))}`})</p>`
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Hybrid bench — ${escape(f.date)}</title>
<style>${style}</style>
</head>
<body>
<h1>Hybrid bench</h1>
<p>${escape(results.reports.map((r) => r.scenario).join(", "))}${f.quick ? " (quick run)" : ""}. Every figure: the median of its repetitions, with min–max and a 95 % bootstrap interval of the median.</p>
${factsList(f, results.durationMs)}
${against}
${sections.join("\n")}
</body>
</html>
`
})
