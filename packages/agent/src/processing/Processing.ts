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
 * 2-core sandbox with the fixture data (weather, 10 news articles, 3 knowledge-base
 * documents for one query): ≈ 0.03 / 0.4–0.55 / 0.7–1.1 ms per projection (the
 * higher figures in a worker of a busy machine), so `projectionsAt(1)` (`1_700`) makes
 * one query's processing ≈ 2.5–3 s of CPU — the capstone's share (in `hybrid demo` at
 * scale 1, one source at a time: weather 0.13 s, news 0.94 s, kb 1.84 s) — and
 * `projectionsAt(scale)` scales it with the fixtures' `scale`.
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
import { handlers } from "./handlers.ts"
import { type Input, MergeParts, type Options, type Processed, ProcessSource, ProjectPart, Tasks } from "./tasks.ts"

export {
  /**
   * @since 0.1.0
   * @category steps
   */
  finish,
  /**
   * @since 0.1.0
   * @category handlers
   */
  handlers,
  /**
   * @since 0.1.0
   * @category steps
   */
  mergeParts,
  /**
   * @since 0.1.0
   * @category steps
   */
  prepare,
  /**
   * @since 0.1.0
   * @category steps
   */
  processSource,
  /**
   * @since 0.1.0
   * @category steps
   */
  project,
  /**
   * @since 0.1.0
   * @category steps
   */
  projectPart
} from "./handlers.ts"
export type {
  /**
   * @since 0.1.0
   * @category models
   */
  State
} from "./handlers.ts"
export {
  /**
   * @since 0.1.0
   * @category schemas
   */
  Document,
  /**
   * @since 0.1.0
   * @category schemas
   */
  Input,
  /**
   * @since 0.1.0
   * @category schemas
   */
  MergeInput,
  /**
   * @since 0.1.0
   * @category tasks
   */
  MergeParts,
  /**
   * @since 0.1.0
   * @category schemas
   */
  Options,
  /**
   * @since 0.1.0
   * @category schemas
   */
  Part,
  /**
   * @since 0.1.0
   * @category schemas
   */
  PartInput,
  /**
   * @since 0.1.0
   * @category schemas
   */
  Processed,
  /**
   * @since 0.1.0
   * @category tasks
   */
  ProcessSource,
  /**
   * @since 0.1.0
   * @category tasks
   */
  ProjectPart,
  /**
   * @since 0.1.0
   * @category schemas
   */
  RankedChunk,
  /**
   * @since 0.1.0
   * @category tasks
   */
  Tasks
} from "./tasks.ts"
export {
  /**
   * @since 0.1.0
   * @category ranking
   */
  bm25,
  /**
   * @since 0.1.0
   * @category text
   */
  chunk,
  /**
   * @since 0.1.0
   * @category embeddings
   */
  cosine,
  /**
   * @since 0.1.0
   * @category tokens
   */
  countTokens,
  /**
   * @since 0.1.0
   * @category embeddings
   */
  dot,
  /**
   * @since 0.1.0
   * @category embeddings
   */
  embed,
  /**
   * @since 0.1.0
   * @category embeddings
   */
  features,
  /**
   * @since 0.1.0
   * @category text
   */
  sentences,
  /**
   * @since 0.1.0
   * @category text
   */
  terms,
  /**
   * @since 0.1.0
   * @category ranking
   */
  textRank,
  /**
   * @since 0.1.0
   * @category tokens
   */
  tokenize
} from "./text.ts"
export type {
  /**
   * @since 0.1.0
   * @category models
   */
  Bm25Options,
  /**
   * @since 0.1.0
   * @category models
   */
  Chunk,
  /**
   * @since 0.1.0
   * @category models
   */
  Span
} from "./text.ts"

/**
 * Projections per unit of `scale`: `projectionsAt(1)` is ≈ 2.5–3 s of CPU per fixture
 * query on the 2-core sandbox (see the module comment).
 *
 * @since 0.1.0
 * @category constants
 */
export const projectionsPerScale = 1_700

/**
 * The processing options: 96-token chunks, no overlap, the top 3 chunks, 2 summary
 * sentences, 256 dimensions, 1 projection (the cheapest: milliseconds per source).
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
 * @since 0.1.0
 * @category layers
 */
export const layerInProcess = (options?: Runner.InProcessOptions | undefined): Layer.Layer<Runner.Runner> =>
  Runner.layerInProcess(Tasks, handlers, options)

/**
 * Options of `layerNode`: `NodeRunner`'s, plus `warmUp`.
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
  return Layer.tap(pool, (context) => {
    const runner = Context.get(context, Runner.Runner)
    // one call per worker: each runs one call at a time, so `size` calls reach every worker
    return Effect.forEach(
      Array.from({ length: size * (rest.concurrencyPerWorker ?? 1) }),
      () => runner.run(ProcessSource, warmUpInput),
      { concurrency: "unbounded", discard: true }
    ).pipe(Effect.ignore, Effect.withSpan("Processing.warmUp"))
  })
}

/**
 * Processes one source on the current `Runner`.
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
  return { processed, tasksMs: [...parts.map((part) => part.cpuMs), Math.max(0, Math.round((processed.cpuMs - partsMs) * 100) / 100)] }
})
