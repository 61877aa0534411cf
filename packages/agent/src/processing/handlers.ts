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
 * Imported by `processing.worker.ts`: no services, no pool.
 *
 * @since 0.1.0
 */
import { Effect } from "effect"
import type { Task } from "@hybrid/core"
import * as text from "./text.ts"
import type { Input, Processed, RankedChunk, Tasks } from "./tasks.ts"

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
    tokens += text.tokenize(document.text).length
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
  const ranked: Array<RankedChunk & { readonly order: number }> = state.chunks.map((c, i) => {
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
      cosine: round(cosine),
      order: i
    }
  })
  ranked.sort((a, b) => b.score - a.score || a.order - b.order)

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
    ranks.forEach((r, i) => {
      centrality[from + i] = best > 0 ? r / best : 0
    })
  })
  const byScore = state.sentences
    .map((s, i) => ({ i, text: s.text, score: centrality[i]! / 2 + Math.max(0, state.sentenceCosine[i]! / p) / 2 }))
    .sort((a, b) => b.score - a.score || a.i - b.i)
  const seen = new Set<string>()
  const chosen: Array<{ readonly i: number; readonly text: string }> = []
  for (const s of byScore) {
    if (chosen.length >= options.summarySentences) break
    if (seen.has(s.text)) continue // the same sentence in two documents counts once
    seen.add(s.text)
    chosen.push(s)
  }
  chosen.sort((a, b) => a.i - b.i)

  return {
    source,
    chunks: ranked.slice(0, options.topK).map(({ order: _, ...chunk }) => chunk),
    summary: chosen.map((s) => s.text),
    tokens: state.tokens,
    documents: state.input.documents.length,
    chunkCount: state.chunks.length,
    sentenceCount: state.sentences.length,
    cpuMs: Math.round(cpuMs * 100) / 100
  }
}

/**
 * Processes a source in one synchronous call: `prepare`, `options.projections` ×
 * `project`, `finish`.
 *
 * @since 0.1.0
 * @category steps
 */
export const processSource = (input: Input): Processed => {
  const t0 = performance.now()
  const state = prepare(input)
  for (let i = 0; i < input.options.projections; i++) project(state)
  return finish(state, performance.now() - t0)
}

/** Work done between two yields of the handler. */
const sliceMs = 5

/**
 * The handlers of `Tasks` (the worker's and `Runner.layerInProcess`'s): the same steps as
 * `processSource`, yielding every ~5 ms so a cancelled call stops promptly. `cpuMs` counts
 * only the time spent computing, not the pauses.
 *
 * @since 0.1.0
 * @category handlers
 */
export const handlers: Task.Handlers<Task.Tasks<typeof Tasks>> = {
  ProcessSource: (input) =>
    Effect.gen(function*() {
      let start = performance.now()
      const state = prepare(input)
      let cpuMs = 0
      for (let i = 0; i < input.options.projections; i++) {
        project(state)
        const now = performance.now()
        if (now - start >= sliceMs && i + 1 < input.options.projections) {
          cpuMs += now - start
          yield* Effect.yieldNow
          start = performance.now()
        }
      }
      const result = finish(state, 0)
      return { ...result, cpuMs: Math.round((cpuMs + performance.now() - start) * 100) / 100 }
    })
}
