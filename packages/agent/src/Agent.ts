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
import { Cause, Clock, type Config, Context, type Duration, Effect, Exit, Layer, Option, Queue, Result, Schema, type Scope, Stream } from "effect"
import { LanguageModel } from "effect/ai"
import type { HttpClient } from "effect/http"
import { Deadline, InvalidOption, Options as Check, Runner } from "@hybrid/core"
import * as Plan from "./Plan.ts"
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
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import { Agent } from "@hybrid/agent"
 *
 * const missing = (answer: Agent.Answer) => answer.sources.filter((s) => s.status !== "ok").map((s) => s.name)
 * const isStatus = Schema.is(Agent.Status) // (u: unknown) => u is Agent.Status
 * ```
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
 * @example
 * ```ts
 * import { Agent } from "@hybrid/agent"
 *
 * const line = (r: Agent.SourceReport) => `${r.name}: ${r.status} in ${r.ms} ms${r.error === undefined ? "" : ` (${r.error})`}`
 * const report = new Agent.SourceReport({ name: "news", status: "timeout", ms: 1200, error: "no answer within 1.2 s" })
 * ```
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
 * @example
 * ```ts
 * import { Agent } from "@hybrid/agent"
 *
 * // how close the call came to the critical path of its own stages
 * const efficiency = (t: Agent.Timings) => `${t.total} ms for a bound of ${t.bound} ms (×${(t.total / t.bound).toFixed(2)})`
 * ```
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
 * @example
 * ```ts
 * import { Agent } from "@hybrid/agent"
 *
 * const label = (s: Agent.Synthesis) => s === "llm" ? "written by the model" : "extracted from the sources"
 * ```
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
 * @example
 * ```ts
 * import { Effect, Schema } from "effect"
 * import { Agent, Fixtures } from "@hybrid/agent"
 *
 * // an Answer is a Schema class: encode it to send it as JSON
 * const json = Agent.answer("What is the weather in Lisbon?", { budget: "2 seconds" }).pipe(
 *   Effect.flatMap(Schema.encodeEffect(Agent.Answer)),
 *   Effect.provide(Fixtures.layerAgent({ scale: 0.05, runner: "in-process" }))
 * )
 * ```
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
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Agent } from "@hybrid/agent"
 *
 * const text = Agent.answer("What is new about electric cars?", { budget: "2 seconds" }).pipe(
 *   Effect.map((answer) => answer.text),
 *   Effect.catchTag("NoAnswer", (e) => Effect.succeed(`Sorry, no source answered (llm: ${e.llm}).`))
 * )
 * ```
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

// --- events ------------------------------------------------------------------------------

/**
 * A source settled — answered and processed (`ok`), or left out — with its report.
 *
 * @example
 * ```ts
 * import { Effect, Schema, Stream } from "effect"
 * import { Agent } from "@hybrid/agent"
 *
 * const progress = Agent.stream("Will it rain in Oslo?", { budget: "2 seconds" }).pipe(
 *   Stream.filter(Schema.is(Agent.SourceSettled)),
 *   Stream.runForEach(({ report }) => Effect.log(`${report.name}: ${report.status}`))
 * )
 * ```
 *
 * @since 0.1.0
 * @category events
 */
export const SourceSettled = Schema.TaggedStruct("SourceSettled", { report: SourceReport })

/**
 * Every source has settled: the context phase took `ms`, `ok` sources are in it.
 *
 * @example
 * ```ts
 * import { Agent } from "@hybrid/agent"
 *
 * const done = Agent.ContextDone.make({ ms: 412, ok: 3 })
 * const describe = (e: typeof Agent.ContextDone.Type) => `${e.ok} sources in ${e.ms} ms, now asking the LLM`
 * ```
 *
 * @since 0.1.0
 * @category events
 */
export const ContextDone = Schema.TaggedStruct("ContextDone", { ms: Schema.Number, ok: Schema.Number })

/**
 * A piece of the LLM's text, as it arrives.
 *
 * @example
 * ```ts
 * import { Effect, Schema, Stream } from "effect"
 * import { Agent } from "@hybrid/agent"
 *
 * // print the LLM's text as it arrives
 * const typing = Agent.stream("What do experts say about e-bikes?", { budget: "3 seconds" }).pipe(
 *   Stream.filter(Schema.is(Agent.Token)),
 *   Stream.runForEach(({ text }) => Effect.sync(() => process.stdout.write(text)))
 * )
 * ```
 *
 * @since 0.1.0
 * @category events
 */
export const Token = Schema.TaggedStruct("Token", { text: Schema.String })

/**
 * The answer: the last event of a stream that succeeds.
 *
 * @example
 * ```ts
 * import { Effect, Schema, Stream } from "effect"
 * import { Agent } from "@hybrid/agent"
 *
 * const final = Agent.stream("Weather in Berlin?", { budget: "2 seconds" }).pipe(
 *   Stream.filter(Schema.is(Agent.Done)),
 *   Stream.runHead,
 *   Effect.map((done) => done._tag === "Some" ? done.value.answer.text : "")
 * )
 * ```
 *
 * @since 0.1.0
 * @category events
 */
export const Done = Schema.TaggedStruct("Done", { answer: Answer })

/**
 * What `Agent.stream` emits, in order: a `SourceSettled` per source as it settles, one
 * `ContextDone`, the LLM's `Token`s (none for an extractive answer), then `Done` with
 * the `Answer`. A Schema, so a server can send each event as JSON (server-sent events).
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import { Agent } from "@hybrid/agent"
 *
 * // one server-sent event per agent event
 * const toSse = (event: Agent.Event) => `event: ${event._tag}\ndata: ${JSON.stringify(Schema.encodeSync(Agent.Event)(event))}\n\n`
 * ```
 *
 * @since 0.1.0
 * @category events
 */
export const Event = Schema.Union([SourceSettled, ContextDone, Token, Done])
/** @since 0.1.0 @category events */
export type Event = typeof Event.Type

/**
 * `"hybrid"` (default): all sources at once, each processed as it arrives.
 * `"sequential"`: the same steps one after another.
 *
 * @example
 * ```ts
 * import { Agent } from "@hybrid/agent"
 *
 * // the same query both ways, to see what concurrency buys
 * const modes: ReadonlyArray<Agent.Mode> = ["sequential", "hybrid"]
 * const runs = modes.map((mode) => Agent.answer("Weather in Oslo?", { budget: "5 seconds", mode }))
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type Mode = "hybrid" | "sequential"

/**
 * The options of one answer: its time budget, the mode, and the weather city.
 *
 * @example
 * ```ts
 * import { Agent } from "@hybrid/agent"
 *
 * const options: Agent.AnswerOptions = { budget: "1500 millis", city: "Porto" }
 * const answer = Agent.answer("Should I take an umbrella?", options)
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface AnswerOptions {
  /**
   * The time for the whole call: fetches, processing, LLM. Not a finite duration ≥ 0:
   * the answer fails with `InvalidOption` naming it.
   */
  readonly budget: Duration.Input
  readonly mode?: Mode | undefined
  /** The weather city; default: a place named in the query, else the layer's `city`. */
  readonly city?: string | undefined
}

/**
 * The agent's settings.
 *
 * @example
 * ```ts
 * import { Agent, KnowledgeBase, Weather } from "@hybrid/agent"
 *
 * // two sources instead of three, and more time kept for the LLM
 * const options: Agent.Options = { sources: [Weather.source, KnowledgeBase.source], llmReserve: "4 seconds", city: "Paris" }
 * const agent = Agent.layer(options)
 * ```
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
 * The agent as a service: `answer` and `stream` a query within a budget, over its running
 * `sources`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Agent } from "@hybrid/agent"
 *
 * const program = Effect.gen(function*() {
 *   const agent = yield* Agent.Agent
 *   const answer = yield* agent.answer("Weather in Lisbon?", { budget: "2 seconds" })
 *   return `${answer.text} (${agent.sources.length} sources)`
 * })
 * ```
 *
 * @since 0.1.0
 * @category services
 */
export class Agent extends Context.Service<Agent, {
  /** Answers `query` within `options.budget`; see the module comment. The last event of `stream`. */
  readonly answer: (query: string, options: AnswerOptions) => Effect.Effect<Answer, NoAnswer | InvalidOption>
  /** The answer as it is made: see `Event`. */
  readonly stream: (query: string, options: AnswerOptions) => Stream.Stream<Event, NoAnswer | InvalidOption>
  /** The running sources, in the order of their definitions (their settings and circuits). */
  readonly sources: ReadonlyArray<Source.Source>
}>()("@hybrid/agent/Agent") {
  /** Same as the module's `layer`. */
  static readonly layer = (options?: Options): Layer.Layer<Agent, Config.ConfigError, Dependencies> => layer(options)
}

/**
 * The services `Agent.layer` needs.
 *
 * @example
 * ```ts
 * import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
 * import { Layer } from "effect"
 * import { Runner } from "@hybrid/core"
 * import { Agent, OpenAi } from "@hybrid/agent"
 *
 * // what Agent.layer needs: an HTTP client, a language model and a Runner for the CPU work
 * declare const runner: Layer.Layer<Runner.Runner>
 * const dependencies: Layer.Layer<Agent.Dependencies, unknown> = Layer.mergeAll(
 *   NodeHttpClient.layerUndici,
 *   OpenAi.layer.pipe(Layer.provide(NodeHttpClient.layerUndici)),
 *   runner
 * )
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type Dependencies = HttpClient.HttpClient | LanguageModel.LanguageModel | Runner.Runner

/**
 * The capstone's sources: Weather, News (10 articles), Knowledge base (3 documents).
 *
 * @example
 * ```ts
 * import { Agent, Source } from "@hybrid/agent"
 *
 * declare const tickets: Source.Definition
 * // the default three, plus one of your own
 * const agent = Agent.layer({ sources: [...Agent.defaultSources, tickets] })
 * ```
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultSources: ReadonlyArray<Source.Definition> = [Weather.source, News.source, KnowledgeBase.source]

/**
 * Answers `query` with the current `Agent`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Agent, Fixtures } from "@hybrid/agent"
 *
 * const program = Agent.answer("What is new about electric cars, and will it rain in Oslo?", { budget: "2 seconds" }).pipe(
 *   Effect.tap((answer) => Effect.log(answer.text, answer.degraded ? "(degraded)" : "")),
 *   Effect.provide(Fixtures.layerAgent({ scale: 0.05, runner: "in-process" }))
 * )
 * ```
 *
 * @since 0.1.0
 * @category accessors
 */
export const answer = (query: string, options: AnswerOptions): Effect.Effect<Answer, NoAnswer | InvalidOption, Agent> =>
  Agent.use((agent) => agent.answer(query, options))

/**
 * The events of answering `query` with the current `Agent` (see `Event`).
 *
 * @example
 * ```ts
 * import { Effect, Stream } from "effect"
 * import { Agent, Fixtures } from "@hybrid/agent"
 *
 * const program = Agent.stream("Will it rain in Oslo?", { budget: "2 seconds" }).pipe(
 *   Stream.runForEach((event) => Effect.log(event._tag)), // SourceSettled ×3, ContextDone, Token…, Done
 *   Effect.provide(Fixtures.layerAgent({ scale: 0.05, runner: "in-process" }))
 * )
 * ```
 *
 * @since 0.1.0
 * @category accessors
 */
export const stream = (query: string, options: AnswerOptions): Stream.Stream<Event, NoAnswer | InvalidOption, Agent> =>
  Stream.unwrap(Agent.useSync((agent) => agent.stream(query, options)))

// --- query helpers -----------------------------------------------------------------------

/**
 * The capstone's sample queries (`hybrid demo`, the `agent` benchmark, lesson 06): each
 * asks about one part of this project (the fixture knowledge base is its documentation),
 * a news topic and a city's weather, so every source has something to say. A test checks
 * which passage of the docs the knowledge base ranks first for each.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Agent } from "@hybrid/agent"
 *
 * const all = Effect.forEach(Agent.sampleQueries, (query) => Agent.answer(query, { budget: "3 seconds" }))
 * ```
 *
 * @since 0.1.0
 * @category constants
 */
export const sampleQueries: ReadonlyArray<string> = [
  "What does Deadline.within do, and will it rain in Lisbon?",
  "How does Retry use a Retry-After header, and what is new about electric cars?",
  "When does a circuit breaker open, and should I cycle to work in Amsterdam today?",
  "How does a TaskGroup cancel its children when one fails, and what is new about remote work in Berlin?",
  "How does Hedge cut tail latency, and is it snowing in Oslo?"
]

// --- the agent ---------------------------------------------------------------------------

/** What one source came to: its report's facts, kept typed until the report is made. */
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
  /** Why it is not `ok`: the typed error of the stage that stopped it. */
  readonly error: Source.SourceError | Runner.RunError | Deadline.DeadlineExceeded | Cause.Cause<unknown> | undefined
  /** In which stage it stopped. */
  readonly stage: "fetch" | "processing"
  /** The documents, once fetched (an extractive answer can use them when processing was cut). */
  readonly documents: ReadonlyArray<Processing.Document> | undefined
  readonly processed: Processing.Processed | undefined
}

const nowMs = Effect.map(Clock.currentTimeNanos, (n) => Number(n) / 1e6)
const round = (ms: number) => Math.round(ms * 10) / 10

const describeCause = (cause: Cause.Cause<unknown>): string => {
  const error = Cause.squash(cause)
  return error instanceof Error ? error.message : String(error)
}

/** The report's `error` text: what stopped the source, without its name and reason. */
const errorText = (o: Outcome): string | undefined => {
  const e = o.error
  if (e === undefined) return undefined
  if (Cause.isCause(e)) return `${o.stage}: ${describeCause(e)}`
  switch (e._tag) {
    case "SourceError": {
      const status = e.status === undefined ? "" : ` ${e.status}`
      const attempts = e.attempts === undefined ? "" : ` (${e.attempts} attempt${e.attempts === 1 ? "" : "s"})`
      return `${e.kind}${status}: ${e.detail}${attempts}`
    }
    case "DeadlineExceeded":
      return `${o.stage} did not finish before the deadline`
    default:
      return `processing: ${e.message}`
  }
}

const statusOf = (error: NonNullable<Outcome["error"]>): Status => {
  if (Cause.isCause(error)) return "failed"
  return error._tag === "SourceError" ? error.reason : error._tag === "DeadlineExceeded" || error._tag === "TaskTimeout" ? "timeout" : "failed"
}

const reportOf = (o: Outcome): SourceReport => {
  const error = errorText(o)
  return new SourceReport({ name: o.name, status: o.status, ms: o.ms, ...(error === undefined ? {} : { error }) })
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

/** What every step of an answer shares. */
interface Env {
  readonly settings: Resolved
  readonly runner: Runner.Runner["Service"]
  readonly cores: number
}

/** One source: fetch, then process, by `until`; never fails. */
const runSource = (env: Env, source: Source.Source, query: Query.Query, until: number, mode: Mode): Effect.Effect<Outcome> =>
  Effect.gen(function*() {
    const { name } = source.definition
    const start = yield* nowMs
    const marks: { fetched?: number; processed?: number; documents?: ReadonlyArray<Processing.Document> } = {}
    const steps = Effect.gen(function*() {
      const documents = yield* source.documents(query).pipe(Effect.withSpan("Agent.fetch", { attributes: { source: name } }))
      marks.fetched = yield* nowMs
      marks.documents = documents
      const split = yield* Processing.runParts(
        { query: query.text, source: name, documents, options: env.settings.processing },
        { parts: env.cores, concurrency: mode === "sequential" ? 1 : "unbounded" }
      ).pipe(
        Effect.provideService(Runner.Runner, env.runner),
        Effect.withSpan("Agent.process", { attributes: { source: name, documents: documents.length } })
      )
      marks.processed = yield* nowMs
      return split
    })
    const exit = yield* Effect.exit(steps.pipe(Deadline.at(until)))
    const end = yield* nowMs
    const split = Exit.isSuccess(exit) ? exit.value : undefined
    const error = Exit.isSuccess(exit) ? undefined : Option.getOrElse(Cause.findErrorOption(exit.cause), () => exit.cause)
    return {
      name,
      label: source.definition.label,
      status: error === undefined ? "ok" : statusOf(error),
      ms: round(end - start),
      fetchMs: round((marks.fetched ?? end) - start),
      processMs: marks.fetched === undefined ? undefined : round((marks.processed ?? end) - marks.fetched),
      cpuMs: split?.processed.cpuMs,
      tasksMs: split?.tasksMs ?? [],
      error,
      stage: marks.fetched === undefined ? "fetch" : "processing",
      documents: marks.documents,
      processed: split?.processed
    } satisfies Outcome
  }).pipe(
    Effect.tap((o) => Effect.annotateCurrentSpan({ status: o.status })),
    Effect.withSpan("Agent.source", { attributes: { source: source.definition.name } })
  )

/** The LLM's prompt: the top chunks of every processed source, labelled. */
const prompt = (query: string, outcomes: ReadonlyArray<Outcome>) => {
  const lines = outcomes.flatMap((o) => (o.processed?.chunks ?? []).map((c) => `${o.label}: ${c.text.replace(/\s+/g, " ")}`))
  return [
    { role: "system" as const, content: "You are a research assistant. Use only the context below and keep the reply short." },
    { role: "user" as const, content: `Context:\n${lines.join("\n")}\n\nQuestion: ${query}` }
  ]
}

/** The first two sentences of a text, at most 300 characters. */
const lead = (text: string) => (text.replace(/\s+/g, " ").match(/[^.!?]+[.!?]+/g)?.slice(0, 2).join("") ?? text).slice(0, 300).trim()

/**
 * The extractive answer: each source's processed summary, or — when its documents
 * arrived but processing was cut — the lead of its first document.
 */
const extractive = (outcomes: ReadonlyArray<Outcome>): string =>
  outcomes.flatMap((o) => {
    if ((o.processed?.summary.length ?? 0) > 0) return [`${o.label}: ${o.processed!.summary.join(" ")}`]
    const first = o.documents?.[0]
    return first === undefined ? [] : [`${o.label}: ${lead(first.text)}`]
  }).join("\n")

/** Whether anything arrived to answer from (processed, or at least fetched). */
const arrived = (o: Outcome) => o.processed !== undefined || (o.documents?.length ?? 0) > 0

/**
 * The LLM's answer, streamed: each text delta emitted as a `Token`; the text, or why
 * there is none.
 */
const synthesize = (
  llm: LanguageModel.LanguageModel,
  query: string,
  outcomes: ReadonlyArray<Outcome>,
  until: number,
  emit: (event: Event) => Effect.Effect<void>
) =>
  Effect.gen(function*() {
    const exit = yield* Effect.exit(
      LanguageModel.streamText({ prompt: prompt(query, outcomes) }).pipe(
        Stream.filterMap((part) => part.type === "text-delta" && part.delta !== "" ? Result.succeed(part.delta) : Result.fail(part)),
        Stream.tap((text) => emit(Token.make({ text }))),
        Stream.mkString,
        Effect.provideService(LanguageModel.LanguageModel, llm),
        Deadline.at(until),
        Effect.withSpan("Agent.llm")
      )
    )
    const text = Exit.isSuccess(exit) ? exit.value.trim() : ""
    if (text !== "") return { text, problem: undefined }
    return { text: undefined, problem: Exit.isSuccess(exit) ? "empty reply" : describeCause(exit.cause) }
  })

/** The timings of an answer (see `Timings`). */
const timingsOf = (outcomes: ReadonlyArray<Outcome>, cores: number, ms: { context: number; llm: number; total: number }) => {
  const record = (f: (o: Outcome) => number | undefined) =>
    Object.fromEntries(outcomes.flatMap((o) => {
      const v = f(o)
      return v === undefined ? [] : [[o.name, v]]
    }))
  return new Timings({
    fetch: record((o) => o.fetchMs),
    process: record((o) => o.processMs),
    cpu: record((o) => o.cpuMs),
    context: round(ms.context),
    llm: ms.llm,
    total: round(ms.total),
    bound: round(criticalPath(outcomes, cores) + ms.llm)
  })
}

/** The budget as milliseconds, or `InvalidOption` naming it. */
const budgetOf = (budget: Duration.Input): Effect.Effect<number, InvalidOption> =>
  Effect.try({
    try: () => Check.duration("Agent.answer", "budget", budget),
    catch: (e) => e instanceof InvalidOption ? e : new InvalidOption({ where: "Agent.answer", option: "budget", value: String(budget), expected: "a finite duration ≥ 0" })
  })

/**
 * One answer, top to bottom, each step's events emitted as it happens: plan the stages
 * from the budget, run the sources to the context deadline (each reported as it
 * settles), ask the LLM if the plan says so, else answer extractively.
 */
const run = (env: Env, running: ReadonlyArray<Source.Source>, llm: LanguageModel.LanguageModel) =>
  (query: string, options: AnswerOptions, emit: (event: Event) => Effect.Effect<void>) =>
    Effect.gen(function*() {
      const budgetMs = yield* budgetOf(options.budget)
      const mode: Mode = options.mode ?? "hybrid"
      const t0 = yield* nowMs
      const start = yield* Clock.currentTimeMillis
      // the deadline the stages inherit: the budget, or an earlier one of the caller's
      const deadline = (yield* Deadline.Current.pipe(
        Deadline.within(budgetMs),
        Effect.catchTag("DeadlineExceeded", () => Effect.succeed(start))
      )) ?? start + budgetMs
      const plan = Plan.make({ start, deadline, llmReserveMs: env.settings.llmReserveMs })
      yield* Effect.annotateCurrentSpan({ mode, budgetMs, contextMs: plan.contextEnd - start })

      const asked = Query.make(query, { city: options.city, fallbackCity: env.settings.city })
      const one = (s: Source.Source) =>
        runSource(env, s, asked, plan.contextEnd, mode).pipe(Effect.tap((o) => emit(SourceSettled.make({ report: reportOf(o) }))))
      const outcomes = yield* Effect.forEach(running, one, { concurrency: mode === "sequential" ? 1 : "unbounded" })
      const contextMs = (yield* nowMs) - t0
      const processed = outcomes.filter((o) => o.status === "ok")
      yield* emit(ContextDone.make({ ms: round(contextMs), ok: processed.length }))

      const now = yield* Clock.currentTimeMillis
      const t1 = yield* nowMs
      const asksLlm = Plan.askLlm(plan, now, env.settings.llmReserveMs, { arrived: outcomes.some(arrived) })
      const llmAnswer = asksLlm
        ? yield* synthesize(llm, query, processed, plan.llmEnd, emit)
        : { text: undefined, problem: "not asked: too little time left" }
      const llmMs = asksLlm ? round((yield* nowMs) - t1) : 0

      const reports = outcomes.map(reportOf)
      const synthesis: Synthesis = llmAnswer.text === undefined ? "extractive" : "llm"
      const text = llmAnswer.text ?? (yield* Effect.sync(() => extractive(outcomes)).pipe(Effect.withSpan("Agent.extractive")))
      if (text === "") return yield* new NoAnswer({ query, sources: reports, llm: llmAnswer.problem ?? "empty reply" })
      const degraded = synthesis !== "llm" || outcomes.some((o) => o.status !== "ok")
      yield* Effect.annotateCurrentSpan({ degraded, synthesis })
      const timings = timingsOf(outcomes, env.cores, { context: contextMs, llm: llmMs, total: (yield* nowMs) - t0 })
      return new Answer({ text, sources: reports, timings, degraded, synthesis })
    }).pipe(Effect.withSpan("Agent.answer"))

/**
 * Builds the agent from its dependencies: one running source per definition.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Agent, Fixtures } from "@hybrid/agent"
 *
 * const program = Effect.gen(function*() {
 *   const agent = yield* Agent.Agent
 *   return agent.sources.map((s) => s.settings.name) // ["weather", "news", "kb"]
 * }).pipe(Effect.provide(Fixtures.layerAgent({ scale: 0.05, runner: "in-process" })))
 * ```
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
    const answerWith = run({ settings, runner, cores }, running, llm)
    const stream = (query: string, options: AnswerOptions): Stream.Stream<Event, NoAnswer | InvalidOption> =>
      Stream.callback<Event, NoAnswer | InvalidOption>((queue) =>
        answerWith(query, options, (event) => Effect.asVoid(Queue.offer(queue, event))).pipe(
          Effect.flatMap((answer) => Queue.offer(queue, Done.make({ answer }))),
          Queue.into(queue)
        )
      )
    return Agent.of({ answer: (query, options) => answerOf(stream(query, options)), stream, sources: running })
  })
}

/**
 * The `Answer` a stream of events ends with (its `Done`), the stream's own failure
 * otherwise: what `answer` is, over `stream`.
 *
 * @example
 * ```ts
 * import { Effect, Stream } from "effect"
 * import { Agent } from "@hybrid/agent"
 *
 * // print the sources as they settle, and keep the answer
 * const answer = Agent.answerOf(
 *   Agent.stream("Will it rain in Oslo?", { budget: "5 seconds" }).pipe(
 *     Stream.tap((e) => e._tag === "SourceSettled" ? Effect.log(`${e.report.name} ${e.report.status}`) : Effect.void)
 *   )
 * )
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const answerOf = <E, R>(events: Stream.Stream<Event, E, R>): Effect.Effect<Answer, E, R> =>
  Stream.runLast(events).pipe(
    Effect.flatMap((last) =>
      Option.isSome(last) && last.value._tag === "Done" ? Effect.succeed(last.value.answer) : Effect.die("Agent.stream ended without its Answer")
    )
  )

/**
 * The agent as a layer over its dependencies: its sources are built from their
 * definitions and `HYBRID_<NAME>_*` configuration (a missing URL is a `ConfigError`).
 * Bad options throw `InvalidOption` at once.
 *
 * @example
 * ```ts
 * import { Layer } from "effect"
 * import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
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
