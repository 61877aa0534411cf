/**
 * The agent's CPU work — what it does with each source's response before the LLM sees
 * it, declared as a `Task` so it runs on a `Runner`: in worker threads
 * (`Processing.layerNode`, the capstone's `InterpreterPoolExecutor`) or on the calling
 * thread (`Processing.layerInProcess`, for tests).
 *
 * `ProcessSource { query, source, documents, options }` → `Processed { chunks, summary,
 * tokens, … }` does real work, no busy loops:
 *
 * 1. BPE-tokenizes every document (`gpt-tokenizer`, `o200k_base`: the same tokenizer as
 *    `Batch` and the OpenAI provider) and cuts it into chunks of whole sentences of at
 *    most `chunkTokens` tokens;
 * 2. ranks the chunks against the query with BM25 (the source's chunks as the corpus) and
 *    the cosine of hashing-trick embeddings (terms, term pairs and character trigrams
 *    hashed into `dimensions` signed buckets), combined half and half;
 * 3. summarises extractively: TextRank over each document's sentence-similarity graph,
 *    mixed with each sentence's similarity to the query.
 *
 * The CPU cost knob is `projections`: each text is embedded that many times with
 * independent hash functions and the similarities are averaged (less collision noise,
 * proportionally more work — a stand-in for a bigger embedding model). Measured on the
 * 2-core sandbox with the fixture data of the demo's first sample query (weather: one
 * report, news: 10 articles, knowledge base: 3 passages of the docs), `pnpm demo` at
 * scale 1 beside other work (load 3.5–4.3): CPU on the workers weather 0.12 s, news
 * 1.02 s, kb 2.78 s; in one process ≈ 0.04–0.09 / 0.34–0.45 / 0.85–1.6 ms per
 * projection. So `projectionsAt(1)` (`1_700`) makes one query's processing ≈ 2.5–4 s
 * of CPU — the capstone's share — and `projectionsAt(scale)` scales it with `scale`.
 *
 * Splitting: `runParts` processes a source as several `ProjectPart` tasks (the
 * projections divided evenly) and one `MergeParts`, so a large source uses every worker
 * (the agent splits each source into as many parts as the runner has workers).
 *
 * Gotchas:
 * - Results are deterministic except `cpuMs`; the handler yields every ~5 ms, so a
 *   cancelled call stops promptly in a worker, and an in-process runner still lets
 *   I/O fibers run between slices (it shares their thread, so it still slows them).
 * - `processing.worker.ts` is loaded by Node directly: everything it imports is erasable
 *   TypeScript with `.ts` import extensions.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Processing } from "@hybrid/agent"
 *
 * const program = Processing.run({
 *   query: "event loop",
 *   source: "kb",
 *   documents: [{ id: "d1", title: "Asyncio", text: "The event loop runs coroutines. Paris is in France." }],
 *   options: Processing.defaults
 * }).pipe(Effect.provide(Processing.layerNode({ size: 2 })))
 * // Effect.runPromise(program) → { chunks: [{ text: "The event loop runs coroutines. …", … }], summary: […], … }
 * ```
 *
 * @since 0.1.0
 */
import * as os from "node:os"
import { Context, Effect, Layer } from "effect"
import { NodeRunner, Runner } from "@hybrid/core"
import { handlers, roundMs } from "./handlers.ts"
import { type Input, MergeParts, type Options, type Processed, ProcessSource, ProjectPart, Tasks } from "./tasks.ts"

export {
  /**
   * @example
   * ```ts
   * import { Processing } from "@hybrid/agent"
   *
   * declare const input: Processing.Input
   * // the three steps of processSource, run by hand: prepare, project, finish
   * const state = Processing.prepare(input)
   * Processing.project(state)
   * const processed = Processing.finish(state, 0)
   * ```
   *
   * @since 0.1.0
   * @category steps
   */
  finish,
  /**
   * @example
   * ```ts
   * import { Runner } from "@hybrid/core"
   * import { Processing } from "@hybrid/agent"
   *
   * // the handlers the processing worker serves, here in process (what layerInProcess does)
   * const inProcess = Runner.layerInProcess(Processing.Tasks, Processing.handlers)
   * ```
   *
   * @since 0.1.0
   * @category handlers
   */
  handlers,
  /**
   * @example
   * ```ts
   * import { Processing } from "@hybrid/agent"
   *
   * declare const input: Processing.Input
   * // a source's projections split in two parts (on two cores), then merged
   * const parts = Processing.ranges(input.options.projections, 2).map(([from, to]) => Processing.projectPart({ input, from, to }))
   * const processed = Processing.mergeParts({ input, parts })
   * ```
   *
   * @since 0.1.0
   * @category steps
   */
  mergeParts,
  /**
   * @example
   * ```ts
   * import { Processing } from "@hybrid/agent"
   *
   * const state = Processing.prepare({
   *   query: "event loop",
   *   source: "kb",
   *   documents: [{ id: "d1", title: "Asyncio", text: "The event loop runs coroutines. It switches on I/O." }],
   *   options: Processing.defaults
   * })
   * const chunks = state.chunks.length // 1
   * ```
   *
   * @since 0.1.0
   * @category steps
   */
  prepare,
  /**
   * @example
   * ```ts
   * import { Processing } from "@hybrid/agent"
   *
   * // the whole CPU step, synchronously, in this thread
   * const processed = Processing.processSource({
   *   query: "event loop",
   *   source: "kb",
   *   documents: [{ id: "d1", title: "Asyncio", text: "The event loop runs coroutines. Paris is in France." }],
   *   options: Processing.defaults
   * })
   * const best = processed.chunks[0]?.text
   * ```
   *
   * @since 0.1.0
   * @category steps
   */
  processSource,
  /**
   * @example
   * ```ts
   * import { Processing } from "@hybrid/agent"
   *
   * declare const input: Processing.Input
   * const state = Processing.prepare(input)
   * Processing.project(state) // the expensive step, once per projection: here projection 0
   * const done = state.projected === 1 // true
   * ```
   *
   * @since 0.1.0
   * @category steps
   */
  project,
  /**
   * @example
   * ```ts
   * import { Processing } from "@hybrid/agent"
   *
   * declare const input: Processing.Input
   * // projections [0, 500) of this source: one task's share
   * const part = Processing.projectPart({ input, from: 0, to: Math.min(500, input.options.projections) })
   * ```
   *
   * @since 0.1.0
   * @category steps
   */
  projectPart,
  /**
   * @example
   * ```ts
   * import { Processing } from "@hybrid/agent"
   *
   * const progress = (state: Processing.State) => `${state.projected}/${state.input.options.projections} projections`
   * ```
   *
   * @since 0.1.0
   * @category models
   */
  type State
} from "./handlers.ts"
export {
  /**
   * @example
   * ```ts
   * import { Schema } from "effect"
   * import { Processing } from "@hybrid/agent"
   *
   * const doc: Processing.Document = { id: "faq-1", title: "Refunds", text: "Refunds take 5 days. Contact support first." }
   * const valid = Schema.is(Processing.Document)(doc) // true
   * ```
   *
   * @since 0.1.0
   * @category schemas
   */
  Document,
  /**
   * @example
   * ```ts
   * import { Processing } from "@hybrid/agent"
   *
   * const input: Processing.Input = {
   *   query: "refund delay",
   *   source: "faq",
   *   documents: [{ id: "faq-1", title: "Refunds", text: "Refunds take 5 days." }],
   *   options: { ...Processing.defaults, topK: 1 }
   * }
   * ```
   *
   * @since 0.1.0
   * @category schemas
   */
  Input,
  /**
   * @example
   * ```ts
   * import { Processing } from "@hybrid/agent"
   *
   * declare const input: Processing.Input
   * declare const parts: ReadonlyArray<Processing.Part>
   * const merge: Processing.MergeInput = { input, parts }
   * const processed = Processing.mergeParts(merge)
   * ```
   *
   * @since 0.1.0
   * @category schemas
   */
  MergeInput,
  /**
   * @example
   * ```ts
   * import { Runner } from "@hybrid/core"
   * import { Processing } from "@hybrid/agent"
   *
   * declare const input: Processing.Input
   * declare const parts: ReadonlyArray<Processing.Part>
   * // on the Runner: merging runs in a worker too
   * const processed = Runner.run(Processing.MergeParts, { input, parts })
   * ```
   *
   * @since 0.1.0
   * @category tasks
   */
  MergeParts,
  /**
   * @example
   * ```ts
   * import { Processing } from "@hybrid/agent"
   *
   * // bigger chunks, one more summary sentence, and the projections of scale 0.1
   * const options: Processing.Options = { ...Processing.defaults, chunkTokens: 192, summarySentences: 3, projections: Processing.projectionsAt(0.1) }
   * ```
   *
   * @since 0.1.0
   * @category schemas
   */
  Options,
  /**
   * @example
   * ```ts
   * import { Processing } from "@hybrid/agent"
   *
   * const cost = (parts: ReadonlyArray<Processing.Part>) => parts.reduce((ms, part) => ms + part.cpuMs, 0)
   * ```
   *
   * @since 0.1.0
   * @category schemas
   */
  Part,
  /**
   * @example
   * ```ts
   * import { Processing } from "@hybrid/agent"
   *
   * declare const input: Processing.Input
   * const parts: ReadonlyArray<Processing.PartInput> = Processing.ranges(input.options.projections, 4).map(([from, to]) => ({ input, from, to }))
   * ```
   *
   * @since 0.1.0
   * @category schemas
   */
  PartInput,
  /**
   * @example
   * ```ts
   * import { Processing } from "@hybrid/agent"
   *
   * const context = (p: Processing.Processed) =>
   *   `${p.source}: ${p.summary.join(" ")} (${p.chunkCount} chunks, ${p.tokens} tokens, ${p.cpuMs} ms of CPU)`
   * ```
   *
   * @since 0.1.0
   * @category schemas
   */
  Processed,
  /**
   * @example
   * ```ts
   * import { Runner } from "@hybrid/core"
   * import { Processing } from "@hybrid/agent"
   *
   * declare const input: Processing.Input
   * // the same as Processing.run(input)
   * const processed = Runner.run(Processing.ProcessSource, input)
   * ```
   *
   * @since 0.1.0
   * @category tasks
   */
  ProcessSource,
  /**
   * @example
   * ```ts
   * import { Effect } from "effect"
   * import { Runner } from "@hybrid/core"
   * import { Processing } from "@hybrid/agent"
   *
   * declare const input: Processing.Input
   * // two parts at once, on two workers
   * const parts = Effect.forEach(Processing.ranges(input.options.projections, 2), ([from, to]) =>
   *   Runner.run(Processing.ProjectPart, { input, from, to }), { concurrency: 2 })
   * ```
   *
   * @since 0.1.0
   * @category tasks
   */
  ProjectPart,
  /**
   * @example
   * ```ts
   * import { Processing } from "@hybrid/agent"
   *
   * const cite = (c: Processing.RankedChunk) => `[${c.title}] ${c.text} (score ${c.score.toFixed(2)}: bm25 ${c.bm25.toFixed(2)}, cosine ${c.cosine.toFixed(2)})`
   * ```
   *
   * @since 0.1.0
   * @category schemas
   */
  RankedChunk,
  /**
   * @example
   * ```ts
   * import { NodeRunner } from "@hybrid/core"
   * import { Processing } from "@hybrid/agent"
   *
   * // the processing pool by hand (layerNode does this, and warms the workers up)
   * const pool = NodeRunner.layer(Processing.Tasks, { worker: Processing.worker, size: 2 })
   * ```
   *
   * @since 0.1.0
   * @category tasks
   */
  Tasks
} from "./tasks.ts"
export {
  /**
   * @example
   * ```ts
   * import { Processing } from "@hybrid/agent"
   *
   * const docs = ["the event loop runs coroutines", "paris is in france"].map(Processing.terms)
   * const scores = Processing.bm25(Processing.terms("event loop"), docs) // [> 0, 0]
   * ```
   *
   * @since 0.1.0
   * @category ranking
   */
  bm25,
  /**
   * @example
   * ```ts
   * import { Processing } from "@hybrid/agent"
   *
   * const text = "The event loop runs coroutines. It switches on I/O. Timeouts need limits."
   * const chunks = Processing.chunk(text, { maxTokens: 12, overlap: 1 }) // whole sentences, ≤ 12 tokens each
   * ```
   *
   * @since 0.1.0
   * @category text
   */
  chunk,
  /**
   * @example
   * ```ts
   * import { Processing } from "@hybrid/agent"
   *
   * const same = Processing.cosine([1, 2, 3], [2, 4, 6]) // 1
   * const orthogonal = Processing.cosine([1, 0], [0, 1]) // 0
   * ```
   *
   * @since 0.1.0
   * @category embeddings
   */
  cosine,
  /**
   * @example
   * ```ts
   * import { Processing } from "@hybrid/agent"
   *
   * const n = Processing.countTokens("How does the event loop work?") // BPE tokens (o200k_base)
   * ```
   *
   * @since 0.1.0
   * @category tokens
   */
  countTokens,
  /**
   * @example
   * ```ts
   * import { Processing } from "@hybrid/agent"
   *
   * const d = Processing.dot(Float64Array.of(1, 2, 3), Float64Array.of(4, 5, 6)) // 32
   * ```
   *
   * @since 0.1.0
   * @category embeddings
   */
  dot,
  /**
   * @example
   * ```ts
   * import { Processing } from "@hybrid/agent"
   *
   * // the same features and seed always give the same vector
   * const a = Processing.embed(Processing.features("event loop"), 256, 1)
   * const b = Processing.embed(Processing.features("the event loop"), 256, 1)
   * const similarity = Processing.cosine(a, b)
   * ```
   *
   * @since 0.1.0
   * @category embeddings
   */
  embed,
  /**
   * @example
   * ```ts
   * import { Processing } from "@hybrid/agent"
   *
   * const weights = Processing.features("The event loop runs coroutines") // term → weight
   * ```
   *
   * @since 0.1.0
   * @category embeddings
   */
  features,
  /**
   * @example
   * ```ts
   * import { Processing } from "@hybrid/agent"
   *
   * const spans = Processing.sentences("It rains. Take an umbrella!\nSee you")
   * // [{ text: "It rains.", … }, { text: "Take an umbrella!", … }, { text: "See you", … }]
   * ```
   *
   * @since 0.1.0
   * @category text
   */
  sentences,
  /**
   * @example
   * ```ts
   * import { Processing } from "@hybrid/agent"
   *
   * const words = Processing.terms("How does the Event Loop work?") // lower-cased content terms
   * ```
   *
   * @since 0.1.0
   * @category text
   */
  terms,
  /**
   * @example
   * ```ts
   * import { Processing } from "@hybrid/agent"
   *
   * // 3 sentences: 0 and 1 are alike, 2 stands alone (upper triangle of the weights)
   * const weights = Float64Array.of(0, 0.9, 0.1, 0.9, 0, 0.1, 0.1, 0.1, 0)
   * const ranks = Processing.textRank(weights, 3) // sentences 0 and 1 rank above 2
   * ```
   *
   * @since 0.1.0
   * @category ranking
   */
  textRank,
  /**
   * @example
   * ```ts
   * import { Processing } from "@hybrid/agent"
   *
   * const ids = Processing.tokenize("event loop") // BPE token ids (o200k_base)
   * const same = ids.length === Processing.countTokens("event loop") // true
   * ```
   *
   * @since 0.1.0
   * @category tokens
   */
  tokenize,
  /**
   * @example
   * ```ts
   * import { Processing } from "@hybrid/agent"
   *
   * // less weight on repeated terms, no length normalisation
   * const options: Processing.Bm25Options = { k1: 0.9, b: 0 }
   * const scores = Processing.bm25(["loop"], [["loop", "loop"], ["event", "loop"]], options)
   * ```
   *
   * @since 0.1.0
   * @category models
   */
  type Bm25Options,
  /**
   * @example
   * ```ts
   * import { Processing } from "@hybrid/agent"
   *
   * const describe = (c: Processing.Chunk) => `chunk ${c.index}: ${c.tokens} tokens at ${c.start}–${c.end}`
   * const lines = Processing.chunk("One sentence. Another one.", { maxTokens: 8 }).map(describe)
   * ```
   *
   * @since 0.1.0
   * @category models
   */
  type Chunk,
  /**
   * @example
   * ```ts
   * import { Processing } from "@hybrid/agent"
   *
   * const text = "It rains. Take an umbrella."
   * const check = Processing.sentences(text).every((s: Processing.Span) => text.slice(s.start, s.end) === s.text) // true
   * ```
   *
   * @since 0.1.0
   * @category models
   */
  type Span
} from "./text.ts"

/**
 * Projections per unit of `scale`: `projectionsAt(1)` is ≈ 2.5–4 s of CPU per fixture
 * query on the 2-core sandbox (see the module comment).
 *
 * @example
 * ```ts
 * import { Processing } from "@hybrid/agent"
 *
 * const atFullScale = Processing.projectionsAt(1) === Processing.projectionsPerScale // true
 * ```
 *
 * @since 0.1.0
 * @category constants
 */
export const projectionsPerScale = 1_700

/**
 * The processing options: 96-token chunks, no overlap, the top 3 chunks, 2 summary
 * sentences, 256 dimensions, 1 projection (the cheapest: milliseconds per source).
 *
 * @example
 * ```ts
 * import { Processing } from "@hybrid/agent"
 *
 * const options: Processing.Options = { ...Processing.defaults, topK: 5 }
 * ```
 *
 * @since 0.1.0
 * @category constants
 */
export const defaults: Options = {
  chunkTokens: 96,
  overlap: 0,
  topK: 3,
  summarySentences: 2,
  dimensions: 256,
  projections: 1
}

/**
 * The projections that model the capstone's CPU share at a fixtures `scale`
 * (`round(projectionsPerScale × scale)`, at least 1).
 *
 * @example
 * ```ts
 * import { Processing } from "@hybrid/agent"
 *
 * const light = Processing.projectionsAt(0.05) // 85: the demo's scale
 * const options = { ...Processing.defaults, projections: light }
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const projectionsAt = (scale: number): number =>
  Math.max(1, Math.round(projectionsPerScale * (Number.isFinite(scale) && scale > 0 ? scale : 1)))

/**
 * The worker entry file of `layerNode`: `processing.worker.ts` beside this module when it
 * runs from the sources (in the workspace), `processing.worker.js` when it runs from the
 * package's build (`dist/`, once installed).
 *
 * @example
 * ```ts
 * import { NodeRunner } from "@hybrid/core"
 * import { Processing } from "@hybrid/agent"
 *
 * // the worker entry that serves Processing.Tasks (.ts in the workspace, .js when installed)
 * const pool = NodeRunner.layer(Processing.Tasks, { worker: Processing.worker, size: 4, maxQueue: 100 })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const worker: URL = new URL(
  import.meta.url.endsWith(".ts") ? "./processing.worker.ts" : "./processing.worker.js",
  import.meta.url
)

/**
 * A `Runner` for the processing tasks on the calling thread (tests, one-core machines).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Processing } from "@hybrid/agent"
 *
 * declare const input: Processing.Input
 * // no worker threads: for tests and one-off scripts
 * const processed = Processing.run(input).pipe(Effect.provide(Processing.layerInProcess()))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerInProcess = (options?: Runner.InProcessOptions | undefined): Layer.Layer<Runner.Runner> =>
  Runner.layerInProcess(Tasks, handlers, options)

/**
 * Options of `layerNode`: `NodeRunner`'s, plus `warmUp`.
 *
 * @example
 * ```ts
 * import { Processing } from "@hybrid/agent"
 *
 * // two workers, no warm-up call at start
 * const options: Processing.NodeOptions = { size: 2, warmUp: false }
 * const pool = Processing.layerNode(options)
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface NodeOptions extends Omit<NodeRunner.Options, "worker"> {
  /**
   * Run one small `ProcessSource` on every worker when the pool starts, so the first real
   * call does not pay the JIT's warm-up (measured: a fresh worker's first knowledge-base
   * call took 222 ms of CPU, the next ones 68–107 ms). Default `true`.
   */
  readonly warmUp?: boolean | undefined
}

const warmUpInput: Input = {
  query: "how does the event loop schedule coroutines",
  source: "warm-up",
  documents: [{
    id: "warm-up",
    title: "Event loops",
    text: "The event loop runs one coroutine at a time. When a coroutine waits for I/O, the loop switches " +
      "to another one.\n\nTimeouts and retries need explicit limits. Measurements beat intuition, " +
      "especially for performance. A budget for time keeps a system predictable when parts of it fail."
  }],
  options: { chunkTokens: 24, overlap: 1, topK: 2, summarySentences: 2, dimensions: 256, projections: 40 }
}

/**
 * A `Runner` for the processing tasks on a pool of worker threads running
 * `processing.worker.ts` (size: `os.availableParallelism()` unless given), warmed up
 * unless `warmUp: false`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Processing } from "@hybrid/agent"
 *
 * declare const inputs: ReadonlyArray<Processing.Input>
 * // every source processed on a pool of 2 worker threads, 2 at once
 * const processed = Effect.forEach(inputs, Processing.run, { concurrency: 2 }).pipe(
 *   Effect.provide(Processing.layerNode({ size: 2 }))
 * )
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerNode = (
  options?: NodeOptions | undefined
): Layer.Layer<Runner.Runner | NodeRunner.Pool, Runner.RunnerError> => {
  const { warmUp, ...rest } = options ?? {}
  const pool = NodeRunner.layer(Tasks, { ...rest, worker })
  if (warmUp === false) return pool
  const size = rest.size ?? os.availableParallelism()
  // one call per worker slot: each slot runs one call at a time, so every worker gets its share
  return Layer.tap(pool, (context) =>
    Context.get(context, Runner.Runner).run(ProcessSource, warmUpInput).pipe(
      Effect.replicateEffect(size * (rest.concurrencyPerWorker ?? 1), { concurrency: "unbounded", discard: true }),
      Effect.ignore,
      Effect.withSpan("Processing.warmUp")
    ))
}

/**
 * Processes one source on the current `Runner`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Processing } from "@hybrid/agent"
 *
 * const processed = Processing.run({
 *   query: "umbrella",
 *   source: "weather",
 *   documents: [{ id: "w", title: "Weather in Oslo", text: "Rain all day. Take an umbrella." }],
 *   options: Processing.defaults
 * }).pipe(Effect.provide(Processing.layerInProcess()))
 * ```
 *
 * @since 0.1.0
 * @category accessors
 */
export const run = (input: Input): Effect.Effect<Processed, Runner.RunError, Runner.Runner> =>
  Runner.run(ProcessSource, input)

/**
 * What `runParts` returns: the processed source, and the CPU time of each task it ran
 * (the parts, then the merge; one entry when the source was not split) — what a
 * critical-path bound needs.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Processing } from "@hybrid/agent"
 *
 * declare const input: Processing.Input
 * const longest = Processing.runParts(input, { parts: 2, concurrency: 2 }).pipe(
 *   Effect.map((split: Processing.Split) => Math.max(...split.tasksMs)),
 *   Effect.provide(Processing.layerInProcess())
 * )
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Split {
  readonly processed: Processed
  readonly tasksMs: ReadonlyArray<number>
}

/**
 * The projection ranges of `parts` near-equal parts of `projections` (at most one part per
 * projection): `[[0, a), [a, b), …, [y, projections)]`.
 *
 * @example
 * ```ts
 * import { Processing } from "@hybrid/agent"
 *
 * const split = Processing.ranges(10, 3) // [[0, 3], [3, 7], [7, 10]]
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const ranges = (projections: number, parts: number): ReadonlyArray<readonly [number, number]> => {
  const n = Math.max(1, Math.min(Math.floor(parts), projections))
  return Array.from({ length: n }, (_, i) => [Math.round((i * projections) / n), Math.round(((i + 1) * projections) / n)] as const)
}

/**
 * Processes one source as `parts` `ProjectPart` tasks (their projections split evenly),
 * `concurrency` of them at once, then one `MergeParts` — or as one `ProcessSource` when
 * `parts` is 1. On a pool of workers the parts of a large source run on several cores at
 * once; `concurrency: 1` runs them one after another (the sequential baseline).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Processing } from "@hybrid/agent"
 *
 * declare const input: Processing.Input
 * // one source over 4 workers: 4 ProjectPart tasks, then MergeParts
 * const processed = Processing.runParts(input, { parts: 4, concurrency: "unbounded" }).pipe(
 *   Effect.map((split) => split.processed),
 *   Effect.provide(Processing.layerNode({ size: 4 }))
 * )
 * ```
 *
 * @since 0.1.0
 * @category accessors
 */
export const runParts = Effect.fn("Processing.runParts")(function*(
  input: Input,
  options: { readonly parts: number; readonly concurrency: number | "unbounded" }
): Effect.fn.Return<Split, Runner.RunError, Runner.Runner> {
  const split = ranges(input.options.projections, options.parts)
  yield* Effect.annotateCurrentSpan({ source: input.source, parts: split.length })
  if (split.length === 1) {
    const processed = yield* Runner.run(ProcessSource, input)
    return { processed, tasksMs: [processed.cpuMs] }
  }
  const parts = yield* Effect.forEach(split, ([from, to]) => Runner.run(ProjectPart, { input, from, to }), {
    concurrency: options.concurrency
  })
  const processed = yield* Runner.run(MergeParts, { input, parts })
  const partsMs = parts.reduce((sum, part) => sum + part.cpuMs, 0)
  return { processed, tasksMs: [...parts.map((part) => part.cpuMs), Math.max(0, roundMs(processed.cpuMs - partsMs))] }
})
