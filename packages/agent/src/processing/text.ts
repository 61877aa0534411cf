/**
 * The text algorithms of the agent's processing, as pure synchronous functions: BPE
 * tokenizing, sentence splitting, chunking, term extraction, BM25, hashing-trick
 * embeddings, cosine similarity, TextRank. The `ProcessSource` handler (see `handlers.ts`)
 * composes them; they are exported for tests and for users who want one step alone.
 *
 * Everything is deterministic: no clock, no randomness, integer hashing, a fixed order of
 * floating-point sums — the same input gives the same output on every thread and machine
 * running the same engine.
 *
 * Gotchas:
 * - `tokenize` / `countTokens` are `gpt-tokenizer`'s `o200k_base` (GPT-4o's encoding, the
 *   one `Batch` and the OpenAI provider count with); special-token text such as
 *   `<|endoftext|>` is counted as plain text, never rejected.
 * - Sentence splitting is a heuristic (`.`, `!`, `?` followed by white space, and line
 *   breaks): "e.g. this" splits after "e.g.".
 * - `chunk` never splits inside a word: a single word longer than `maxTokens` tokens
 *   becomes a chunk of its own, over the limit.
 *
 * @example
 * ```ts
 * import { Processing } from "@hybrid/agent"
 *
 * const text = "The event loop runs coroutines. Paris is in France."
 * Processing.countTokens(text)                          // 11
 * Processing.chunk(text, { maxTokens: 8 }).map((c) => c.text)
 * // ["The event loop runs coroutines.", "Paris is in France."]
 * ```
 *
 * @since 0.1.0
 */
import { countTokens as bpeCount, encode } from "gpt-tokenizer/encoding/o200k_base"

// --- BPE ---------------------------------------------------------------------------------

const bpeOptions = { disallowedSpecial: new Set<string>() }

/**
 * The BPE token ids of `text` (`o200k_base`).
 *
 * @since 0.1.0
 * @category tokens
 */
export const tokenize = (text: string): Array<number> => encode(text, bpeOptions)

/**
 * The number of BPE tokens of `text` (`o200k_base`).
 *
 * @since 0.1.0
 * @category tokens
 */
export const countTokens = (text: string): number => bpeCount(text, bpeOptions)

// --- spans -------------------------------------------------------------------------------

/**
 * A piece of a text: `text === source.slice(start, end)`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Span {
  readonly start: number
  readonly end: number
  readonly text: string
}

/** `source.slice(start, end)` without its surrounding white space: one span, or none when nothing is left. */
const trimmed = (source: string, start: number, end: number): Array<Span> => {
  while (start < end && /\s/.test(source[start]!)) start++
  while (end > start && /\s/.test(source[end - 1]!)) end--
  return start < end ? [{ start, end, text: source.slice(start, end) }] : []
}

/**
 * The sentences of `text`, in order, white space trimmed. A sentence ends at `.`, `!` or
 * `?` (with closing quotes or brackets) followed by white space or the end, or at a line
 * break. Every non-space character of `text` is in exactly one sentence.
 *
 * @since 0.1.0
 * @category text
 */
export const sentences = (text: string): Array<Span> => {
  const ends = Array.from(text.matchAll(/[.!?]+["')\]»”’]*(?=\s|$)|\n/g), (match) => match.index + match[0].length)
  const bounds = [0, ...ends, text.length]
  return bounds.slice(1).flatMap((end, i) => trimmed(text, bounds[i]!, end))
}

/**
 * Packs consecutive `spans` of `text` greedily: each group as many spans as keep its slice
 * within `maxTokens` (one span at least), the next starting `overlap` spans back — but
 * always moving forward.
 */
const pack = (text: string, spans: ReadonlyArray<{ readonly start: number; readonly end: number }>, maxTokens: number, overlap = 0) => {
  const out: Array<Span> = []
  let first = 0
  while (first < spans.length) {
    let last = first
    while (last + 1 < spans.length && countTokens(text.slice(spans[first]!.start, spans[last + 1]!.end)) <= maxTokens) last++
    const start = spans[first]!.start
    const end = spans[last]!.end
    out.push({ start, end, text: text.slice(start, end) })
    if (last + 1 >= spans.length) break
    first = Math.max(first + 1, last + 1 - overlap)
  }
  return out
}

/** Splits a span at word boundaries into pieces of at most `maxTokens` tokens. */
const splitLong = (text: string, span: Span, maxTokens: number): Array<Span> =>
  countTokens(span.text) <= maxTokens
    ? [span]
    : pack(text, Array.from(span.text.matchAll(/\S+/g), (m) => ({ start: span.start + m.index, end: span.start + m.index + m[0].length })), maxTokens)

/**
 * A chunk of a text, with its BPE token count.
 *
 * @since 0.1.0
 * @category models
 */
export interface Chunk extends Span {
  /** Position of the chunk in the text. */
  readonly index: number
  readonly tokens: number
}

/**
 * Cuts `text` into chunks of whole sentences of at most `maxTokens` BPE tokens each (a
 * longer sentence is cut at word boundaries). `overlap` repeats that many trailing
 * sentences (pieces) of a chunk at the start of the next. Chunks are slices of `text`, in
 * order, and together cover every non-space character.
 *
 * @since 0.1.0
 * @category text
 */
export const chunk = (
  text: string,
  options: { readonly maxTokens: number; readonly overlap?: number | undefined }
): Array<Chunk> => {
  const maxTokens = Math.max(1, Math.floor(options.maxTokens))
  const overlap = Math.max(0, Math.floor(options.overlap ?? 0))
  const pieces = sentences(text).flatMap((span) => splitLong(text, span, maxTokens))
  return pack(text, pieces, maxTokens, overlap).map((span, index) => ({ index, ...span, tokens: countTokens(span.text) }))
}

// --- terms -------------------------------------------------------------------------------

const stopwords = new Set(
  ("a about above after again against all am an and any are as at be because been before being below between both but by " +
    "can could did do does doing down during each few for from further had has have having he her here hers herself him " +
    "himself his how i if in into is it its itself just me more most my myself no nor not now of off on once only or other " +
    "our ours ourselves out over own same she should so some such than that the their theirs them themselves then there " +
    "these they this those through to too under until up very was we were what when where which while who whom why will " +
    "with would you your yours yourself yourselves s t don new")
    .split(" ")
)

const stem = (word: string): string => {
  if (word.length > 4 && word.endsWith("ies")) return `${word.slice(0, -3)}y`
  if (word.length > 3 && word.endsWith("s") && !word.endsWith("ss") && !word.endsWith("us") && !word.endsWith("is")) {
    return word.slice(0, -1)
  }
  return word
}

/**
 * The content terms of `text`: lower-cased words and numbers, stop words removed, plural
 * `s` stripped — what BM25 and the embeddings match on.
 *
 * @since 0.1.0
 * @category text
 */
export const terms = (text: string): Array<string> =>
  Array.from(text.toLowerCase().matchAll(/[\p{L}\p{N}]+(?:['’][\p{L}]+)?/gu), (match) => match[0].replace(/['’]s$/, ""))
    .filter((word) => !stopwords.has(word))
    .map(stem)

// --- BM25 --------------------------------------------------------------------------------

/**
 * BM25 parameters: `k1` (term-frequency saturation) and `b` (length normalisation).
 *
 * @since 0.1.0
 * @category models
 */
export interface Bm25Options {
  readonly k1?: number | undefined
  readonly b?: number | undefined
}

/**
 * The BM25 score of every document (a list of terms) for the query terms, with the
 * corpus being `documents` itself (IDF `ln(1 + (N − df + 0.5) / (df + 0.5))`, always
 * positive). Repeated query terms count once.
 *
 * @since 0.1.0
 * @category ranking
 */
export const bm25 = (
  query: ReadonlyArray<string>,
  documents: ReadonlyArray<ReadonlyArray<string>>,
  options: Bm25Options = {}
): Array<number> => {
  const k1 = options.k1 ?? 1.2
  const b = options.b ?? 0.75
  const n = documents.length
  if (n === 0) return []
  const unique = Array.from(new Set(query))
  const avgdl = documents.reduce((sum, d) => sum + d.length, 0) / n || 1
  const tfs = documents.map((d) => {
    const tf = new Map<string, number>()
    for (const t of d) tf.set(t, (tf.get(t) ?? 0) + 1)
    return tf
  })
  const idf = unique.map((t) => {
    const df = tfs.filter((tf) => tf.has(t)).length
    return Math.log(1 + (n - df + 0.5) / (df + 0.5))
  })
  return tfs.map((tf, i) => {
    const dl = documents[i]!.length
    let score = 0
    unique.forEach((t, j) => {
      const f = tf.get(t) ?? 0
      if (f > 0) score += idf[j]! * (f * (k1 + 1)) / (f + k1 * (1 - b + b * dl / avgdl))
    })
    return score
  })
}

// --- hashing-trick embeddings ------------------------------------------------------------

/** The weight of a feature by its kind, the first letter of its key: term, pair, trigram. */
const featureUnits: Record<string, number> = { w: 1, b: 0.5, c: 0.25 }

/**
 * A text's embedding features with their weights: terms (1), adjacent term pairs (0.5)
 * and character trigrams of each term (0.25, so spelling variants still meet), counted
 * once and weighted `w × (1 + ln tf)`.
 *
 * @since 0.1.0
 * @category embeddings
 */
export const features = (text: string): Map<string, number> => {
  const counts = new Map<string, number>()
  const add = (feature: string) => counts.set(feature, (counts.get(feature) ?? 0) + 1)
  const ts = terms(text)
  ts.forEach((term, i) => {
    add(`w ${term}`)
    if (i > 0) add(`b ${ts[i - 1]} ${term}`)
    const padded = `<${term}>`
    for (let j = 0; j + 3 <= padded.length; j++) add(`c ${padded.slice(j, j + 3)}`)
  })
  // each count becomes its weight, in place
  for (const [feature, count] of counts) counts.set(feature, featureUnits[feature[0]!]! * (1 + Math.log(count)))
  return counts
}

/** FNV-1a over the UTF-16 code units, seeded, then murmur3's finaliser. */
const hash = (text: string, seed: number): number => {
  let h = (0x811c9dc5 ^ Math.imul(seed + 1, 0x9e3779b1)) >>> 0
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}

/**
 * Embeds weighted features into `dimensions` signed buckets with the hash function of
 * `seed` (the hashing trick), L2-normalised. Different seeds give independent
 * projections of the same text; averaging similarities over several projections lowers
 * the noise that hash collisions add.
 *
 * @since 0.1.0
 * @category embeddings
 */
export const embed = (weighted: ReadonlyMap<string, number>, dimensions: number, seed: number): Float64Array => {
  const vector = new Float64Array(dimensions)
  for (const [feature, weight] of weighted) {
    const h = hash(feature, seed)
    vector[h % dimensions]! += (h & 0x80000000) === 0 ? weight : -weight
  }
  const norm = Math.sqrt(dot(vector, vector))
  if (norm > 0) for (let i = 0; i < dimensions; i++) vector[i]! /= norm
  return vector
}

/**
 * The cosine similarity of two vectors of the same length (0 when either is zero).
 *
 * @since 0.1.0
 * @category embeddings
 */
export const cosine = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let dot = 0
  let na = 0
  let nb = 0
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!
    const y = b[i]!
    dot += x * y
    na += x * x
    nb += y * y
  }
  return na === 0 || nb === 0 ? 0 : dot / Math.sqrt(na * nb)
}

/**
 * The dot product of two vectors of the same length (the cosine, for unit vectors).
 *
 * @since 0.1.0
 * @category embeddings
 */
export const dot = (a: Float64Array, b: Float64Array): number => {
  let sum = 0
  for (let i = 0; i < a.length; i++) sum += a[i]! * b[i]!
  return sum
}

// --- TextRank ----------------------------------------------------------------------------

/**
 * TextRank centrality: PageRank (damping `d`) over a graph given as a dense, symmetric
 * `n × n` matrix of non-negative edge weights (row-major; the diagonal is ignored).
 * Scores sum to 1; a node without edges keeps the teleport share.
 *
 * @since 0.1.0
 * @category ranking
 */
export const textRank = (weights: Float64Array, n: number, options: { readonly d?: number; readonly iterations?: number } = {}): Array<number> => {
  if (n === 0) return []
  const d = options.d ?? 0.85
  const iterations = options.iterations ?? 50
  const out = new Float64Array(n) // each node's total edge weight
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) if (j !== i) out[i]! += weights[i * n + j]!
  }
  let rank = new Float64Array(n).fill(1 / n)
  for (let it = 0; it < iterations; it++) {
    const next = new Float64Array(n)
    let dangling = 0
    for (let j = 0; j < n; j++) if (out[j] === 0) dangling += rank[j]!
    for (let i = 0; i < n; i++) {
      let sum = 0
      for (let j = 0; j < n; j++) {
        if (j !== i && out[j]! > 0) sum += weights[j * n + i]! / out[j]! * rank[j]!
      }
      next[i] = (1 - d) / n + d * (sum + dangling / n)
    }
    let delta = 0
    for (let i = 0; i < n; i++) delta += Math.abs(next[i]! - rank[i]!)
    rank = next
    if (delta < 1e-10) break
  }
  return Array.from(rank)
}
