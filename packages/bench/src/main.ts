#!/usr/bin/env node
/**
 * `hybrid-bench [scenario …] [--quick] [--json out.json]` — runs the named scenarios (all
 * of them when none is named), prints a table per scenario headed by the machine's facts,
 * and writes the figures as JSON when asked.
 */
import { NodeRuntime } from "@effect/platform-node"
import { Console, Effect } from "effect"
import { writeFileSync } from "node:fs"
import os from "node:os"
import type { Scenario, ScenarioReport } from "./Scenario.ts"
import { cpu } from "./scenarios/cpu.ts"
import { ioFanout } from "./scenarios/io-fanout.ts"
import { pipeline } from "./scenarios/pipeline.ts"

const scenarios: ReadonlyArray<Scenario> = [ioFanout, cpu, pipeline]

const machine = () => ({
  cores: os.availableParallelism(),
  cpu: os.cpus()[0]?.model ?? "unknown",
  node: process.version,
  platform: `${os.platform()} ${os.arch()}`,
  memoryGiB: Math.round(os.totalmem() / 2 ** 30)
})

const table = (report: ScenarioReport): string => {
  const columns = [...new Set(report.rows.flatMap((row) => Object.keys(row)))]
  const cells = report.rows.map((row) => columns.map((c) => String(row[c] ?? "")))
  const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((r) => r[i]!.length)))
  const line = (values: ReadonlyArray<string>) => values.map((v, i) => v.padStart(widths[i]!)).join("  ")
  return [line(columns), line(widths.map((w) => "-".repeat(w))), ...cells.map(line)].join("\n")
}

const main = Effect.gen(function*() {
  const args = process.argv.slice(2)
  const quick = args.includes("--quick")
  const jsonAt = args.indexOf("--json")
  const jsonPath = jsonAt >= 0 ? args[jsonAt + 1] : undefined
  if (jsonAt >= 0 && (jsonPath === undefined || jsonPath.startsWith("--"))) {
    return yield* Effect.fail(new Error("--json needs a file path, e.g. --json bench.json"))
  }
  const names = args.filter((a, i) => !a.startsWith("--") && i !== jsonAt + 1)
  const unknown = names.filter((n) => !scenarios.some((s) => s.name === n))
  if (unknown.length > 0) {
    return yield* Effect.fail(
      new Error(`unknown scenario(s): ${unknown.join(", ")}; known: ${scenarios.map((s) => s.name).join(", ")}`)
    )
  }
  const chosen = names.length === 0 ? scenarios : scenarios.filter((s) => names.includes(s.name))
  const facts = machine()
  yield* Console.log(`machine: ${facts.cores} cores, ${facts.cpu}, ${facts.memoryGiB} GiB, Node ${facts.node}, ${facts.platform}`)
  const reports: Array<ScenarioReport> = []
  for (const scenario of chosen) {
    yield* Console.log(`\n== ${scenario.name}: ${scenario.description}${quick ? " (quick)" : ""}`)
    const report = yield* scenario.run({ quick })
    reports.push(report)
    yield* Console.log(table(report))
    for (const note of report.notes) yield* Console.log(`  note: ${note}`)
  }
  if (jsonPath !== undefined) {
    writeFileSync(jsonPath, JSON.stringify({ machine: facts, quick, date: new Date().toISOString(), reports }, null, 2))
    yield* Console.log(`\nwrote ${jsonPath}`)
  }
})

NodeRuntime.runMain(main)
