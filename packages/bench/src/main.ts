#!/usr/bin/env node
/**
 * `hybrid-bench [scenario …] [--quick] [--repetitions N] [--json out.json] [--html report.html]
 *               [--markdown out.md] [--baseline old.json] [--save-baseline]`
 *
 * Runs the named scenarios (all of them when none is named), each against its peers in
 * the same run, with a live progress bar per scenario; prints the run facts (machine,
 * versions, commit, load) and a table per scenario — every figure as its median with
 * min–max over ≥ 5 interleaved repetitions (≥ 3 with `--quick`) — and writes the JSON
 * document (`Results.ts`: raw samples, spreads, facts) and an HTML report with charts:
 * to `bench-results/bench.json` and `bench-results/bench.html` under the repository root
 * unless `--json` / `--html` say where (relative paths are taken from the directory
 * `pnpm bench` was started in). The JSON is rewritten after every scenario, its `pending`
 * naming the scenarios still to run: a run that is stopped keeps every scenario it finished.
 *
 * `--baseline old.json` compares every figure with an earlier run (a change is real only
 * when the 95 % intervals do not overlap) in the terminal and the HTML;
 * `--save-baseline` also writes this run to `bench-results/baseline.json`. `--markdown`
 * writes the tables as Markdown (what the README's Benchmarks section is pasted from).
 *
 * A scenario is one module exporting a `Scenario` (see `Scenario.ts`): adding one is an
 * import and an entry in `scenarios` below.
 *
 * @since 0.1.0
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as NodeServices from "@effect/platform-node/NodeServices"
import { Console, Effect, Option, Schema } from "effect"
import { Argument, Command, Flag } from "effect/cli"
import cliProgress from "cli-progress"
import { mkdirSync, writeFileSync } from "node:fs"
import { dirname, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import * as Baseline from "./baseline.ts"
import { isMachineLimited, MACHINE_LIMITED } from "./Control.ts"
import * as Facts from "./facts.ts"
import * as Markdown from "./markdown.ts"
import { html } from "./report.ts"
import { ResultsJson, type ScenarioResult } from "./Results.ts"
import * as Run from "./Run.ts"
import { type Progress, repetitions, type Scenario } from "./Scenario.ts"
import { agent } from "./scenarios/agent.ts"
import { cluster } from "./scenarios/cluster.ts"
import { cpu } from "./scenarios/cpu.ts"
import { fleet } from "./scenarios/fleet.ts"
import { ioFanout } from "./scenarios/io-fanout.ts"
import { pipeline } from "./scenarios/pipeline.ts"
import { resilience } from "./scenarios/resilience.ts"
import { serve } from "./scenarios/serve.ts"
import * as Table from "./table.ts"

/** Some scenarios failed (each is under `failed` in the JSON, with its error): exit 1. */
class ScenariosFailed extends Schema.TaggedError<ScenariosFailed>()("ScenariosFailed", {
  scenarios: Schema.Array(Schema.String)
}) {
  override get message(): string {
    return `${this.scenarios.length} scenario(s) failed: ${this.scenarios.join(", ")} (their errors are in the JSON's "failed")`
  }
}

/** Every scenario, in the order of the lessons. */
const scenarios: ReadonlyArray<Scenario> = [ioFanout, resilience, cpu, pipeline, agent, fleet, cluster, serve]

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

const pathFlag = (value: Option.Option<string>, fallback: string) =>
  Option.match(value, { onNone: () => resolve(repositoryRoot, fallback), onSome: (path) => resolve(invokedFrom, path) })

/** The table columns holding a parallel figure. */
const parallelColumns = (result: ScenarioResult): Array<string> =>
  Table.columnsOf(result.rows).filter((column) =>
    result.rows.some((row) => {
      const cell = row[column]
      return typeof cell === "object" && cell.parallel === true
    })
  )

/** The terminal lines of one scenario's result: control and guard, table, notes, load. */
const describeResult = (result: ScenarioResult, cores: number): ReadonlyArray<string> => {
  const c = result.control
  const control = c === undefined ? [] : [
    `  raw worker_threads control: ${c.median.toFixed(2)} cores delivered of ${cores} [${c.min.toFixed(2)}–${c.max.toFixed(2)}]`,
    ...(isMachineLimited(c)
      ? [Table.wrap(
        `fewer than ${MACHINE_LIMITED} cores delivered: this scenario's parallel figures (${parallelColumns(result).join(", ")}) ` +
          "measure the machine, not the pools — read no conclusion from them",
        "  MACHINE-LIMITED: "
      )]
      : [])
  ]
  return [
    Table.render(result.rows),
    ...control,
    ...result.notes.map((note) => Table.wrap(note, "  note: ")),
    `  (${(result.durationMs / 1000).toFixed(1)} s; load ${result.loadBefore.join(" ")} before, ${result.loadAfter.join(" ")} after)`
  ]
}

const bench = Command.make("hybrid-bench", {
  scenarios: Argument.Literals("scenario", scenarios.map((s) => s.name)).pipe(
    Argument.withDescription(`scenarios to run (default: all): ${scenarios.map((s) => s.name).join(", ")}`),
    Argument.variadic()
  ),
  quick: Flag.Boolean("quick").pipe(Flag.withDescription("a short run: fewer sizes, 3 repetitions"), Flag.withDefault(false)),
  repetitions: Flag.Int("repetitions").pipe(
    Flag.withDescription("interleaved repetitions per figure (at least 3; default 5, or 3 with --quick)"),
    Flag.optional
  ),
  json: Flag.String("json").pipe(Flag.withDescription("where to write every figure as JSON"), Flag.optional),
  html: Flag.String("html").pipe(Flag.withDescription("where to write the HTML report with charts"), Flag.optional),
  markdown: Flag.String("markdown").pipe(Flag.withDescription("also write the tables as Markdown"), Flag.optional),
  baseline: Flag.String("baseline").pipe(Flag.withDescription("an earlier run's JSON to compare every figure with"), Flag.optional),
  saveBaseline: Flag.Boolean("save-baseline").pipe(
    Flag.withDescription("also write this run to bench-results/baseline.json"),
    Flag.withDefault(false)
  )
}, (args) =>
  Effect.gen(function*() {
    const chosen = args.scenarios.length === 0 ? scenarios : scenarios.filter((s) => args.scenarios.includes(s.name))
    const jsonPath = pathFlag(args.json, "bench-results/bench.json")
    const htmlPath = pathFlag(args.html, "bench-results/bench.html")
    // read the baseline first: a bad path fails before minutes of measuring
    const baseline = Option.isSome(args.baseline)
      ? Option.some({ path: resolve(invokedFrom, args.baseline.value), results: yield* Baseline.read(resolve(invokedFrom, args.baseline.value)) })
      : Option.none()
    const reps = repetitions({ quick: args.quick, repetitions: Option.getOrUndefined(args.repetitions) })
    const facts = Facts.runFacts({ quick: args.quick, repetitions: reps })
    for (const line of Facts.describe(facts)) yield* Console.log(line)
    const width = Math.max(...chosen.map((s) => s.name.length))
    const results = yield* Run.run({
      scenarios: chosen,
      quick: args.quick,
      repetitions: reps,
      facts,
      baseline: Option.match(baseline, {
        onNone: () => undefined,
        onSome: ({ path, results: old }) => ({ path, date: old.facts.date, ...(old.facts.git === undefined ? {} : { commit: old.facts.git.commit }) })
      }),
      save: (document) => writeFile(jsonPath, Schema.encodeSync(ResultsJson)(document)),
      progress: (scenario) => Effect.map(progressBar(scenario.name, width), ({ finish, progress }) => ({ ...progress, finish })),
      onStart: (scenario) => Console.log(`\n${Table.wrap(`${scenario.description}${args.quick ? " (quick)" : ""}`, `== ${scenario.name}: `)}`),
      onResult: (result) => Effect.forEach(describeResult(result, facts.cores), (line) => Console.log(line), { discard: true }),
      onFailure: (failure) => Console.error(`  FAILED: ${failure.error}`)
    })
    const changes = Option.match(baseline, { onNone: () => [], onSome: ({ results: old }) => Baseline.compare(old, results) })
    if (Option.isSome(baseline)) {
      yield* Console.log(`\n== against the baseline ${baseline.value.path} (${baseline.value.results.facts.date})`)
      for (const line of Baseline.describe(changes)) yield* Console.log(line)
    }
    const json = Schema.encodeSync(ResultsJson)(results)
    yield* writeFile(htmlPath, yield* html(results, changes))
    yield* Console.log(`\nwrote ${jsonPath}\nwrote ${htmlPath}`)
    if (Option.isSome(args.markdown)) {
      const markdownPath = resolve(invokedFrom, args.markdown.value)
      yield* writeFile(markdownPath, Markdown.render(results))
      yield* Console.log(`wrote ${markdownPath}`)
    }
    if (args.saveBaseline) {
      const baselinePath = resolve(repositoryRoot, "bench-results/baseline.json")
      yield* writeFile(baselinePath, json)
      yield* Console.log(`wrote ${baselinePath} (compare a later run with --baseline ${baselinePath})`)
    }
    yield* Console.log(`total ${(results.durationMs / 1000).toFixed(1)} s; load ${results.facts.loadAfter.join(" ")} at the end`)
    if (results.failed !== undefined) {
      return yield* Effect.fail(new ScenariosFailed({ scenarios: results.failed.map((f) => f.scenario) }))
    }
  })).pipe(Command.withDescription("Hybrid next to its peers, scenario by scenario, in one run"))

Command.run(bench, { version: "0.1.0" }).pipe(Effect.provide(NodeServices.layer), NodeRuntime.runMain)
