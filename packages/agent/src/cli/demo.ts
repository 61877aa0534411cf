/**
 * `hybrid demo [--json] [--scale x] [--faults spec] [--queries n] [--seed n]` — the
 * capstone, measured: starts the fixtures, answers the sample queries one at a time with
 * the agent in `"sequential"` mode (every step one after another), then again in
 * `"hybrid"` mode (fetches concurrent, each response processed on the worker threads as it
 * arrives, the LLM last), and prints per query the stages, every source's status, the
 * answer, and in the end both wall times, the speedup and the critical-path bound the
 * hybrid run is measured against.
 *
 * The default workload (one query at `--scale 1`) is the course's capstone: about 12.5 s
 * sequential. `--json` prints one JSON object on stdout and nothing else (a run on the
 * 2-core sandbox, texts shortened):
 *
 * ```json
 * { "sequential": { "wallMs": 12836 }, "hybrid": { "wallMs": 4569, "boundMs": 4561, "vsBound": 1.002 },
 *   "speedup": 2.81, "answers": [{ "query": "How does the asyncio event loop …", "text": "…", "degraded": false,
 *   "synthesis": "llm", "sources": [{ "name": "weather", "status": "ok", "ms": 3873.7 },
 *   { "name": "news", "status": "ok", "ms": 3797.9 }, { "name": "kb", "status": "ok", "ms": 3242.8 }] }],
 *   "scale": 1, "cores": 2, "queries": 1 }
 * ```
 *
 * `answers` are the hybrid run's. A query that gets no answer at all (every source and the
 * LLM down) is reported with its error as `text`, not as a failure of the demo.
 *
 * @since 0.1.0
 */
import * as os from "node:os"
import { Console, Duration, Effect, Option, Stream } from "effect"
import { Command, Flag } from "effect/cli"
import * as Agent from "../Agent.ts"
import { agent, faults, faultsOf, InvalidInput, reported, sampleQueries, scale } from "./shared.ts"

interface Run {
  readonly query: string
  readonly wallMs: number
  readonly answer: Agent.Answer | undefined
  readonly error: string | undefined
  readonly sources: ReadonlyArray<Agent.SourceReport>
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`

/** The output's width: every line fits an 80-column terminal. */
const WIDTH = 80

/** `text` wrapped at word boundaries to `WIDTH`, each line indented by `indent`. */
export const wrap = (text: string, indent = "  ", width = WIDTH): Array<string> => {
  const lines: Array<string> = []
  let line = ""
  for (const word of text.split(/\s+/).filter((w) => w !== "")) {
    if (line !== "" && indent.length + line.length + 1 + word.length > width) {
      lines.push(indent + line)
      line = word
    } else line = line === "" ? word : `${line} ${word}`
  }
  if (line !== "") lines.push(indent + line)
  return lines
}

/** `text` in at most `width` columns: cut at a word, with "…", when longer. */
export const fit = (text: string, width = WIDTH - 1): string => {
  if (text.length <= width) return text
  const cut = text.lastIndexOf(" ", width - 1)
  return `${text.slice(0, cut > width / 2 ? cut : width - 1).replace(/[,;:]$/, "")}…`
}

/**
 * An answer's progress as lines: every source awaited (`kb …`) or settled (`kb ok`), then
 * processing, then the LLM's tokens. `line(event)` is the live line after `event` (a
 * terminal rewrites it in place); `plain(event)` the line a log gets, when there is one.
 */
export const progress = (label: string, names: ReadonlyArray<string>) => {
  const status = new Map(names.map((n) => [n, "…"]))
  let tokens = 0
  let phase = ""
  const line = () => fit(`  ${label}: ${[...status].map(([n, s]) => `${n} ${s}`).join(", ")}${phase}`)
  return {
    line: (event?: Agent.Event): string => {
      if (event?._tag === "SourceSettled") status.set(event.report.name, event.report.status)
      if (event?._tag === "ContextDone") phase = "; processed, asking the LLM"
      if (event?._tag === "Token") phase = `; LLM writing (${++tokens} pieces)`
      return line()
    },
    plain: (event: Agent.Event): string | undefined =>
      event._tag === "SourceSettled"
        ? fit(`  ${label}: ${event.report.name} ${event.report.status} after ${seconds(event.report.ms)}`)
        : event._tag === "ContextDone"
        ? fit(`  ${label}: sources and processing done in ${seconds(event.ms)}`)
        : undefined
  }
}

/** Where progress goes: a terminal's line rewritten in place, plain lines, or nowhere (`--json`). */
type Display = "live" | "plain" | "none"

const write = (text: string) => Effect.sync(() => process.stdout.write(text))

/** `line` on `display`: in place of the live line, or a line of its own; nothing without a line or with `"none"`. */
const show = (display: Display, line: string | undefined): Effect.Effect<void> =>
  line === undefined || display === "none"
    ? Effect.void
    : display === "live"
    ? write(`\r\x1b[2K${line}`)
    : Console.log(line)

/** One answer, timed, its progress shown as it streams; `NoAnswer` becomes a run without an answer. */
const answerOnce = (query: string, budget: Duration.Duration, mode: Agent.Mode, shown: (event: Agent.Event) => Effect.Effect<void>) =>
  Agent.answerOf(Agent.stream(query, { budget, mode }).pipe(Stream.tap(shown))).pipe(
    Effect.map((answer) => ({ answer, error: undefined, sources: answer.sources })),
    Effect.catchTag("NoAnswer", (e) => Effect.succeed({ answer: undefined, error: e.message, sources: e.sources })),
    Effect.timed,
    Effect.map(([took, outcome]): Run => ({ query, wallMs: Duration.toMillis(took), ...outcome }))
  )

/** Answers `queries` one at a time in `mode` with the `Agent` in context, each one's progress on `display`. */
const answerAll = (queries: ReadonlyArray<string>, budget: Duration.Duration, mode: Agent.Mode, display: Display) =>
  Effect.gen(function*() {
    const names = (yield* Agent.Agent).sources.map((s) => s.definition.name)
    const live = display === "live"
    return yield* Effect.forEach(queries, (query, i) => {
      const label = `${mode} ${i + 1}/${queries.length}`
      const lines = progress(label, names)
      // `Done` shows nothing: the run's line below replaces the live line
      const shown = (event: Agent.Event) =>
        event._tag === "Done" ? Effect.void : show(display, live ? lines.line(event) : lines.plain(event))
      return show(display, live ? lines.line() : undefined).pipe(
        Effect.andThen(answerOnce(query, budget, mode, shown)),
        Effect.tap((run) =>
          show(display, fit(`  ${label}: ${seconds(run.wallMs)}, ${run.sources.map((s) => `${s.name} ${s.status}`).join(", ")}`))
        ),
        Effect.tap(() => live ? write("\n") : Effect.void)
      )
    })
  })

const cell = (run: Run, name: string) => {
  const source = run.sources.find((s) => s.name === name)
  if (source === undefined) return "?"
  const fetch = run.answer?.timings.fetch[name]
  const process = run.answer?.timings.process[name]
  if (source.status === "ok" && fetch !== undefined && process !== undefined) {
    return `ok ${(fetch / 1000).toFixed(2)}+${(process / 1000).toFixed(2)}`
  }
  return `${shortStatus[source.status] ?? source.status} ${(source.ms / 1000).toFixed(2)}`
}

/** The two statuses too long for a cell beside their seconds (the lines under the table spell them out). */
const shortStatus: Partial<Record<Agent.Status, string>> = { "circuit-open": "open", "rate-limited": "limited" }

/** The width of a source's column: the three capstone sources fit 80 columns. */
const cellWidth = (cells: ReadonlyArray<string>) => Math.max(12, Math.floor((WIDTH - 38) / Math.max(1, cells.length)) - 1)

/** One line of the table: label, total, a cell per source, llm, bound. */
const tableLine = (label: string, total: string, cells: ReadonlyArray<string>, llm: string, bound: string) =>
  "  " + label.padEnd(10) + total.padStart(8) + "  " + cells.map((c) => c.padEnd(cellWidth(cells))).join(" ") + " " +
  llm.padStart(7) + " " + (bound === "" ? "" : bound.padStart(7))

const row = (names: ReadonlyArray<string>, label: string, run: Run, bound: boolean) => {
  const t = run.answer?.timings
  return tableLine(label, seconds(run.wallMs), names.map((n) => cell(run, n)), t === undefined ? "-" : seconds(t.llm), bound && t !== undefined ? seconds(t.bound) : "")
}

/**
 * @since 0.1.0
 * @category commands
 */
export const demo = Command.make(
  "demo",
  {
    json: Flag.Boolean("json").pipe(Flag.withDescription("print one JSON object on stdout, nothing else"), Flag.withDefault(false)),
    scale,
    faults,
    queries: Flag.Int("queries").pipe(
      Flag.withDescription(`how many sample queries to answer (${sampleQueries.length} samples, repeated beyond that)`),
      Flag.filter((n) => n >= 1 && n <= 100, (n) => `--queries must be between 1 and 100, got ${n}`),
      Flag.withDefault(1)
    ),
    seed: Flag.Int("seed").pipe(Flag.withDescription("seed of the fixtures' data and fault draws"), Flag.withDefault(1))
  },
  Effect.fn("hybrid.demo")(function*(flags) {
    const faultConfig = yield* faultsOf(flags.faults)
    if (!Number.isSafeInteger(flags.seed)) {
      return yield* new InvalidInput({ flag: "--seed", value: String(flags.seed), reason: "expected a safe integer" })
    }
    const queries = Array.from({ length: flags.queries }, (_, i) => sampleQueries[i % sampleQueries.length]!)
    // generous: the budget bounds a run, it should never cut a healthy source (a busy CI machine)
    const budget = Duration.millis(60_000 * flags.scale)
    const cores = os.availableParallelism()
    const print = (text: string, indent = "  ") => Effect.forEach(wrap(text, indent), (line) => Console.log(line), { discard: true })
    yield* Effect.annotateCurrentSpan({ scale: flags.scale, queries: queries.length, faults: Option.getOrElse(flags.faults, () => "") })

    if (!flags.json) {
      yield* print(
        `hybrid demo: ${queries.length} quer${queries.length === 1 ? "y" : "ies"} against the fixtures ` +
          `(scale ${flags.scale}, ${cores} worker threads on ${cores} cores, faults: ${Option.getOrElse(flags.faults, () => "none")})`,
        ""
      )
    }
    // each mode gets its own fixtures, circuits and workers: the same latency draws, and
    // no circuit opened by the first run changes the second
    const display: Display = flags.json ? "none" : process.stdout.isTTY === true ? "live" : "plain"
    const phase = (mode: Agent.Mode) =>
      show(display, fit(`  ${mode}: starting the fixtures and ${cores} worker threads…`)).pipe(
        Effect.andThen(Effect.provide(answerAll(queries, budget, mode, display), agent({ scale: flags.scale, faults: faultConfig, seed: flags.seed })))
      )
    const sequential = yield* phase("sequential")
    const hybrid = yield* phase("hybrid")

    const sequentialMs = Math.round(sequential.reduce((sum, r) => sum + r.wallMs, 0))
    const hybridMs = Math.round(hybrid.reduce((sum, r) => sum + r.wallMs, 0))
    const boundMs = Math.round(hybrid.reduce((sum, r) => sum + (r.answer?.timings.bound ?? r.wallMs), 0))
    const speedup = Math.round((sequentialMs / Math.max(1, hybridMs)) * 100) / 100
    const vsBound = Math.round((hybridMs / Math.max(1, boundMs)) * 1000) / 1000

    if (flags.json) {
      yield* Console.log(JSON.stringify({
        sequential: { wallMs: sequentialMs },
        hybrid: { wallMs: hybridMs, boundMs, vsBound },
        speedup,
        answers: hybrid.map((r) => ({
          query: r.query,
          text: r.answer?.text ?? r.error ?? "",
          degraded: r.answer?.degraded ?? true,
          synthesis: r.answer?.synthesis ?? "none",
          sources: r.sources.map((s) => ({ name: s.name, status: s.status, ms: s.ms, ...(s.error === undefined ? {} : { error: s.error }) }))
        })),
        scale: flags.scale,
        cores,
        queries: queries.length
      }))
      return
    }

    for (const [i, query] of queries.entries()) {
      const s = sequential[i]!
      const h = hybrid[i]!
      const names = h.sources.map((source) => source.name)
      yield* Console.log("")
      yield* print(`Q${i + 1} ${query}`, "")
      yield* Console.log(tableLine("", "total", names, "llm", "bound"))
      yield* Console.log(row(names, "sequential", s, false))
      yield* Console.log(row(names, "hybrid", h, true))
      const cpu = h.answer?.timings.cpu
      if (cpu !== undefined) {
        yield* print(`CPU on the workers (hybrid): ${names.map((n) => `${n} ${cpu[n] === undefined ? "-" : seconds(cpu[n])}`).join(", ")}`)
      }
      for (const source of h.sources) {
        if (source.error !== undefined) yield* print(`${source.name} ${source.status}: ${source.error}`)
      }
      if (h.answer === undefined) yield* print(`no answer: ${h.error}`)
      else {
        yield* print(`answer (${h.answer.synthesis}${h.answer.degraded ? ", degraded" : ""}):`)
        for (const paragraph of h.answer.text.split(/\n+/)) yield* print(paragraph, "    ")
      }
    }
    yield* Console.log("")
    yield* print("(source cells: status and seconds of fetch + processing; processing = queueing, transfer and CPU on the workers; open: circuit open, limited: rate-limited)", "")
    yield* Console.log(`\nsequential  ${seconds(sequentialMs).padStart(8)}`)
    yield* Console.log(`hybrid      ${seconds(hybridMs).padStart(8)}   critical-path bound ${seconds(boundMs)} on ${cores} cores:`)
    yield* Console.log(`${" ".repeat(23)}hybrid is ${((vsBound - 1) * 100).toFixed(1)}% above it`)
    yield* Console.log(`speedup     ${(speedup.toFixed(2) + "×").padStart(8)}   (the seed's capstone: 12.5 s → 5 s, 2.5×)`)
  }, reported("demo"))
).pipe(
  Command.withDescription("answer the sample queries sequentially, then with the hybrid agent, against the fixtures; print timings and the speedup"),
  Command.withExamples([
    { command: "hybrid demo", description: "the capstone at full scale (about 12.5 s sequential)" },
    { command: "hybrid demo --scale 0.05 --queries 3 --json", description: "a quick run, as JSON" },
    { command: "hybrid demo --faults news=down,llm=429", description: "degraded answers" }
  ])
)
