/**
 * The capstone agent — the course's "Grand Finale" as one Effect service: answer a
 * query from Weather, News and a Knowledge Base within a time budget, processing each
 * response on the CPU as soon as it arrives, and synthesising with an LLM.
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
 * Services needed (`Agent.layer`): `Weather`, `News`, `KnowledgeBase`, `LanguageModel`
 * and a `Runner` serving `Processing.Tasks`. `Agent.layerFixtures` wires all of it over
 * the fixture servers for the demo, the tests and the CLI, with every time — fixture
 * latency, source timeouts, retry backoff, breaker open time, LLM reserve and CPU work —
 * scaled by `scale`.
 *
 * Observability: `Agent.answer` span (attributes `mode`, `budgetMs`, `degraded`,
 * `synthesis`), one `Agent.source` span per source with `Agent.fetch` and `Agent.process`
 * children, `Agent.llm` or `Agent.extractive`.
 *
 * Gotchas:
 * - The weather city is `options.city`, else the first capitalised place after "in",
 *   "at", "near" or "around" in the query, else the layer's `city` ("London"). The news
 *   and knowledge-base searches use the query's content words.
 * - With `Processing.layerInProcess` the CPU work shares the calling thread with the I/O
 *   (it yields every ~5 ms): fine for tests, but only `Processing.layerNode` overlaps CPU
 *   with I/O for real.
 * - `llmReserve` should be the LLM's usual latency with some margin: too small and the
 *   LLM is cut off (extractive answer), too large and the sources lose time.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Agent } from "@hybrid/agent"
 *
 * const program = Effect.gen(function*() {
 *   const answer = yield* Agent.answer("asyncio event loop in Lisbon", { budget: "1 second" })
 *   console.log(answer.text, answer.sources.map((s) => `${s.name}: ${s.status}`), answer.timings.total)
 * }).pipe(Effect.provide(Agent.layerFixtures({ scale: 0.05, faults: { news: { down: true } } })))
 * // weather: ok, news: failed, kb: ok; degraded: true, synthesis: "llm";
 * // total 320–325 ms (measured on the shared 2-core sandbox: context ≈ 265 ms, LLM ≈ 57 ms)
 * ```
 *
 * @since 0.1.0
 */
import * as os from "node:os"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { Cause, Clock, type Config, ConfigProvider, Context, Duration, Effect, Exit, Layer, Option, Schema } from "effect"
import { type EmbeddingModel, LanguageModel } from "effect/ai"
import type { ServeError } from "effect/http/HttpServerError"
import { Deadline, Gather, InvalidOption, type NodeRunner, Runner } from "@hybrid/core"
import * as Fixtures from "./fixtures/Fixtures.ts"
import * as OpenAi from "./llm/OpenAi.ts"
import * as Processing from "./processing/Processing.ts"
import * as KnowledgeBase from "./sources/KnowledgeBase.ts"
import * as News from "./sources/News.ts"
import type * as Source from "./sources/Source.ts"
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
 * One source of an answer: its name (`"weather"`, `"news"`, `"kb"`), status, the
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
 * An answer: the text, every source exactly once (weather, news, kb), the timings, and
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
  /** Time kept for the LLM at the end of the budget. Default 3 seconds. */
  readonly llmReserve?: Duration.Input | undefined
  /** Processing options over `Processing.defaults`. */
  readonly processing?: Partial<Processing.Options> | undefined
  /** The weather city when the query names none. Default `"London"`. */
  readonly city?: string | undefined
  /** News articles asked for. Default 10. */
  readonly newsLimit?: number | undefined
  /** Knowledge-base documents asked for. Default 3. */
  readonly kbLimit?: number | undefined
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
}>()("@hybrid/agent/Agent") {
  /** Same as the module's `layer`. */
  static readonly layer = (options?: Options): Layer.Layer<Agent, never, Dependencies> => layer(options)
  /** Same as the module's `layerFixtures`. */
  static readonly layerFixtures = (options?: FixturesOptions) => layerFixtures(options)
}

/**
 * The services `Agent.layer` needs.
 *
 * @since 0.1.0
 * @category models
 */
export type Dependencies =
  | Weather.Weather
  | News.News
  | KnowledgeBase.KnowledgeBase
  | LanguageModel.LanguageModel
  | Runner.Runner

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

const queryStopwords = new Set(
  ("a about an and any are as at be can could did do does for from give has have how i in is it its me my of on or " +
    "please should tell that the their there these this to was what when where which who why will with would you your " +
    "new latest today now currently").split(" ")
)

/**
 * The place named in a query: the first run of capitalised words after "in", "at",
 * "near" or "around" ("weather in New York today" → "New York").
 *
 * @since 0.1.0
 * @category utils
 */
export const cityOf = (query: string): string | undefined => {
  const match = /\b(?:in|at|near|around)\s+(\p{Lu}[\p{L}'’-]*(?:\s+\p{Lu}[\p{L}'’-]*){0,3})/u.exec(query)
  return match?.[1]?.replace(/['’-]+$/, "")
}

/**
 * What the news and knowledge-base searches are given: the query's content words
 * ("What is new about electric cars?" → "electric cars"); the query itself when it has none.
 *
 * @since 0.1.0
 * @category utils
 */
export const searchTerms = (query: string): string => {
  const words = query.match(/[\p{L}\p{N}][\p{L}\p{N}'’+#.-]*/gu) ?? []
  const kept = words.map((w) => w.replace(/[.'’-]+$/, "")).filter((w) => w !== "" && !queryStopwords.has(w.toLowerCase()))
  return kept.length > 0 ? kept.join(" ") : query.trim().replace(/\s+/g, " ")
}

// --- the agent ---------------------------------------------------------------------------

type Name = "weather" | "news" | "kb"

const labels: Record<Name, string> = { weather: "Weather", news: "News", kb: "Knowledge base" }

interface Outcome {
  readonly name: Name
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

interface Spec {
  readonly name: Name
  readonly fetch: Effect.Effect<ReadonlyArray<Processing.Document>, Source.SourceError>
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

const invalid = (option: string, value: unknown, expected: string): never => {
  throw new InvalidOption({ where: "Agent.layer", option, value: String(value), expected })
}

const millisOf = (where: string, option: string, input: Duration.Input): number => {
  const parsed = typeof input === "number" && Number.isNaN(input) ? Option.none() : Duration.fromInput(input)
  if (Option.isSome(parsed) && Duration.isFinite(parsed.value)) {
    const ms = Duration.toMillis(parsed.value)
    if (ms >= 0) return ms
  }
  throw new InvalidOption({ where, option, value: String(input), expected: "a finite duration ≥ 0" })
}

const positiveInt = (option: string, value: number) =>
  Number.isSafeInteger(value) && value >= 1 ? value : invalid(option, value, "a positive integer")

interface Resolved {
  readonly llmReserveMs: number
  readonly processing: Processing.Options
  readonly city: string
  readonly newsLimit: number
  readonly kbLimit: number
  readonly parallelism: number | undefined
}

const resolve = (options: Options): Resolved => {
  const processing = { ...Processing.defaults, ...options.processing }
  const decoded = Schema.decodeUnknownOption(Processing.Options)(processing)
  if (Option.isNone(decoded)) invalid("processing", JSON.stringify(processing), "valid Processing.Options")
  const city = options.city ?? "London"
  if (city.trim() === "") invalid("city", JSON.stringify(city), "a non-empty city name")
  return {
    llmReserveMs: millisOf("Agent.layer", "llmReserve", options.llmReserve ?? "3 seconds"),
    processing,
    city,
    newsLimit: positiveInt("newsLimit", options.newsLimit ?? 10),
    kbLimit: positiveInt("kbLimit", options.kbLimit ?? 3),
    parallelism: options.parallelism === undefined ? undefined : positiveInt("parallelism", options.parallelism)
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
export const make = (options: Options = {}): Effect.Effect<Agent["Service"], never, Dependencies> => {
  const settings = resolve(options)
  return Effect.gen(function*() {
    const weather = yield* Weather.Weather
    const news = yield* News.News
    const kb = yield* KnowledgeBase.KnowledgeBase
    const llm = yield* LanguageModel.LanguageModel
    const runner = yield* Runner.Runner
    const cores = settings.parallelism ??
      (typeof runner.capacity === "number" ? Math.max(1, Math.min(runner.capacity, os.availableParallelism())) : 1)

    const specs = (query: string, city: string): ReadonlyArray<Spec> => {
      const search = searchTerms(query)
      return [
        {
          name: "weather",
          fetch: Effect.map(weather.fetch(city), (w) => [{
            id: `weather-${w.city}`,
            title: `Weather in ${w.city}`,
            text: w.summary
          }])
        },
        {
          name: "news",
          fetch: Effect.map(news.search(search, { limit: settings.newsLimit }), (n) =>
            n.articles.map((a) => ({ id: a.id, title: a.title, text: `${a.title} (${a.source}). ${a.summary}` })))
        },
        {
          name: "kb",
          fetch: Effect.map(kb.search(search, { limit: settings.kbLimit }), (k) =>
            k.documents.map((d) => ({ id: d.id, title: d.title, text: d.text })))
        }
      ]
    }

    /** One source: fetch, then process; never fails, ends by `until`. */
    const runSource = (spec: Spec, query: string, until: number, mode: Mode): Effect.Effect<Outcome> =>
      Effect.gen(function*() {
        const start = yield* nowMs
        const marks: { fetched?: number; processed?: number } = {}
        const outcome = (status: Status, error?: string, split?: Processing.Split) =>
          Effect.map(nowMs, (end): Outcome => ({
            name: spec.name,
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
          const documents = yield* spec.fetch.pipe(Effect.withSpan("Agent.fetch", { attributes: { source: spec.name } }))
          marks.fetched = yield* nowMs
          const split = yield* Processing.runParts(
            { query, source: spec.name, documents, options: settings.processing },
            { parts: cores, concurrency: mode === "sequential" ? 1 : "unbounded" }
          ).pipe(
            Effect.provideService(Runner.Runner, runner),
            Effect.withSpan("Agent.process", { attributes: { source: spec.name, documents: documents.length } })
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
        Effect.withSpan("Agent.source", { attributes: { source: spec.name } })
      )

    const prompt = (query: string, contexts: ReadonlyArray<Outcome>) => {
      const lines = contexts.flatMap((o) =>
        (o.processed?.chunks ?? []).map((c) => `${labels[o.name]}: ${c.text.replace(/\s+/g, " ")}`)
      )
      return [
        { role: "system" as const, content: "You are a research assistant. Use only the context below and keep the reply short." },
        { role: "user" as const, content: `Context:\n${lines.join("\n")}\n\nQuestion: ${query}` }
      ]
    }

    const extractive = (contexts: ReadonlyArray<Outcome>) =>
      contexts
        .filter((o) => (o.processed?.summary.length ?? 0) > 0)
        .map((o) => `${labels[o.name]}: ${o.processed!.summary.join(" ")}`)
        .join("\n")

    const answer = Effect.fn("Agent.answer")(function*(query: string, options: AnswerOptions) {
      const budgetMs = millisOf("Agent.answer", "budget", options.budget)
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

      const city = options.city ?? cityOf(query) ?? settings.city
      const sources = specs(query, city)
      const exits = mode === "sequential"
        ? yield* Effect.forEach(sources, (s) => Effect.exit(runSource(s, query, contextEnd, mode)), { concurrency: 1 })
        : yield* Gather.settle(sources.map((s) => runSource(s, query, contextEnd, mode)))
      const outcomes = exits.map((exit, i): Outcome =>
        Exit.isSuccess(exit) ? exit.value : {
          name: sources[i]!.name,
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

    return Agent.of({ answer })
  })
}

/**
 * The agent as a layer over its dependencies. Bad options throw `InvalidOption` at once.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options = {}): Layer.Layer<Agent, never, Dependencies> => Layer.effect(Agent, make(options))

// --- over the fixtures -------------------------------------------------------------------

/**
 * Options of `layerFixtures`: the fixtures' own options, where processing runs, and the
 * agent's options (over the scaled defaults).
 *
 * @since 0.1.0
 * @category models
 */
export interface FixturesOptions extends Fixtures.Options {
  /** `"node"` (default): worker threads; `"in-process"`: the calling thread. */
  readonly runner?: "node" | "in-process" | undefined
  /** Worker threads for `"node"`; default `os.availableParallelism()`. */
  readonly workers?: number | undefined
  /** Agent options; `llmReserve` defaults to 3 s × scale, `processing.projections` to `Processing.projectionsAt(scale)`. */
  readonly agent?: Options | undefined
}

/**
 * The configuration defaults `layerFixtures` lays under the environment: the sources'
 * and the LLM's times scaled like the fixtures (per-attempt timeout 5 s, retry base
 * 200 ms, breaker open 30 s, LLM timeout 60 s and rate window 1 minute, all × `scale`).
 * Variables that are set still win.
 *
 * @since 0.1.0
 * @category config
 */
export const scaledConfig = (scale: number): Record<string, string> => {
  const ms = (base: number) => `${Math.max(1, Math.round(base * scale))} millis`
  const out: Record<string, string> = {
    HYBRID_LLM_TIMEOUT: ms(60_000),
    HYBRID_LLM_RATE_WINDOW: ms(60_000)
  }
  for (const name of ["WEATHER", "NEWS", "KB"]) {
    out[`HYBRID_${name}_TIMEOUT`] = ms(5_000)
    out[`HYBRID_${name}_RETRY_BASE`] = ms(200)
    out[`HYBRID_${name}_BREAKER_OPEN`] = ms(30_000)
  }
  return out
}

/**
 * Everything the agent needs, over the fixture servers: `Fixtures`, the three sources
 * and the OpenAI provider (on an undici `HttpClient`, configured from the environment
 * over `scaledConfig(scale)`), a processing `Runner` (worker threads unless `runner:
 * "in-process"`), and the `Agent` with its LLM reserve and CPU work scaled too. The
 * servers and workers live as long as the layer.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerFixtures = (options: FixturesOptions = {}): Layer.Layer<
  | Agent
  | Fixtures.Fixtures
  | Weather.Weather
  | News.News
  | KnowledgeBase.KnowledgeBase
  | LanguageModel.LanguageModel
  | EmbeddingModel.EmbeddingModel
  | OpenAi.Client
  | Runner.Runner,
  InvalidOption | ServeError | Config.ConfigError | Runner.RunnerError
> => {
  const { agent, runner, workers, ...fixtureOptions } = options
  const scale = typeof options.scale === "number" && Number.isFinite(options.scale) && options.scale > 0 ? options.scale : 1
  const services = Layer.mergeAll(
    Weather.Weather.layer,
    News.News.layer,
    KnowledgeBase.KnowledgeBase.layer,
    OpenAi.layer
  ).pipe(
    Layer.provideMerge(Fixtures.layer(fixtureOptions)),
    Layer.provide(NodeHttpClient.layerUndici),
    Layer.provide(ConfigProvider.layerAdd(ConfigProvider.fromUnknown(scaledConfig(scale))))
  )
  const processing: Layer.Layer<Runner.Runner | NodeRunner.Pool, Runner.RunnerError> | Layer.Layer<Runner.Runner> =
    runner === "in-process" ? Processing.layerInProcess() : Processing.layerNode({ size: workers })
  return layer({
    ...agent,
    llmReserve: agent?.llmReserve ?? Duration.millis(3_000 * scale),
    processing: { projections: Processing.projectionsAt(scale), ...agent?.processing }
  }).pipe(Layer.provideMerge(Layer.mergeAll(services, processing)))
}
