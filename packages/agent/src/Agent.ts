/**
 * The capstone agent — the course's "Grand Finale" as one Effect service: answer a
 * query from its sources (by default Weather, News and a Knowledge Base: any list of
 * `Source.Definition`s) within a time budget, processing each response on the CPU as
 * soon as it arrives, and synthesising with an LLM.
 *
 * `Agent.answer(query, { budget, mode })`:
 *
 * ```text
 * budget ───────────────────────────────────────────────────────────────────────▶ deadline
 * weather  fetch ──────▶ process ═══▶                                          │
 * news     fetch ─────────▶ process ═════▶                                     │
 * kb       fetch ───────────▶ process ═══════▶                                 │
 *                                context phase ends ─┤ (deadline − llmReserve)  │
 *                                                 LLM synthesis ────────────────▶
 * ```
 *
 * - **Concurrent fetch, overlapped processing**: every source runs `fetch → process` in its
 *   own fiber (`Gather.settle`), so a response is processed on the `Runner` (worker
 *   threads) while the other fetches are still in flight. Each source's processing is
 *   split into `parallelism` parts (one `ProjectPart` task per core, then `MergeParts`),
 *   so a large source spreads over every core instead of holding one. `mode:
 *   "sequential"` runs the identical per-source steps (and parts) one after another, for
 *   comparison.
 * - **One deadline for the whole call tree**: `budget` becomes `Deadline`s — the context
 *   phase (fetches with their own per-attempt timeouts and retries, and the worker tasks)
 *   ends at `deadline − llmReserve`, the LLM call (with its retries) at the deadline. A
 *   caller's own, earlier `Deadline` wins.
 * - **Graceful partial failure**: a source that fails, times out, is rate-limited or has
 *   its circuit open is reported with that status and left out; the answer is then
 *   `degraded`. When the time left after the context phase is under `llmReserve` (a short
 *   budget), or the LLM fails, the answer is extractive: the processed summaries of the
 *   sources that answered, no LLM (`synthesis: "extractive"`, degraded). Only "no source
 *   and no LLM" fails, with `NoAnswer`.
 * - **Timings**: per source fetch, processing (wall, and CPU in the workers), the LLM call,
 *   the total, and `bound` — the critical path of the measured stages on `parallelism`
 *   cores (see `Timings`): no schedule on that many cores could finish sooner.
 *
 * Services needed (`Agent.layer({ sources })`): an `HttpClient` (each source is built
 * from its definition and `HYBRID_<NAME>_*` configuration), a `LanguageModel` and a
 * `Runner` serving `Processing.Tasks`. `Fixtures.layerAgent` wires all of it over the
 * fixture servers for the demo, the tests and the CLI, with every time — fixture
 * latency, source timeouts, retry backoff, breaker open time, LLM reserve and CPU work —
 * scaled by `scale`.
 *
 * Observability: `Agent.answer` span (attributes `mode`, `budgetMs`, `degraded`,
 * `synthesis`), one `Agent.source` span per source with `Agent.fetch` and `Agent.process`
 * children, `Agent.llm` or `Agent.extractive`.
 *
 * Gotchas:
 * - Every source is asked the same `Query`: the weather city is `options.city`, else the
 *   first capitalised place after "in", "at", "near" or "around" in the query, else the
 *   layer's `city` ("London"); the news and knowledge-base searches use the query's
 *   content words (`Query.terms`).
 * - With `Processing.layerInProcess` the CPU work shares the calling thread with the I/O
 *   (it yields every ~5 ms): fine for tests, but only `Processing.layerNode` overlaps CPU
 *   with I/O for real.
 * - `llmReserve` should be the LLM's usual latency with some margin: too small and the
 *   LLM is cut off (extractive answer), too large and the sources lose time.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Agent, Fixtures } from "@hybrid/agent"
 *
 * const program = Effect.gen(function*() {
 *   const answer = yield* Agent.answer("asyncio event loop in Lisbon", { budget: "1 second" })
 *   console.log(answer.text, answer.sources.map((s) => `${s.name}: ${s.status}`), answer.timings.total)
 * }).pipe(Effect.provide(Fixtures.layerAgent({ scale: 0.05, faults: { news: { down: true } } })))
 * // weather: ok, news: failed, kb: ok; degraded: true, synthesis: "llm";
 * // total 320–325 ms (measured on the shared 2-core sandbox: context ≈ 265 ms, LLM ≈ 57 ms)
 * ```
 *
 * @since 0.1.0
 */
import * as os from "node:os"
import { Cause, Clock, type Config, Context, type Duration, Effect, Exit, Layer, Option, Schema, type Scope } from "effect"
import { LanguageModel } from "effect/ai"
import type { HttpClient } from "effect/http"
import { Deadline, Gather, Options as Check, Runner } from "@hybrid/core"
import * as Processing from "./processing/Processing.ts"
import * as KnowledgeBase from "./sources/KnowledgeBase.ts"
import * as News from "./sources/News.ts"
import * as Query from "./sources/Query.ts"
import * as Source from "./sources/Source.ts"
import * as Weather from "./sources/Weather.ts"

// --- models ------------------------------------------------------------------------------

/**
 * How a source fared: `"ok"`, or the `SourceError` reason that left it out (a processing
 * failure is `"failed"`, or `"timeout"` when the deadline cut it).
 *
 * @since 0.1.0
 * @category models
 */
export const Status = Schema.Literals(["ok", "timeout", "failed", "circuit-open", "rate-limited"])
/** @since 0.1.0 @category models */
export type Status = typeof Status.Type

/**
 * One source of an answer: its name (the definition's: `"weather"`, `"news"`, `"kb"`, …), status, the
 * milliseconds it took (fetch and processing, or until it failed) and, unless `ok`,
 * what went wrong.
 *
 * @since 0.1.0
 * @category models
 */
export class SourceReport extends Schema.Class<SourceReport>("@hybrid/agent/Agent/SourceReport")({
  name: Schema.String,
  status: Status,
  ms: Schema.Number,
  error: Schema.optional(Schema.String)
}) {}

/**
 * Where the time went, in milliseconds.
 *
 * - `fetch`: per source, the fetch with its retries (until success or failure);
 * - `process`: per fetched source, the processing call as the agent saw it (queueing,
 *   transfer and computing), `cpu`: the computing alone, in the worker;
 * - `context`: the whole fetch-and-process phase; `llm`: the LLM call (0 when skipped);
 * - `total`: the whole call; `bound`: the critical path on `parallelism` cores with the
 *   same stage times — `max over sources i of (fetch_i + max(longest task of i, Σ cpu of
 *   the sources fetched at or after i / cores)) + llm`: a source's CPU work starts when
 *   its fetch ends, a task runs on one core, and no schedule on that many cores finishes
 *   the context phase sooner.
 *
 * @since 0.1.0
 * @category models
 */
export class Timings extends Schema.Class<Timings>("@hybrid/agent/Agent/Timings")({
  fetch: Schema.Record(Schema.String, Schema.Number),
  process: Schema.Record(Schema.String, Schema.Number),
  cpu: Schema.Record(Schema.String, Schema.Number),
  context: Schema.Number,
  llm: Schema.Number,
  total: Schema.Number,
  bound: Schema.Number
}) {}

/**
 * How the text was made: by the LLM from the top chunks, or extractively from the
 * processed summaries (no LLM: short budget or LLM failure).
 *
 * @since 0.1.0
 * @category models
 */
export const Synthesis = Schema.Literals(["llm", "extractive"])
/** @since 0.1.0 @category models */
export type Synthesis = typeof Synthesis.Type

/**
 * An answer: the text, every source exactly once (in the order of the definitions), the timings, and
 * whether it is `degraded` (a source missing, or no LLM synthesis).
 *
 * @since 0.1.0
 * @category models
 */
export class Answer extends Schema.Class<Answer>("@hybrid/agent/Agent/Answer")({
  text: Schema.String,
  sources: Schema.Array(SourceReport),
  timings: Timings,
  degraded: Schema.Boolean,
  synthesis: Synthesis
}) {}

/**
 * No source answered and the LLM did not either: there is nothing to answer from.
 * `sources` says what happened to each source, `llm` to the LLM.
 *
 * @since 0.1.0
 * @category errors
 */
export class NoAnswer extends Schema.TaggedError<NoAnswer>()("NoAnswer", {
  query: Schema.String,
  sources: Schema.Array(SourceReport),
  llm: Schema.String
}) {
  override get message(): string {
    return `no answer to "${this.query}": ${this.sources.map((s) => `${s.name} ${s.status}`).join(", ")}; llm: ${this.llm}`
  }
}

/**
 * `"hybrid"` (default): all sources at once, each processed as it arrives.
 * `"sequential"`: the same steps one after another.
 *
 * @since 0.1.0
 * @category models
 */
export type Mode = "hybrid" | "sequential"

/**
 * @since 0.1.0
 * @category models
 */
export interface AnswerOptions {
  /**
   * The time for the whole call: fetches, processing, LLM. Not a finite duration ≥ 0: a
   * defect (`InvalidOption`).
   */
  readonly budget: Duration.Input
  readonly mode?: Mode | undefined
  /** The weather city; default: a place named in the query, else the layer's `city`. */
  readonly city?: string | undefined
}

/**
 * The agent's settings.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The sources, one definition each (names unique). Default `defaultSources`: weather, news, kb. */
  readonly sources?: ReadonlyArray<Source.Definition> | undefined
  /** Time kept for the LLM at the end of the budget. Default 3 seconds. */
  readonly llmReserve?: Duration.Input | undefined
  /** Processing options over `Processing.defaults`. */
  readonly processing?: Partial<Processing.Options> | undefined
  /** The weather city when the query names none. Default `"London"`. */
  readonly city?: string | undefined
  /**
   * Parts each source's processing is split into (one `ProjectPart` task each, merged
   * after), and the cores the critical-path bound assumes. Default: the `Runner`'s
   * capacity, at most `os.availableParallelism()` (1 for an in-process runner).
   */
  readonly parallelism?: number | undefined
}

/**
 * @since 0.1.0
 * @category services
 */
export class Agent extends Context.Service<Agent, {
  /** Answers `query` within `options.budget`; see the module comment. */
  readonly answer: (query: string, options: AnswerOptions) => Effect.Effect<Answer, NoAnswer>
  /** The running sources, in the order of their definitions (their settings and circuits). */
  readonly sources: ReadonlyArray<Source.Source>
}>()("@hybrid/agent/Agent") {
  /** Same as the module's `layer`. */
  static readonly layer = (options?: Options): Layer.Layer<Agent, Config.ConfigError, Dependencies> => layer(options)
}

/**
 * The services `Agent.layer` needs.
 *
 * @since 0.1.0
 * @category models
 */
export type Dependencies = HttpClient.HttpClient | LanguageModel.LanguageModel | Runner.Runner

/**
 * The capstone's sources: Weather, News (10 articles), Knowledge base (3 documents).
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultSources: ReadonlyArray<Source.Definition> = [Weather.source, News.source, KnowledgeBase.source]

/**
 * Answers `query` with the current `Agent`.
 *
 * @since 0.1.0
 * @category accessors
 */
export const answer = (query: string, options: AnswerOptions): Effect.Effect<Answer, NoAnswer, Agent> =>
  Agent.use((agent) => agent.answer(query, options))

// --- query helpers -----------------------------------------------------------------------

/**
 * The capstone's sample queries (`hybrid demo`, the `agent` benchmark, lesson 06): each
 * names a city (for the weather) and a topic (for the news and the knowledge base).
 *
 * @since 0.1.0
 * @category constants
 */
export const sampleQueries: ReadonlyArray<string> = [
  "How does the asyncio event loop schedule coroutines, and what is the weather in Lisbon?",
  "What is new about electric cars, and will it rain in Oslo?",
  "Should I cycle to work in Amsterdam today, and what do experts say about e-bikes?",
  "What are the trade-offs of vector databases for a team in Berlin?",
  "Is remote work here to stay? Give me the weather in London too."
]

// --- the agent ---------------------------------------------------------------------------

interface Outcome {
  readonly name: string
  readonly label: string
  readonly status: Status
  readonly ms: number
  readonly fetchMs: number | undefined
  readonly processMs: number | undefined
  readonly cpuMs: number | undefined
  /** CPU time of each processing task (the parts, then the merge). */
  readonly tasksMs: ReadonlyArray<number>
  readonly error: string | undefined
  readonly processed: Processing.Processed | undefined
}

const nowMs = Effect.map(Clock.currentTimeNanos, (n) => Number(n) / 1e6)
const round = (ms: number) => Math.round(ms * 10) / 10

const describeCause = (cause: Cause.Cause<unknown>): string => {
  const error = Cause.squash(cause)
  return error instanceof Error ? error.message : String(error)
}

/** A `SourceError` without the source's name and reason, which the report already has. */
const sourceDetail = (error: Source.SourceError): string => {
  const status = error.status === undefined ? "" : ` ${error.status}`
  const attempts = error.attempts === undefined ? "" : ` (${error.attempts} attempt${error.attempts === 1 ? "" : "s"})`
  return `${error.kind}${status}: ${error.detail}${attempts}`
}

interface Resolved {
  readonly sources: ReadonlyArray<Source.Definition>
  readonly llmReserveMs: number
  readonly processing: Processing.Options
  readonly city: string
  readonly parallelism: number | undefined
}

const where = "Agent.layer"

const resolve = (options: Options): Resolved => {
  const sources = options.sources ?? defaultSources
  if (sources.length === 0) Check.reject(where, "sources", sources, "at least one source definition")
  const names = sources.map((s) => s.name)
  const repeated = names.find((name, i) => names.indexOf(name) !== i)
  if (repeated !== undefined) Check.reject(where, "sources", repeated, "unique source names")
  const processing = { ...Processing.defaults, ...options.processing }
  const decoded = Schema.decodeUnknownOption(Processing.Options)(processing)
  if (Option.isNone(decoded)) Check.reject(where, "processing", processing, "valid Processing.Options")
  const city = options.city ?? "London"
  if (city.trim() === "") Check.reject(where, "city", city, "a non-empty city name")
  return {
    sources,
    llmReserveMs: Check.duration(where, "llmReserve", options.llmReserve ?? "3 seconds"),
    processing,
    city,
    parallelism: options.parallelism === undefined ? undefined : Check.integer(where, "parallelism", options.parallelism)
  }
}

/**
 * The earliest the context phase could end with the measured stage times on `cores`
 * cores: a source's processing starts when its fetch ends, each task runs on one core,
 * and the CPU work of the sources fetched at or after a source's fetch cannot start
 * before it. So it is at least, for every source `i`, `fetch_i + max(longest task of i,
 * Σ cpu of the sources fetched at or after i / cores)`.
 */
const criticalPath = (outcomes: ReadonlyArray<Outcome>, cores: number): number =>
  outcomes.reduce((max, o) => {
    const arrived = o.fetchMs ?? o.ms
    const later = outcomes
      .filter((p) => (p.fetchMs ?? p.ms) >= arrived)
      .reduce((sum, p) => sum + (p.cpuMs ?? 0), 0)
    const longest = o.tasksMs.reduce((a, b) => Math.max(a, b), 0)
    return Math.max(max, arrived + Math.max(longest, later / cores))
  }, 0)

/** Time kept after the LLM's cut-off to assemble the answer. */
const assemblyMarginMs = 10

/**
 * Builds the agent from its dependencies.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options: Options = {}
): Effect.Effect<Agent["Service"], Config.ConfigError, Dependencies | Scope.Scope> => {
  const settings = resolve(options)
  return Effect.gen(function*() {
    const running = yield* Effect.forEach(settings.sources, (definition) => Source.make(definition))
    const llm = yield* LanguageModel.LanguageModel
    const runner = yield* Runner.Runner
    const cores = settings.parallelism ??
      (typeof runner.capacity === "number" ? Math.max(1, Math.min(runner.capacity, os.availableParallelism())) : 1)

    /** One source: fetch, then process; never fails, ends by `until`. */
    const runSource = (source: Source.Source, query: Query.Query, until: number, mode: Mode): Effect.Effect<Outcome> =>
      Effect.gen(function*() {
        const name = source.definition.name
        const start = yield* nowMs
        const marks: { fetched?: number; processed?: number } = {}
        const outcome = (status: Status, error?: string, split?: Processing.Split) =>
          Effect.map(nowMs, (end): Outcome => ({
            name: source.definition.name,
            label: source.definition.label,
            status,
            ms: round(end - start),
            fetchMs: round((marks.fetched ?? end) - start),
            processMs: marks.fetched === undefined ? undefined : round((marks.processed ?? end) - marks.fetched),
            cpuMs: split?.processed.cpuMs,
            tasksMs: split?.tasksMs ?? [],
            error,
            processed: split?.processed
          }))
        const steps = Effect.gen(function*() {
          const documents = yield* source.documents(query).pipe(Effect.withSpan("Agent.fetch", { attributes: { source: name } }))
          marks.fetched = yield* nowMs
          const split = yield* Processing.runParts(
            { query: query.text, source: name, documents, options: settings.processing },
            { parts: cores, concurrency: mode === "sequential" ? 1 : "unbounded" }
          ).pipe(
            Effect.provideService(Runner.Runner, runner),
            Effect.withSpan("Agent.process", { attributes: { source: name, documents: documents.length } })
          )
          marks.processed = yield* nowMs
          return split
        })
        const exit = yield* Effect.exit(steps.pipe(Deadline.at(until)))
        if (Exit.isSuccess(exit)) return yield* outcome("ok", undefined, exit.value)
        const failure = Option.getOrUndefined(Cause.findErrorOption(exit.cause))
        const stage = marks.fetched === undefined ? "fetch" : "processing"
        if (failure === undefined) return yield* outcome("failed", `${stage}: ${describeCause(exit.cause)}`)
        switch (failure._tag) {
          case "SourceError":
            return yield* outcome(failure.reason, sourceDetail(failure))
          case "DeadlineExceeded":
            return yield* outcome("timeout", `${stage} did not finish before the deadline`)
          case "TaskTimeout":
            return yield* outcome("timeout", `processing: ${failure.message}`)
          default:
            return yield* outcome("failed", `processing: ${failure.message}`)
        }
      }).pipe(
        Effect.tap((o) => Effect.annotateCurrentSpan({ status: o.status })),
        Effect.withSpan("Agent.source", { attributes: { source: source.definition.name } })
      )

    const prompt = (query: string, contexts: ReadonlyArray<Outcome>) => {
      const lines = contexts.flatMap((o) =>
        (o.processed?.chunks ?? []).map((c) => `${o.label}: ${c.text.replace(/\s+/g, " ")}`)
      )
      return [
        { role: "system" as const, content: "You are a research assistant. Use only the context below and keep the reply short." },
        { role: "user" as const, content: `Context:\n${lines.join("\n")}\n\nQuestion: ${query}` }
      ]
    }

    const extractive = (contexts: ReadonlyArray<Outcome>) =>
      contexts
        .filter((o) => (o.processed?.summary.length ?? 0) > 0)
        .map((o) => `${o.label}: ${o.processed!.summary.join(" ")}`)
        .join("\n")

    const answer = Effect.fn("Agent.answer")(function*(query: string, options: AnswerOptions) {
      const budgetMs = Check.duration("Agent.answer", "budget", options.budget)
      const mode: Mode = options.mode ?? "hybrid"
      const startMs = yield* nowMs
      const startClock = yield* Clock.currentTimeMillis
      const inherited = yield* Deadline.Current
      const deadline = Math.min(startClock + budgetMs, inherited ?? Number.POSITIVE_INFINITY)
      const available = deadline - startClock
      // keep llmReserve for the LLM, unless that would leave the sources less than half:
      // then the sources may use it all, and the LLM is asked only if they leave enough
      const reserved = available >= 2 * settings.llmReserveMs
      const contextEnd = reserved ? deadline - settings.llmReserveMs : deadline - assemblyMarginMs
      yield* Effect.annotateCurrentSpan({ mode, budgetMs, contextMs: contextEnd - startClock })

      const asked = Query.make(query, { city: options.city, fallbackCity: settings.city })
      const exits = mode === "sequential"
        ? yield* Effect.forEach(running, (s) => Effect.exit(runSource(s, asked, contextEnd, mode)), { concurrency: 1 })
        : yield* Gather.settle(running.map((s) => runSource(s, asked, contextEnd, mode)))
      const outcomes = exits.map((exit, i): Outcome =>
        Exit.isSuccess(exit) ? exit.value : {
          name: running[i]!.definition.name,
          label: running[i]!.definition.label,
          status: "failed",
          ms: 0,
          fetchMs: undefined,
          processMs: undefined,
          cpuMs: undefined,
          tasksMs: [],
          error: describeCause(exit.cause),
          processed: undefined
        }
      )
      const contextDone = yield* nowMs
      const contexts = outcomes.filter((o) => o.status === "ok")

      // the LLM: when its time was reserved, when it has time anyway, or when there is
      // nothing else to answer from
      const left = deadline - (yield* Clock.currentTimeMillis)
      let llmMs = 0
      let text: string | undefined
      let llmProblem = "not asked: too little time left"
      if (reserved || left >= settings.llmReserveMs || contexts.length === 0) {
        const t0 = yield* nowMs
        const exit = yield* Effect.exit(
          LanguageModel.generateText({ prompt: prompt(query, contexts) }).pipe(
            Effect.provideService(LanguageModel.LanguageModel, llm),
            Deadline.at(deadline - assemblyMarginMs),
            Effect.withSpan("Agent.llm")
          )
        )
        llmMs = round((yield* nowMs) - t0)
        if (Exit.isSuccess(exit) && exit.value.text.trim() !== "") text = exit.value.text.trim()
        else llmProblem = Exit.isSuccess(exit) ? "empty reply" : describeCause(exit.cause)
      }
      const reports = outcomes.map((o) =>
        new SourceReport({ name: o.name, status: o.status, ms: o.ms, ...(o.error === undefined ? {} : { error: o.error }) })
      )
      let synthesis: Synthesis = "llm"
      if (text === undefined) {
        if (contexts.length === 0) return yield* new NoAnswer({ query, sources: reports, llm: llmProblem })
        synthesis = "extractive"
        text = yield* Effect.sync(() => extractive(contexts)).pipe(Effect.withSpan("Agent.extractive"))
      }

      const end = yield* nowMs
      const record = (f: (o: Outcome) => number | undefined) =>
        Object.fromEntries(outcomes.flatMap((o) => {
          const v = f(o)
          return v === undefined ? [] : [[o.name, v]]
        }))
      const critical = criticalPath(outcomes, cores)
      const degraded = synthesis !== "llm" || outcomes.some((o) => o.status !== "ok")
      yield* Effect.annotateCurrentSpan({ degraded, synthesis })
      return new Answer({
        text,
        sources: reports,
        timings: new Timings({
          fetch: record((o) => o.fetchMs),
          process: record((o) => o.processMs),
          cpu: record((o) => o.cpuMs),
          context: round(contextDone - startMs),
          llm: llmMs,
          total: round(end - startMs),
          bound: round(critical + llmMs)
        }),
        degraded,
        synthesis
      })
    })

    return Agent.of({ answer, sources: running })
  })
}

/**
 * The agent as a layer over its dependencies: its sources are built from their
 * definitions and `HYBRID_<NAME>_*` configuration (a missing URL is a `ConfigError`).
 * Bad options throw `InvalidOption` at once.
 *
 * @example
 * ```ts
 * import { Layer } from "effect"
 * import { NodeHttpClient } from "@effect/platform-node"
 * import { Agent, KnowledgeBase, OpenAi, Processing, Weather } from "@hybrid/agent"
 *
 * // two sources only, over HYBRID_WEATHER_URL, HYBRID_KB_URL and OPENAI_BASE_URL
 * const layer = Agent.layer({ sources: [Weather.source, KnowledgeBase.source] }).pipe(
 *   Layer.provide([OpenAi.layer, Processing.layerNode()]),
 *   Layer.provide(NodeHttpClient.layerUndici)
 * )
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options = {}): Layer.Layer<Agent, Config.ConfigError, Dependencies> =>
  Layer.effect(Agent, make(options))
