/**
 * The charts of the HTML report, as Vega-Lite specs built from a scenario's report — the
 * same rows the terminal table prints — and rendered to SVG by Vega's Node API
 * (`vega-lite`'s `compile`, then a headless `vega.View`). No hand-drawn SVG.
 *
 * | scenario     | charts                                                              |
 * |--------------|---------------------------------------------------------------------|
 * | `io-fanout`  | overhead per task vs N and memory per task vs N (log scales)       |
 * | `cpu`        | speed-up per variant with the ideal (= cores) line; tiny tasks/s   |
 * | `resilience` | success rate, requests sent (429s marked), p50/p99 latency          |
 * | any other    | wall time against the bound, when the report has one (`pipeline`, and `agent` once it reports `boundMs`) |
 *
 * A chart only appears when its data is there, so a report from an older or a partial
 * run still renders.
 *
 * @since 0.1.0
 */
import * as vega from "vega"
import { compile, type TopLevelSpec } from "vega-lite"
import type { Row, ScenarioReport } from "./Scenario.ts"

/**
 * @since 0.1.0
 * @category models
 */
export interface Chart {
  readonly id: string
  readonly title: string
  /** What the chart shows and what it does not, in one or two sentences. */
  readonly caption: string
  readonly spec: TopLevelSpec
}

const WIDTH = 560
const HEIGHT = 280
const schema = "https://vega.github.io/schema/vega-lite/v6.json"

const num = (row: Row, column: string): number | undefined => {
  const value = row[column]
  return typeof value === "number" && Number.isFinite(value) ? value : undefined
}

const str = (row: Row, column: string): string => String(row[column] ?? "")

// --- io-fanout ---------------------------------------------------------------------------

const perTaskVsN = (report: ScenarioReport, column: string, id: string, title: string, axis: string, caption: string): Chart | undefined => {
  const values = report.rows.flatMap((row) => {
    const n = num(row, "n")
    const y = num(row, column)
    return n === undefined || y === undefined || y <= 0 ? [] : [{ n, variant: str(row, "variant"), y }]
  })
  if (values.length === 0) return undefined
  return {
    id,
    title,
    caption,
    spec: {
      $schema: schema,
      width: WIDTH,
      height: HEIGHT,
      data: { values },
      mark: { type: "line", point: true },
      encoding: {
        x: { field: "n", type: "quantitative", title: "N concurrent tasks", scale: { type: "log" }, axis: { format: "~s" } },
        y: { field: "y", type: "quantitative", title: axis, scale: { type: "log" } },
        color: { field: "variant", type: "nominal", title: null, legend: { orient: "bottom", columns: 2, labelLimit: 320 } }
      }
    }
  }
}

const ioFanoutCharts = (report: ScenarioReport): ReadonlyArray<Chart | undefined> => [
  perTaskVsN(
    report,
    "overhead µs/task",
    "io-fanout-overhead",
    "Overhead per task vs N",
    "overhead per task (µs, log)",
    "(wall − 1 s) / N for each variant; both axes log-scaled. Points at or below zero overhead cannot be drawn on a log scale and are left out."
  ),
  perTaskVsN(
    report,
    "RSS B/task",
    "io-fanout-memory",
    "Memory per pending task vs N",
    "resident memory per task (bytes, log)",
    "Growth of the process's resident set per pending task, sampled half-way through the wait — the one memory measure Node and Python share."
  )
]

// --- cpu -----------------------------------------------------------------------------------

const cpuCharts = (report: ScenarioReport, cores: number): ReadonlyArray<Chart | undefined> => {
  const speedups = report.rows.flatMap((row) => {
    const speedup = num(row, "speedup")
    return speedup === undefined ? [] : [{ variant: str(row, "variant"), speedup }]
  })
  const ideal = report.figures.cores ?? cores
  const throughput = report.rows.flatMap((row) => {
    const rate = num(row, "tiny tasks/s")
    return rate === undefined ? [] : [{ variant: str(row, "variant"), rate }]
  })
  return [
    speedups.length === 0 ? undefined : {
      id: "cpu-speedup",
      title: "Speed-up vs sequential, against the ideal (= cores)",
      caption: `Each variant's speed-up over one thread with a pool of ${ideal} workers; the dashed line is the ideal, ×${ideal} on this ${ideal}-core machine. ` +
        "The cpu scenario measures each pool at one size (= cores), so this is one point per variant, not a curve over worker counts.",
      spec: {
        $schema: schema,
        width: WIDTH,
        height: HEIGHT,
        layer: [
          {
            data: { values: speedups },
            mark: { type: "bar" },
            encoding: {
              y: { field: "variant", type: "nominal", title: null, sort: null, axis: { labelLimit: 420 } },
              x: { field: "speedup", type: "quantitative", title: "speed-up (×)", scale: { domainMin: 0, domainMax: Math.max(ideal, ...speedups.map((s) => s.speedup)) * 1.05 } }
            }
          },
          {
            data: { values: [{ ideal, label: `ideal ×${ideal}` }] },
            mark: { type: "rule", strokeDash: [6, 4], color: "#d62728", strokeWidth: 2 },
            encoding: { x: { field: "ideal", type: "quantitative" } }
          },
          {
            data: { values: [{ ideal, label: `ideal ×${ideal}` }] },
            mark: { type: "text", align: "right", dx: -4, dy: -6, color: "#d62728", baseline: "top" },
            encoding: { x: { field: "ideal", type: "quantitative" }, y: { value: 0 }, text: { field: "label" } }
          }
        ]
      }
    },
    throughput.length === 0 ? undefined : {
      id: "cpu-throughput",
      title: "Tiny-task throughput",
      caption: "Calls returning n + 1, all submitted at once: what each pool costs per call when the work itself is nothing.",
      spec: {
        $schema: schema,
        width: WIDTH,
        height: HEIGHT,
        data: { values: throughput },
        mark: { type: "bar" },
        encoding: {
          y: { field: "variant", type: "nominal", title: null, sort: null, axis: { labelLimit: 420 } },
          x: { field: "rate", type: "quantitative", title: "tasks per second" }
        }
      }
    }
  ]
}

// --- resilience ---------------------------------------------------------------------------

const resilienceCharts = (report: ScenarioReport): ReadonlyArray<Chart | undefined> => {
  const rows = report.rows.filter((row) => num(row, "success %") !== undefined)
  if (rows.length === 0) return []
  const variantAxis = { field: "variant", type: "nominal", title: null, sort: null, axis: { labelLimit: 420 } } as const
  return [
    {
      id: "resilience-success",
      title: "Calls that succeeded",
      caption: "Share of the calls that ended in a 200, whatever the retries and waits it took.",
      spec: {
        $schema: schema,
        width: WIDTH,
        height: HEIGHT / 2,
        data: { values: rows.map((row) => ({ variant: str(row, "variant"), success: num(row, "success %") })) },
        layer: [
          {
            mark: { type: "bar" },
            encoding: { y: variantAxis, x: { field: "success", type: "quantitative", title: "success (%)", scale: { domain: [0, 100] } } }
          },
          {
            mark: { type: "text", align: "left", dx: 4 },
            encoding: { y: variantAxis, x: { field: "success", type: "quantitative" }, text: { field: "success", type: "quantitative", format: ".1f" } }
          }
        ]
      }
    },
    {
      id: "resilience-requests",
      title: "Requests the service received",
      caption: "Every request that reached the service, retries included; the red part is the requests it answered with 429 (rate limited).",
      spec: {
        $schema: schema,
        width: WIDTH,
        height: HEIGHT / 2,
        data: {
          values: rows.flatMap((row) => {
            const total = num(row, "requests sent") ?? 0
            const limited = num(row, "429s") ?? 0
            return [
              { variant: str(row, "variant"), answer: "429 (rate limited)", requests: limited },
              { variant: str(row, "variant"), answer: "other answers", requests: total - limited }
            ]
          })
        },
        mark: { type: "bar" },
        encoding: {
          y: variantAxis,
          x: { field: "requests", type: "quantitative", title: "requests", stack: "zero" },
          color: { field: "answer", type: "nominal", title: null, legend: { orient: "bottom" }, scale: { range: ["#d62728", "#9ecae1"] } },
          order: { field: "answer", sort: "ascending" }
        }
      }
    },
    {
      id: "resilience-latency",
      title: "Latency of the successful calls",
      caption: "p50 and p99 from arrival to the answer, retries and Retry-After waits included.",
      spec: {
        $schema: schema,
        width: WIDTH,
        height: HEIGHT,
        data: {
          values: rows.flatMap((row) => [
            { variant: str(row, "variant"), percentile: "p50", ms: num(row, "p50 ms") ?? 0 },
            { variant: str(row, "variant"), percentile: "p99", ms: num(row, "p99 ms") ?? 0 }
          ])
        },
        encoding: {
          y: variantAxis,
          yOffset: { field: "percentile", type: "nominal" },
          x: { field: "ms", type: "quantitative", title: "milliseconds" },
          color: { field: "percentile", type: "nominal", title: null, legend: { orient: "bottom" } }
        },
        layer: [
          { mark: { type: "bar" } },
          { mark: { type: "text", align: "left", dx: 4, color: "#333" }, encoding: { text: { field: "ms", type: "quantitative", format: ".0f" } } }
        ]
      }
    }
  ]
}

// --- wall time against a bound (pipeline, agent) ------------------------------------------

/**
 * Bars of each variant's wall time with a tick at its bound: `bound ms` from the row, else
 * the report's `boundMs` figure. Rows naming the bound itself are left out.
 */
const boundChart = (report: ScenarioReport): Chart | undefined => {
  const bound = report.figures.boundMs
  const values = report.rows.flatMap((row) => {
    const wall = num(row, "wall ms")
    const variant = str(row, "variant")
    const rowBound = num(row, "bound ms") ?? bound
    return wall === undefined || rowBound === undefined || /\bbound\b/.test(variant) ? [] : [{ variant, wall, bound: rowBound }]
  })
  if (values.length === 0) return undefined
  const y = { field: "variant", type: "nominal", title: null, sort: null, axis: { labelLimit: 420 } } as const
  return {
    id: `${report.scenario}-bound`,
    title: "Wall time against the critical-path bound",
    caption: "Bars: measured wall time. Red ticks: the bound no schedule can beat, max(Σ I/O / concurrency, Σ CPU / cores), " +
      "computed for each variant's own run (the Python peer measures its own CPU time).",
    spec: {
      $schema: schema,
      width: WIDTH,
      height: Math.max(HEIGHT / 2, values.length * 36),
      data: { values },
      layer: [
        { mark: { type: "bar" }, encoding: { y, x: { field: "wall", type: "quantitative", title: "wall time (ms)" } } },
        {
          mark: { type: "tick", color: "#d62728", thickness: 3, size: 28 },
          encoding: { y, x: { field: "bound", type: "quantitative" } }
        },
        {
          mark: { type: "text", align: "left", dx: 4 },
          encoding: { y, x: { field: "wall", type: "quantitative" }, text: { field: "wall", type: "quantitative", format: ".0f" } }
        }
      ]
    }
  }
}

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
    : [boundChart(report)]
  return charts.filter((chart): chart is Chart => chart !== undefined)
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
