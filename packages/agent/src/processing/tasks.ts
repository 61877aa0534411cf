/**
 * The processing task declarations — the contract between the agent and the worker
 * threads that process each source's response. Imported by `processing.worker.ts`, so it
 * declares Schemas and tasks only (no pool, no services).
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import * as Task from "@hybrid/core/Task"

const PositiveInt = Schema.Int.check(Schema.isGreaterThanOrEqualTo(1))
const NonNegativeInt = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))

/**
 * One document of a source's response, as text.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Document = Schema.Struct({
  id: Schema.String,
  title: Schema.String,
  text: Schema.String
})
/** @since 0.1.0 @category models */
export type Document = typeof Document.Type

/**
 * How much work processing does, and how much of it comes back.
 *
 * - `chunkTokens`: the most BPE tokens in a chunk (whole sentences are kept together).
 * - `overlap`: trailing sentences of a chunk repeated at the start of the next.
 * - `topK`: ranked chunks returned per source.
 * - `summarySentences`: sentences in the extractive summary.
 * - `dimensions`: buckets of each hashing-trick embedding.
 * - `projections`: independent hash embeddings per text (each with its own hash seed);
 *   similarities are averaged over them. More projections lower the collision noise and
 *   cost proportionally more CPU — the knob that models a bigger embedding model.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Options = Schema.Struct({
  chunkTokens: Schema.Int.check(Schema.isBetween({ minimum: 8, maximum: 8192 })),
  overlap: NonNegativeInt,
  topK: PositiveInt,
  summarySentences: NonNegativeInt,
  dimensions: Schema.Int.check(Schema.isBetween({ minimum: 8, maximum: 65_536 })),
  projections: Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 1_000_000 }))
})
/** @since 0.1.0 @category models */
export type Options = typeof Options.Type

/**
 * What processing a source gets: the user's query, the source's name and its documents.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Input = Schema.Struct({
  query: Schema.String,
  source: Schema.String,
  documents: Schema.Array(Document),
  options: Options
})
/** @since 0.1.0 @category models */
export type Input = typeof Input.Type

/**
 * A chunk ranked against the query: `score = (bm25 / best bm25 + max(0, cosine)) / 2`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const RankedChunk = Schema.Struct({
  /** `<document id>#<chunk index>`. */
  id: Schema.String,
  document: Schema.String,
  title: Schema.String,
  text: Schema.String,
  tokens: NonNegativeInt,
  score: Schema.Finite,
  bm25: Schema.Finite,
  cosine: Schema.Finite
})
/** @since 0.1.0 @category models */
export type RankedChunk = typeof RankedChunk.Type

/**
 * A processed source: its best chunks, best first, and an extractive summary (sentences
 * of the documents, in document order), with the counts and the CPU time it took.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Processed = Schema.Struct({
  source: Schema.String,
  chunks: Schema.Array(RankedChunk),
  summary: Schema.Array(Schema.String),
  /** BPE tokens of all documents (`o200k_base`). */
  tokens: NonNegativeInt,
  documents: NonNegativeInt,
  chunkCount: NonNegativeInt,
  sentenceCount: NonNegativeInt,
  /** Time spent computing, where it ran (not counting queueing or transfer). */
  cpuMs: Schema.Finite
})
/** @since 0.1.0 @category models */
export type Processed = typeof Processed.Type

/**
 * Processes one source's response: tokenize, chunk, embed, rank against the query,
 * summarise. Never fails on its input (an empty source gives an empty result).
 *
 * @since 0.1.0
 * @category tasks
 */
export const ProcessSource = Task.make("ProcessSource", { payload: Input, success: Processed })

/**
 * One part of a split source: the projections `[from, to)` of `input`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const PartInput = Schema.Struct({
  input: Input,
  from: NonNegativeInt,
  to: NonNegativeInt
})
/** @since 0.1.0 @category models */
export type PartInput = typeof PartInput.Type

/**
 * What one part computed: the sums over its projections of every query–chunk and
 * query–sentence cosine, and of each document's sentence-similarity graph (row-major
 * upper triangles, as in `State`), with the CPU time it took.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Part = Schema.Struct({
  from: NonNegativeInt,
  to: NonNegativeInt,
  chunkCosine: Schema.Array(Schema.Finite),
  sentenceCosine: Schema.Array(Schema.Finite),
  similarity: Schema.Array(Schema.Array(Schema.Finite)),
  cpuMs: Schema.Finite
})
/** @since 0.1.0 @category models */
export type Part = typeof Part.Type

/**
 * The parts of a split source, to be merged and finished.
 *
 * @since 0.1.0
 * @category schemas
 */
export const MergeInput = Schema.Struct({
  input: Input,
  parts: Schema.Array(Part)
})
/** @since 0.1.0 @category models */
export type MergeInput = typeof MergeInput.Type

/**
 * Projects one part of a source (`[from, to)` of its projections): the CPU-heavy step of
 * `ProcessSource`, so a large source can be spread over several workers.
 *
 * @since 0.1.0
 * @category tasks
 */
export const ProjectPart = Task.make("ProjectPart", { payload: PartInput, success: Part })

/**
 * Merges the parts of a split source and finishes it (ranking, TextRank, summary): the
 * same `Processed` as `ProcessSource` over the parts' projections, up to floating-point
 * rounding. `cpuMs` is the parts' CPU time plus this task's.
 *
 * @since 0.1.0
 * @category tasks
 */
export const MergeParts = Task.make("MergeParts", { payload: MergeInput, success: Processed })

/**
 * The processing tasks, served by `processing.worker.ts`.
 *
 * @since 0.1.0
 * @category tasks
 */
export const Tasks = Task.group(ProcessSource, ProjectPart, MergeParts)
