/**
 * A run as Markdown (`--markdown out.md`): the run facts, then per scenario its load,
 * its control, its table — every figure as `median [min–max]` — and its notes. What the
 * README's Benchmarks section is pasted from, so every number there comes from a run.
 *
 * @example
 * ```ts
 * import * as Markdown from "./markdown.ts"
 * import type { Results } from "./Results.ts"
 *
 * declare const results: Results
 * console.log(Markdown.render(results))
 * ```
 *
 * @since 0.1.0
 */
import { isMachineLimited, MACHINE_LIMITED } from "./Control.ts"
import type { Results, ScenarioResult } from "./Results.ts"
import { columnsOf, formatCell } from "./table.ts"

const cell = (text: string) => text.replace(/\|/g, "\\|")

const scenario = (r: ScenarioResult, cores: number): string => {
  const columns = columnsOf(r.rows)
  const lines = [
    `### ${r.scenario} — ${r.description}`,
    "",
    `Ran in ${(r.durationMs / 1000).toFixed(1)} s; load average ${r.loadBefore.join(" ")} before, ${r.loadAfter.join(" ")} after.`
  ]
  if (r.control !== undefined) {
    const c = r.control
    lines.push(
      `Raw worker_threads control: ${c.median.toFixed(2)} cores delivered of ${cores} [${c.min.toFixed(2)}–${c.max.toFixed(2)}, n = ${c.n}]` +
        (isMachineLimited(c) ? ` — **machine-limited** (< ${MACHINE_LIMITED}): the parallel figures measure the machine, not the code.` : ".")
    )
  }
  lines.push(
    "",
    `| ${columns.map(cell).join(" | ")} |`,
    `|${columns.map(() => "---").join("|")}|`,
    ...r.rows.map((row) => `| ${columns.map((c) => cell(formatCell(row[c]))).join(" | ")} |`),
    "",
    ...r.notes.map((note) => `- ${note}`)
  )
  return lines.join("\n")
}

/**
 * The whole run as Markdown.
 *
 * @since 0.1.0
 * @category formatting
 */
export const render = (results: Results): string => {
  const f = results.facts
  const head = [
    `Run of ${f.date}: ${f.quick ? "quick" : "full"}, ${f.repetitions} interleaved repetitions, ${(results.durationMs / 1000).toFixed(0)} s. ` +
    `Machine: ${f.cores} cores (${f.cpu}), ${f.memoryGiB} GiB, ${f.platform}; Node ${f.node}${f.python === undefined ? "" : `, ${f.python}`}. ` +
    `Packages: ${Object.entries(f.packages).map(([name, version]) => `${name} ${version}`).join(", ")}. ` +
    `Commit ${f.git === undefined ? "unknown" : `${f.git.commit.slice(0, 12)}${f.git.dirty ? " (dirty)" : ""}`}; ` +
    `load average ${f.loadBefore.join(" ")} at the start, ${f.loadAfter.join(" ")} at the end. ` +
    "Cells: median [min–max] over the repetitions (the JSON has every raw sample and the 95 % interval of each median)."
  ]
  return [...head, ...results.reports.map((r) => scenario(r, f.cores))].join("\n\n") + "\n"
}
