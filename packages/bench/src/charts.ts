/**
 * The charts of the HTML report, as Vega-Lite specs built from a scenario's rows — the
 * same rows the terminal table prints — and rendered to SVG by Vega's Node API
 * (`vega-lite`'s `compile`, then a headless `vega.View`). No hand-drawn SVG.
 *
 * Every point is a figure's median with an error bar from its min to its max over the
 * repetitions (layers named `values` and `errorbars`, so a test can count both). A
 * point that cannot be drawn (a flagged figure, a value a log scale cannot show) is left
 * out and the caption says which and why. Lines tell variants apart by colour and by
 * dash and point shape; an ideal or a bound is drawn where one exists.
 *
 * | scenario     | charts                                                              |
 * |--------------|---------------------------------------------------------------------|
 * | `io-fanout`  | overhead per task vs N; heap and RSS per pending task vs N (log)    |
 * | `cpu`        | speed-up per variant with the ideal (= cores) line; tiny tasks/s   |
 * | `resilience` | success rate, requests sent, p50/p99 latency                        |
 * | any other    | wall time against the bound when the report has one; else a bar chart per figure column |
 * | baseline     | the change of every figure against the baseline, with its interval |
 *
 * @since 0.1.0
 */
import * as vega from "vega"
import { compile, type TopLevelSpec } from "vega-lite"
import type { Change } from "./baseline.ts"
import { isMachineLimited } from "./Control.ts"
import type { SummaryCell } from "./Results.ts"
import type { Row, ScenarioReport } from "./Scenario.ts"
import { columnsOf } from "./table.ts"

/**
 * @since 0.1.0
 * @category models
 */
export interface Chart {
  readonly id: string
  readonly title: string
  /** What the chart shows, what it leaves out and why. */
  readonly caption: string
  readonly spec: TopLevelSpec
}

const WIDTH = 560
const HEIGHT = 280
const schema = "https://vega.github.io/schema/vega-lite/v6.json"
const BARS = "Error bars: min–max over the repetitions."

const figureOf = (row: Row, column: string): SummaryCell | undefined => {
  const value = row[column]
  return typeof value === "object" && value !== null ? value : undefined
}

const num = (row: Row, column: string): number | undefined => {
  const value = row[column]
  if (typeof value === "number") return Number.isFinite(value) ? value : undefined
  return undefined
}

const str = (row: Row, column: string): string => String(row[column] ?? "")

/** A drawable point: the median with its min–max, or why it is left out. */
type Point = { readonly median: number; readonly min: number; readonly max: number; readonly repetitions: number }
const drawable = (cell: Row[string] | undefined, log: boolean): Point | string => {
  if (typeof cell === "number") return "a single run, no spread to draw"
  const fig = typeof cell === "object" && cell !== null ? cell : undefined
  if (fig === undefined) return "not measured"
  if (fig.flag !== undefined) return fig.flag
  if (![fig.median, fig.min, fig.max].every(Number.isFinite)) return "not a finite number"
  if (log && fig.median <= 0) return "≤ 0, not drawable on a log scale"
  return { median: fig.median, min: log ? Math.max(fig.min, fig.median / 1e3) : fig.min, max: fig.max, repetitions: fig.n }
}

const leftOut = (omitted: ReadonlyArray<string>) => omitted.length === 0 ? "" : ` Left out: ${omitted.join("; ")}.`

const machineCaption = (report: ScenarioReport) =>
  isMachineLimited(report.control)
    ? ` Machine-limited: the raw worker_threads control delivered ${report.control!.median.toFixed(2)} cores (< 1.5), so these parallel figures measure the machine, not the pools.`
    : report.control === undefined
    ? ""
    : ` The raw worker_threads control delivered ${report.control.median.toFixed(2)} cores [${report.control.min.toFixed(2)}–${report.control.max.toFixed(2)}].`

// --- lines over N (io-fanout) ------------------------------------------------------------

const linesVsN = (
  report: ScenarioReport,
  options: { readonly column: string; readonly id: string; readonly title: string; readonly axis: string; readonly caption: string }
): Chart | undefined => {
  const omitted: Array<string> = []
  const values = report.rows.flatMap((row) => {
    const n = num(row, "n")
    if (n === undefined || !(options.column in row)) return []
    const point = drawable(row[options.column], true)
    if (typeof point === "string") {
      if (row[options.column] !== "") omitted.push(`${str(row, "variant")} at N = ${n.toLocaleString("en-US")} (${point})`)
      return []
    }
    return [{ n, variant: str(row, "variant"), ...point }]
  })
  if (values.length === 0) return undefined
  const x = { field: "n", type: "quantitative", title: "N concurrent tasks", scale: { type: "log" }, axis: { format: "~s" } } as const
  const y = { field: "median", type: "quantitative", title: options.axis, scale: { type: "log" } } as const
  const variant = { field: "variant", type: "nominal", title: null, legend: { orient: "bottom", columns: 2, labelLimit: 320 } } as const
  return {
    id: options.id,
    title: options.title,
    caption: `${options.caption} ${BARS}${leftOut(omitted)}`,
    spec: {
      $schema: schema,
      width: WIDTH,
      height: HEIGHT,
      data: { values },
      encoding: { x, color: variant },
      layer: [
        { mark: { type: "line" }, encoding: { y, strokeDash: variant } },
        { name: "values", mark: { type: "point", filled: true, size: 50 }, encoding: { y, shape: variant } },
        { name: "errorbars", mark: { type: "rule", strokeWidth: 1.5 }, encoding: { y: { ...y, field: "min" }, y2: { field: "max" } } }
      ]
    }
  }
}

const ioFanoutCharts = (report: ScenarioReport): ReadonlyArray<Chart | undefined> => [
  linesVsN(report, {
    column: "overhead µs/task",
    id: "io-fanout-overhead",
    title: "Overhead per task vs N",
    axis: "overhead per task (µs, log)",
    caption: "(wall − the ideal wait) / N for each variant; both axes log-scaled."
  }),
  linesVsN(report, {
    column: "heap B/task",
    id: "io-fanout-heap",
    title: "JS heap per pending task vs N (Node)",
    axis: "heap per task (bytes, log)",
    caption: "Growth of V8's heapUsed per pending task, sampled half-way through the wait: the memory figure that means something at small N."
  }),
  linesVsN(report, {
    column: "RSS B/task",
    id: "io-fanout-memory",
    title: "Resident memory per pending task vs N",
    axis: "resident memory per task (bytes, log)",
    caption: "Growth of the process's resident set per pending task, the one memory measure Node and Python share. " +
      "RSS moves in whole pages, so a growth below the page-granularity threshold is flagged and not drawn."
  })
]

// --- horizontal bars with error bars (cpu, resilience, generic) ----------------------------

const bars = (
  report: ScenarioReport,
  options: {
    readonly column: string
    readonly id: string
    readonly title: string
    readonly axis: string
    readonly caption: string
    readonly domain?: readonly [number, number] | undefined
    readonly ideal?: { readonly value: number; readonly label: string } | undefined
  }
): Chart | undefined => {
  const omitted: Array<string> = []
  const values = report.rows.flatMap((row) => {
    // an empty or a text cell (a reference, a label) is not a point
    if (!(options.column in row) || typeof row[options.column] === "string") return []
    const point = drawable(row[options.column], false)
    if (typeof point === "string") {
      omitted.push(`${str(row, "variant")} (${point})`)
      return []
    }
    return [{ variant: str(row, "variant"), ...point }]
  })
  if (values.length === 0) return undefined
  const y = { field: "variant", type: "nominal", title: null, sort: null, axis: { labelLimit: 420 } } as const
  const top = Math.max(options.ideal?.value ?? 0, ...values.map((v) => v.max)) * 1.08
  const x = {
    field: "median",
    type: "quantitative",
    title: options.axis,
    scale: options.domain === undefined ? { domainMin: Math.min(0, ...values.map((v) => v.min)), domainMax: top } : { domain: [...options.domain] }
  } as const
  const ideal = options.ideal
  return {
    id: options.id,
    title: options.title,
    caption: `${options.caption} ${BARS}${leftOut(omitted)}`,
    spec: {
      $schema: schema,
      width: WIDTH,
      height: Math.max(HEIGHT / 2, values.length * 32),
      layer: [
        { data: { values }, name: "values", mark: { type: "bar", color: "#6baed6" }, encoding: { y, x } },
        {
          data: { values },
          name: "errorbars",
          mark: { type: "rule", strokeWidth: 2, color: "#08306b" },
          encoding: { y, x: { ...x, field: "min" }, x2: { field: "max" } }
        },
        {
          data: { values },
          mark: { type: "text", align: "left", dx: 4, dy: -8, fontSize: 10, color: "#333" },
          encoding: { y, x: { field: "max", type: "quantitative" }, text: { field: "median", type: "quantitative", format: top < 1000 ? ".3~r" : ".3~s" } }
        },
        ...(ideal === undefined ? [] : [
          {
            data: { values: [ideal] },
            mark: { type: "rule" as const, strokeDash: [6, 4], color: "#d62728", strokeWidth: 2 },
            encoding: { x: { field: "value", type: "quantitative" as const } }
          },
          {
            data: { values: [ideal] },
            mark: { type: "text" as const, align: "right" as const, dx: -4, dy: -6, color: "#d62728", baseline: "top" as const },
            encoding: { x: { field: "value", type: "quantitative" as const }, y: { value: 0 }, text: { field: "label" } }
          }
        ])
      ]
    }
  }
}

const cpuCharts = (report: ScenarioReport, cores: number): ReadonlyArray<Chart | undefined> => {
  const ideal = report.figures.cores?.median ?? cores
  return [
    bars(report, {
      column: "speedup",
      id: "cpu-speedup",
      title: "Speed-up vs sequential, against the ideal (= cores)",
      axis: "speed-up (×)",
      caption: `Each variant's speed-up over one thread, paired per repetition, with a pool of ${ideal} workers; the dashed line is the ideal, ×${ideal} on this ${ideal}-core machine.` +
        machineCaption(report),
      ideal: { value: ideal, label: `ideal ×${ideal}` }
    }),
    bars(report, {
      column: "tiny tasks/s",
      id: "cpu-throughput",
      title: "Tiny-task throughput",
      axis: "tasks per second",
      caption: "Calls returning n + 1, all submitted at once: what each pool costs per call when the work itself is nothing." + machineCaption(report)
    })
  ]
}

const resilienceCharts = (report: ScenarioReport): ReadonlyArray<Chart | undefined> => [
  bars(report, {
    column: "success %",
    id: "resilience-success",
    title: "Calls that succeeded",
    axis: "success (%)",
    caption: "Share of the calls that ended in a 200, whatever the retries and waits it took.",
    domain: [0, 100]
  }),
  bars(report, {
    column: "requests sent",
    id: "resilience-requests",
    title: "Requests the service received",
    axis: "requests",
    caption: "Every request that reached the service, retries included (the table gives the 429s among them)."
  }),
  bars(report, {
    column: "p50 ms",
    id: "resilience-p50",
    title: "Median latency of the successful calls",
    axis: "p50 (ms)",
    caption: "p50 within each repetition, from arrival to the answer, retries and Retry-After waits included."
  }),
  bars(report, {
    column: "p99 ms",
    id: "resilience-p99",
    title: "p99 latency of the successful calls",
    axis: "p99 (ms)",
    caption: "p99 within each repetition, from arrival to the answer, retries and Retry-After waits included."
  })
]

// --- wall time against a bound (pipeline, agent) ------------------------------------------

/**
 * Bars of each variant's wall time with a tick at its bound: `bound ms` from the row, else
 * the report's `boundMs` figure. Rows naming the bound itself are left out (the tick is it).
 */
const boundChart = (report: ScenarioReport): Chart | undefined => {
  const bound = report.figures.boundMs?.median
  const omitted: Array<string> = []
  const values = report.rows.flatMap((row) => {
    const variant = str(row, "variant")
    if (/\bbound\b/.test(variant) || !("wall ms" in row)) return []
    const point = drawable(row["wall ms"], false)
    const rowBound = figureOf(row, "bound ms")?.median ?? num(row, "bound ms") ?? bound
    if (typeof point === "string" || rowBound === undefined) {
      omitted.push(`${variant} (${typeof point === "string" ? point : "no bound"})`)
      return []
    }
    return [{ variant, ...point, bound: rowBound }]
  })
  if (values.length === 0) return undefined
  const y = { field: "variant", type: "nominal", title: null, sort: null, axis: { labelLimit: 420 } } as const
  const x = { field: "median", type: "quantitative", title: "wall time (ms)" } as const
  return {
    id: `${report.scenario}-bound`,
    title: "Wall time against the critical-path bound",
    caption: "Bars: measured wall time. Red ticks: the bound no schedule can beat, max(Σ I/O / concurrency, Σ CPU / cores), " +
      `computed for each variant's own run (the Python peer measures its own CPU time). ${BARS}${leftOut(omitted)}${machineCaption(report)}`,
    spec: {
      $schema: schema,
      width: WIDTH,
      height: Math.max(HEIGHT / 2, values.length * 36),
      data: { values },
      layer: [
        { name: "values", mark: { type: "bar", color: "#6baed6" }, encoding: { y, x } },
        { name: "errorbars", mark: { type: "rule", strokeWidth: 2, color: "#08306b" }, encoding: { y, x: { ...x, field: "min" }, x2: { field: "max" } } },
        { mark: { type: "tick", color: "#d62728", thickness: 3, size: 28 }, encoding: { y, x: { field: "bound", type: "quantitative" } } },
        {
          mark: { type: "text", align: "left", dx: 4, dy: -8, fontSize: 10 },
          encoding: { y, x: { field: "max", type: "quantitative" }, text: { field: "median", type: "quantitative", format: ".0f" } }
        }
      ]
    }
  }
}

/** Any other scenario: one bar chart per column that holds figures (at most four). */
const genericCharts = (report: ScenarioReport): ReadonlyArray<Chart | undefined> =>
  columnsOf(report.rows)
    .filter((column) => report.rows.some((row) => figureOf(row, column) !== undefined))
    .slice(0, 4)
    .map((column) =>
      bars(report, {
        column,
        id: `${report.scenario}-${column.replace(/[^a-z0-9]+/gi, "-").toLowerCase()}`,
        title: column,
        axis: column,
        caption: `${column} per variant.${machineCaption(report)}`
      })
    )

/**
 * The charts for one scenario's report.
 *
 * @since 0.1.0
 * @category constructors
 */
export const chartsFor = (report: ScenarioReport, machine: { readonly cores: number }): ReadonlyArray<Chart> => {
  const charts = report.scenario === "io-fanout"
    ? ioFanoutCharts(report)
    : report.scenario === "cpu"
    ? cpuCharts(report, machine.cores)
    : report.scenario === "resilience"
    ? resilienceCharts(report)
    : boundChart(report) !== undefined
    ? [boundChart(report)]
    : genericCharts(report)
  return charts.filter((chart): chart is Chart => chart !== undefined)
}

/**
 * The change of every figure of one scenario against the baseline: a point at the
 * change of the median, its error bar from the two intervals, coloured by verdict.
 *
 * @since 0.1.0
 * @category constructors
 */
export const baselineChart = (scenario: string, changes: ReadonlyArray<Change>): Chart | undefined => {
  const omitted: Array<string> = []
  const values = changes.flatMap((c) => {
    if (![c.change, c.changeLow, c.changeHigh].every(Number.isFinite)) {
      omitted.push(`${c.key} (not a finite change)`)
      return []
    }
    return [{ key: c.key, verdict: c.verdict, median: c.change * 100, min: c.changeLow * 100, max: c.changeHigh * 100 }]
  })
  if (values.length === 0) return undefined
  const y = { field: "key", type: "nominal", title: null, sort: null, axis: { labelLimit: 300 } } as const
  const x = { field: "median", type: "quantitative", title: "change against the baseline (%)" } as const
  const color = {
    field: "verdict",
    type: "nominal",
    title: null,
    legend: { orient: "bottom" },
    scale: {
      domain: ["better", "worse", "higher", "lower", "within noise", "machine-limited", "single sample"],
      range: ["#2ca02c", "#d62728", "#ff7f0e", "#1f77b4", "#999999", "#bcbd22", "#cccccc"]
    }
  } as const
  return {
    id: `${scenario}-baseline`,
    title: "Change against the baseline",
    caption: "Each figure's new median against the baseline's (0 = no change); the error bar spans the change the two 95 % intervals allow. " +
      `A change is real only when the intervals do not overlap; otherwise it is within noise.${leftOut(omitted)}`,
    spec: {
      $schema: schema,
      width: WIDTH,
      height: Math.max(HEIGHT / 2, values.length * 14),
      data: { values },
      layer: [
        { data: { values: [{ zero: 0 }] }, mark: { type: "rule", color: "#333" }, encoding: { x: { field: "zero", type: "quantitative" } } },
        { name: "errorbars", mark: { type: "rule", strokeWidth: 2 }, encoding: { y, color, x: { ...x, field: "min" }, x2: { field: "max" } } },
        { name: "values", mark: { type: "point", filled: true, size: 40 }, encoding: { y, color, x, shape: { field: "verdict", type: "nominal" } } }
      ]
    }
  }
}

/**
 * Compiles a chart with Vega-Lite and renders it to an SVG string with Vega's headless
 * view (no canvas, no browser).
 *
 * @since 0.1.0
 * @category rendering
 */
export const toSvg = async (chart: Chart): Promise<string> => {
  const view = new vega.View(vega.parse(compile(chart.spec).spec), { renderer: "none" })
  try {
    return await view.toSVG()
  } finally {
    view.finalize()
  }
}
