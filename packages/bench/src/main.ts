#!/usr/bin/env node
/**
 * `hybrid-bench [scenario …] [--quick] [--json out.json] [--html report.html]`
 *
 * Runs the named scenarios (all of them when none is named), each against its peers in
 * the same run, with a live progress bar per scenario; prints the machine's facts and a
 * table per scenario; writes every figure as JSON and an HTML report with charts —
 * to `bench-results/bench.json` and `bench-results/bench.html` under the repository root
 * unless `--json` / `--html` say where (relative paths are taken from the directory
 * `pnpm bench` was started in).
 *
 * A scenario is one module exporting a `Scenario` (see `Scenario.ts`): adding one is an
 * import and an entry in `scenarios` below.
 *
 * @since 0.1.0
 */
import { NodeRuntime, NodeServices } from "@effect/platform-node"
import { Console, Effect, Option } from "effect"
import { Argument, Command, Flag } from "effect/cli"
import cliProgress from "cli-progress"
import { mkdirSync, writeFileSync } from "node:fs"
import { dirname, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import { describeMachine, html, machine, type Results, type ScenarioResult, table } from "./report.ts"
import type { Progress, Scenario } from "./Scenario.ts"
import { agent } from "./scenarios/agent.ts"
import { cpu } from "./scenarios/cpu.ts"
import { ioFanout } from "./scenarios/io-fanout.ts"
import { pipeline } from "./scenarios/pipeline.ts"
import { resilience } from "./scenarios/resilience.ts"

/** Every scenario, in the order of the lessons. */
const scenarios: ReadonlyArray<Scenario> = [ioFanout, resilience, cpu, pipeline, agent]

const repositoryRoot = fileURLToPath(new URL("../../../", import.meta.url))
/** Where the user typed the command: pnpm runs the script in the package's directory. */
const invokedFrom = process.env.INIT_CWD ?? process.cwd()

/**
 * A progress bar on stderr for one scenario (drawn only on a terminal). Until the
 * scenario announces its steps, the bar shows the elapsed time alone.
 */
const progressBar = (name: string, width: number) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const bar = new cliProgress.SingleBar({
        format: `${name.padEnd(width)} [{bar}] {steps} {duration_formatted}`,
        hideCursor: true,
        barsize: 30,
        fps: 5
      }, cliProgress.Presets.shades_classic)
      let total = 0
      let done = 0
      const steps = () => (total === 0 ? "running…" : `${done}/${total}`)
      bar.start(1, 0, { steps: steps() })
      const progress: Progress = {
        total: (n) => {
          total = Math.max(0, n)
          bar.setTotal(Math.max(1, total))
          bar.update(done, { steps: steps() })
        },
        tick: (n = 1) => {
          done += n
          bar.update(done, { steps: steps() })
        }
      }
      return { bar, progress, finish: () => bar.update(Math.max(1, total), { steps: total === 0 ? "done" : steps() }) }
    }),
    ({ bar }) => Effect.sync(() => bar.stop())
  )

const writeFile = (path: string, text: string) =>
  Effect.sync(() => {
    mkdirSync(dirname(path), { recursive: true })
    writeFileSync(path, text)
  })

const bench = Command.make("hybrid-bench", {
  scenarios: Argument.Literals("scenario", scenarios.map((s) => s.name)).pipe(
    Argument.withDescription(`scenarios to run (default: all): ${scenarios.map((s) => s.name).join(", ")}`),
    Argument.variadic()
  ),
  quick: Flag.Boolean("quick").pipe(Flag.withDescription("a short run: fewer sizes and repetitions"), Flag.withDefault(false)),
  json: Flag.String("json").pipe(Flag.withDescription("where to write every figure as JSON"), Flag.optional),
  html: Flag.String("html").pipe(Flag.withDescription("where to write the HTML report with charts"), Flag.optional)
}, (args) =>
  Effect.gen(function*() {
    const chosen = args.scenarios.length === 0 ? scenarios : scenarios.filter((s) => args.scenarios.includes(s.name))
    const jsonPath = Option.match(args.json, {
      onNone: () => resolve(repositoryRoot, "bench-results/bench.json"),
      onSome: (path) => resolve(invokedFrom, path)
    })
    const htmlPath = Option.match(args.html, {
      onNone: () => resolve(repositoryRoot, "bench-results/bench.html"),
      onSome: (path) => resolve(invokedFrom, path)
    })
    const facts = machine()
    const date = new Date().toISOString()
    const started = performance.now()
    yield* Console.log(`machine: ${describeMachine(facts)}`)
    const width = Math.max(...chosen.map((s) => s.name.length))
    const reports: Array<ScenarioResult> = []
    for (const scenario of chosen) {
      yield* Console.log(`\n== ${scenario.name}: ${scenario.description}${args.quick ? " (quick)" : ""}`)
      const t0 = performance.now()
      const report = yield* Effect.scoped(Effect.gen(function*() {
        const { finish, progress } = yield* progressBar(scenario.name, width)
        const report = yield* scenario.run({ quick: args.quick, progress })
        finish()
        return report
      }))
      const result: ScenarioResult = { ...report, description: scenario.description, durationMs: performance.now() - t0 }
      reports.push(result)
      yield* Console.log(table(report))
      for (const note of report.notes) yield* Console.log(`  note: ${note}`)
      yield* Console.log(`  (${(result.durationMs! / 1000).toFixed(1)} s)`)
    }
    const results: Results = { machine: facts, quick: args.quick, date, durationMs: performance.now() - started, reports }
    yield* writeFile(jsonPath, JSON.stringify(results, null, 2))
    yield* writeFile(htmlPath, yield* html(results))
    yield* Console.log(`\nwrote ${jsonPath}\nwrote ${htmlPath}\ntotal ${(results.durationMs / 1000).toFixed(1)} s`)
  })).pipe(Command.withDescription("Hybrid next to its peers, scenario by scenario, in one run"))

Command.run(bench, { version: "0.1.0" }).pipe(Effect.provide(NodeServices.layer), NodeRuntime.runMain)
