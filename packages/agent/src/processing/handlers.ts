/**
 * The handler of `ProcessSource`, and the pure steps it is made of:
 *
 * 1. `prepare` — BPE-tokenize every document, cut it into chunks of whole sentences,
 *    extract terms and embedding features, score every chunk with BM25 (the source's
 *    chunks are the corpus).
 * 2. `project` (× `options.projections`) — one hashing-trick projection of the query,
 *    every chunk and every sentence: accumulates query–chunk and query–sentence cosines
 *    and, per document, the sentence-similarity graph.
 * 3. `finish` — averages the projections, combines BM25 and cosine into each chunk's
 *    score, runs TextRank over each document's sentence graph, and picks the summary: the
 *    sentences with the best mix of centrality and relevance (a sentence repeated in two
 *    documents counts once), in document order.
 *
 * `processSource` runs the three steps in one go (synchronous, pure). The task handler
 * runs the same steps but yields between projections whenever ~5 ms of work has been
 * done, so a cancelled call (a deadline, a lost race) stops within milliseconds in a
 * worker, and an in-process runner lets I/O fibers run in between. Both give identical
 * results.
 *
 * A large source can also be split (`ProjectPart`, `MergeParts`): each part runs `prepare`
 * and a range of projections (`projectPart`), and `mergeParts` adds the parts' sums into
 * a fresh `prepare` and finishes. The projections are the bulk of the work, so the parts
 * spread it over several workers; `prepare` (milliseconds) is repeated once per part. The
 * result equals `processSource`'s up to floating-point rounding (the sums are grouped by
 * part).
 *
 * Imported by `processing.worker.ts`: no services, no pool.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import type { Task } from "@hybrid/core"
import * as text from "./text.ts"
import type { Input, MergeInput, Part, PartInput, Processed, RankedChunk, Tasks } from "./tasks.ts"

/**
 * The work in progress of one `ProcessSource` call (see the module comment).
 *
 * @since 0.1.0
 * @category models
 */
export interface State {
  readonly input: Input
  readonly tokens: number
  readonly chunks: ReadonlyArray<{
    readonly document: Input["documents"][number]
    readonly chunk: text.Chunk
    readonly features: ReadonlyMap<string, number>
  }>
  readonly sentences: ReadonlyArray<{ readonly text: string; readonly features: ReadonlyMap<string, number> }>
  /** Each document's sentences: `sentences[from, to)`. */
  readonly ranges: ReadonlyArray<{ readonly from: number; readonly to: number }>
  readonly query: ReadonlyMap<string, number>
  readonly bm25: ReadonlyArray<number>
  /** Σ over projections of cos(query, chunk i). */
  readonly chunkCosine: Float64Array
  /** Σ over projections of cos(query, sentence i). */
  readonly sentenceCosine: Float64Array
  /**
   * Per document of m sentences: Σ over projections of max(0, cos(sentence i, sentence j)),
   * upper triangle of m × m (the summary graph links sentences of the same document).
   */
  readonly similarity: ReadonlyArray<Float64Array>
  projected: number
}

/**
 * Step 1: tokenize, chunk, extract features, BM25.
 *
 * @since 0.1.0
 * @category steps
 */
export const prepare = (input: Input): State => {
  let tokens = 0
  const chunks: Array<State["chunks"][number]> = []
  const chunkTerms: Array<Array<string>> = []
  const sentences: Array<State["sentences"][number]> = []
  const ranges: Array<State["ranges"][number]> = []
  for (const document of input.documents) {
    tokens += text.countTokens(document.text)
    for (const c of text.chunk(document.text, { maxTokens: input.options.chunkTokens, overlap: input.options.overlap })) {
      // the title is part of what a chunk is about, not of its text
      const about = `${document.title}\n${c.text}`
      chunks.push({ document, chunk: c, features: text.features(about) })
      chunkTerms.push(text.terms(about))
    }
    const from = sentences.length
    for (const s of text.sentences(document.text)) sentences.push({ text: s.text, features: text.features(s.text) })
    ranges.push({ from, to: sentences.length })
  }
  return {
    input,
    tokens,
    chunks,
    sentences,
    ranges,
    query: text.features(input.query),
    bm25: text.bm25(text.terms(input.query), chunkTerms),
    chunkCosine: new Float64Array(chunks.length),
    sentenceCosine: new Float64Array(sentences.length),
    similarity: ranges.map(({ from, to }) => new Float64Array((to - from) * (to - from))),
    projected: 0
  }
}

/**
 * Step 2: one projection (seed `state.projected`), accumulated into `state`.
 *
 * @since 0.1.0
 * @category steps
 */
export const project = (state: State): void => {
  const seed = state.projected
  const dimensions = state.input.options.dimensions
  const q = text.embed(state.query, dimensions, seed)
  state.chunks.forEach((c, i) => {
    state.chunkCosine[i]! += text.dot(q, text.embed(c.features, dimensions, seed))
  })
  const vectors = state.sentences.map((s) => text.embed(s.features, dimensions, seed))
  state.ranges.forEach(({ from, to }, d) => {
    const m = to - from
    const graph = state.similarity[d]!
    for (let i = 0; i < m; i++) {
      const vi = vectors[from + i]!
      state.sentenceCosine[from + i]! += text.dot(q, vi)
      for (let j = i + 1; j < m; j++) {
        const similarity = text.dot(vi, vectors[from + j]!)
        if (similarity > 0) graph[i * m + j]! += similarity
      }
    }
  })
  state.projected++
}

const round = (x: number) => Math.round(x * 1e6) / 1e6

/** Milliseconds to two decimals, as every `cpuMs` is reported. */
export const roundMs = (ms: number): number => Math.round(ms * 100) / 100

/**
 * Step 3: average, score, rank, summarise.
 *
 * @since 0.1.0
 * @category steps
 */
export const finish = (state: State, cpuMs: number): Processed => {
  const { options, source } = state.input
  const p = Math.max(1, state.projected)
  const bestBm25 = state.bm25.reduce((a, b) => Math.max(a, b), 0)
  const ranked: Array<RankedChunk> = state.chunks.map((c, i) => {
    const bm25 = state.bm25[i]!
    const cosine = state.chunkCosine[i]! / p
    const score = ((bestBm25 > 0 ? bm25 / bestBm25 : 0) + Math.max(0, cosine)) / 2
    return {
      id: `${c.document.id}#${c.chunk.index}`,
      document: c.document.id,
      title: c.document.title,
      text: c.chunk.text,
      tokens: c.chunk.tokens,
      score: round(score),
      bm25: round(bm25),
      cosine: round(cosine)
    }
  })
  ranked.sort((a, b) => b.score - a.score) // stable: equal scores keep the chunks' order

  // centrality within each document (TextRank, scaled so its best sentence is 1)
  const centrality = new Float64Array(state.sentences.length)
  state.ranges.forEach(({ from, to }, d) => {
    const m = to - from
    const weights = new Float64Array(m * m)
    const graph = state.similarity[d]!
    for (let i = 0; i < m; i++) {
      for (let j = i + 1; j < m; j++) {
        const w = graph[i * m + j]! / p
        weights[i * m + j] = w
        weights[j * m + i] = w
      }
    }
    const ranks = text.textRank(weights, m)
    const best = ranks.reduce((a, b) => Math.max(a, b), 0)
    centrality.set(ranks.map((r) => (best > 0 ? r / best : 0)), from)
  })
  const byScore = state.sentences
    .map((s, i) => ({ i, text: s.text, score: centrality[i]! / 2 + Math.max(0, state.sentenceCosine[i]! / p) / 2 }))
    .sort((a, b) => b.score - a.score || a.i - b.i)
  const seen = new Set<string>()
  const chosen = byScore
    .filter((s) => !seen.has(s.text) && seen.add(s.text)) // the same sentence in two documents counts once
    .slice(0, options.summarySentences)
    .sort((a, b) => a.i - b.i)

  return {
    source,
    chunks: ranked.slice(0, options.topK),
    summary: chosen.map((s) => s.text),
    tokens: state.tokens,
    documents: state.input.documents.length,
    chunkCount: state.chunks.length,
    sentenceCount: state.sentences.length,
    cpuMs: roundMs(cpuMs)
  }
}

/**
 * Processes a source in one synchronous call: `prepare`, `options.projections` ×
 * `project`, `finish`.
 *
 * @since 0.1.0
 * @category steps
 */
export const processSource = (input: Input): Processed => Effect.runSync(processIn(input, Infinity))

/**
 * A part of a split source, synchronously: `prepare`, then the projections `[from, to)`.
 *
 * @since 0.1.0
 * @category steps
 */
export const projectPart = (payload: PartInput): Part => Effect.runSync(partIn(payload, Infinity))

/**
 * `prepare`, then the projections `[from, to)`, yielding whenever `slice` ms of work have
 * been done since the last yield; `cpuMs()` is the time spent computing so far, not the pauses.
 */
const projectIn = Effect.fnUntraced(function*(input: Input, from: number, to: number, slice: number) {
  let start = performance.now()
  let spent = 0
  const state = prepare(input)
  state.projected = from
  while (state.projected < to) {
    const now = performance.now()
    if (now - start >= slice) {
      spent += now - start
      yield* Effect.yieldNow
      start = performance.now()
    }
    project(state)
  }
  return { state, cpuMs: () => roundMs(spent + performance.now() - start) }
})

/** `processSource`, yielding after each `slice` ms of work. */
const processIn = (input: Input, slice: number) =>
  Effect.map(projectIn(input, 0, input.options.projections, slice), ({ cpuMs, state }) => ({ ...finish(state, 0), cpuMs: cpuMs() }))

/** `projectPart`, yielding after each `slice` ms of work. */
const partIn = ({ from, input, to }: PartInput, slice: number) =>
  Effect.map(projectIn(input, from, to, slice), ({ cpuMs, state }): Part => ({
    from,
    to: state.projected,
    chunkCosine: Array.from(state.chunkCosine),
    sentenceCosine: Array.from(state.sentenceCosine),
    similarity: state.similarity.map((graph) => Array.from(graph)),
    cpuMs: cpuMs()
  }))

/** A part that does not fit the source's shape: the caller mixed up inputs (a defect). */
const mismatch = (what: string, expected: number, got: number) =>
  new Error(`MergeParts: a part's ${what} has ${got} entries, the source has ${expected}`)

/**
 * Merges the parts of a split source: `prepare`, add every part's sums (in the order
 * given), `finish`. Throws when a part does not match the source (a different input).
 *
 * @since 0.1.0
 * @category steps
 */
export const mergeParts = ({ input, parts }: MergeInput): Processed => {
  const t0 = performance.now()
  const state = prepare(input)
  for (const part of parts) addPart(state, part)
  const partsMs = parts.reduce((sum, part) => sum + part.cpuMs, 0)
  return { ...finish(state, 0), cpuMs: roundMs(partsMs + performance.now() - t0) }
}

const addInto = (what: string, target: Float64Array, values: ReadonlyArray<number>) => {
  if (values.length !== target.length) throw mismatch(what, target.length, values.length)
  for (let i = 0; i < values.length; i++) target[i]! += values[i]!
}

const addPart = (state: State, part: Part): void => {
  addInto("chunkCosine", state.chunkCosine, part.chunkCosine)
  addInto("sentenceCosine", state.sentenceCosine, part.sentenceCosine)
  if (part.similarity.length !== state.similarity.length) throw mismatch("similarity", state.similarity.length, part.similarity.length)
  state.similarity.forEach((graph, d) => addInto(`similarity[${d}]`, graph, part.similarity[d]!))
  state.projected += part.to - part.from
}

/** Work done between two yields of the handler. */
const sliceMs = 5

/**
 * The handlers of `Tasks` (the worker's and `Runner.layerInProcess`'s): the same steps as
 * `processSource` and `projectPart`, yielding every ~5 ms so a cancelled call stops
 * promptly, and `mergeParts` (milliseconds, in one go). `cpuMs` counts only the time spent
 * computing, not the pauses.
 *
 * @since 0.1.0
 * @category handlers
 */
export const handlers: Task.Handlers<Task.Tasks<typeof Tasks>> = {
  ProcessSource: (input) => processIn(input, sliceMs),
  ProjectPart: (payload) => partIn(payload, sliceMs),
  MergeParts: (payload) => Effect.sync(() => mergeParts(payload))
}
