import { assert, describe, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import { countTokens, encode } from "gpt-tokenizer/encoding/o200k_base"
import { Runner } from "@hybrid/core"
import { FixtureData, Processing } from "@hybrid/agent"

const kb = FixtureData.kb(1, "asyncio event loop")
const documents: ReadonlyArray<Processing.Document> = [
  ...kb.documents.map((d) => ({ id: d.id, title: d.title, text: d.text })),
  {
    id: "geo",
    title: "Geography",
    text: "Lisbon is the capital of Portugal. Porto is famous for its wine. The Tagus river flows through Lisbon."
  }
]

const input = (query: string, options: Partial<Processing.Options> = {}): Processing.Input => ({
  query,
  source: "kb",
  documents,
  options: { ...Processing.defaults, projections: 8, ...options }
})

/** A result without its (measured, so varying) CPU time. */
const stable = ({ cpuMs: _, ...rest }: Processing.Processed) => rest

const nonSpace = (text: string) => Array.from(text.matchAll(/\S/g), (m) => m.index)

/** Text made of sentences of words, as the chunking property draws it. */
const Sentences = Schema.Array(
  Schema.Array(Schema.Literals(["the", "event", "loop", "runs", "coroutines", "Lisbon", "x", "antidisestablishmentarianism", "16.5°C", "—"]))
    .check(Schema.isBetweenLength(1, 30))
).check(Schema.isBetweenLength(0, 12))

const render = (sentences: ReadonlyArray<ReadonlyArray<string>>, breaks: boolean) =>
  sentences.map((words, i) => `${words.join(" ")}${i % 3 === 2 ? "?" : "."}`).join(breaks ? "\n\n" : " ")

describe("Processing", () => {
  it("tokenizes with gpt-tokenizer's o200k_base", () => {
    for (const text of ["", "The event loop runs coroutines.", kb.documents[0]!.text, "naïve café — 16.5°C, 東京"]) {
      assert.deepStrictEqual(Processing.tokenize(text), encode(text))
      assert.strictEqual(Processing.countTokens(text), countTokens(text))
    }
    // special-token text is plain text here, not an error
    assert.isAbove(Processing.countTokens("before <|endoftext|> after"), 3)
  })

  it("splits sentences at terminal punctuation and line breaks, keeping offsets", () => {
    const text = "It is 16.5°C today. Is it? Yes!\nA new line\n\n  Last one"
    const spans = Processing.sentences(text)
    assert.deepStrictEqual(spans.map((s) => s.text), ["It is 16.5°C today.", "Is it?", "Yes!", "A new line", "Last one"])
    for (const s of spans) assert.strictEqual(text.slice(s.start, s.end), s.text)
  })

  it.prop(
    "chunking: chunks are in-order slices within the token limit that cover every character",
    { sentences: Sentences, maxTokens: Schema.Int.check(Schema.isBetween({ minimum: 4, maximum: 64 })), breaks: Schema.Boolean },
    ({ breaks, maxTokens, sentences }) => {
      const text = render(sentences, breaks)
      const chunks = Processing.chunk(text, { maxTokens })
      const covered = new Set<number>()
      let previousEnd = 0
      chunks.forEach((c, i) => {
        assert.strictEqual(c.index, i)
        assert.strictEqual(c.text, text.slice(c.start, c.end))
        assert.isAtLeast(c.start, previousEnd)
        assert.strictEqual(c.tokens, countTokens(c.text))
        // over the limit only when it is a single word
        if (c.tokens > maxTokens) assert.notMatch(c.text, /\s/)
        for (let k = c.start; k < c.end; k++) covered.add(k)
        previousEnd = c.end
      })
      assert.deepStrictEqual(nonSpace(text).filter((k) => !covered.has(k)), [])
    },
    { arbitrary: { runs: 150 } }
  )

  it("chunking keeps sentences whole, and overlap repeats the last one", () => {
    const text = "One two three. Four five six. Seven eight nine. Ten eleven twelve."
    const plain = Processing.chunk(text, { maxTokens: 8 })
    assert.deepStrictEqual(plain.map((c) => c.text), ["One two three. Four five six.", "Seven eight nine. Ten eleven twelve."])
    const overlapping = Processing.chunk(text, { maxTokens: 8, overlap: 1 })
    assert.deepStrictEqual(overlapping.map((c) => c.text), [
      "One two three. Four five six.",
      "Four five six. Seven eight nine.",
      "Seven eight nine. Ten eleven twelve."
    ])
  })

  it("BM25 ranks the document with the query's terms first; terms are stemmed and stop-word free", () => {
    assert.deepStrictEqual(Processing.terms("The Cars of Lisbon's cities"), ["car", "lisbon", "city"])
    const docs = [
      "Porto is famous for its wine and its bridges.",
      "The event loop runs coroutines one step at a time; the event loop never blocks.",
      "Coroutines are functions that can pause."
    ].map(Processing.terms)
    const scores = Processing.bm25(Processing.terms("event loop"), docs)
    assert.strictEqual(scores.indexOf(Math.max(...scores)), 1)
    assert.strictEqual(scores[0], 0)
    assert.deepStrictEqual(Processing.bm25(["x"], []), [])
  })

  it("hashing embeddings: deterministic, unit length, closer for texts that share words", () => {
    const dims = 512
    const a = Processing.embed(Processing.features("the event loop runs coroutines"), dims, 7)
    const again = Processing.embed(Processing.features("the event loop runs coroutines"), dims, 7)
    assert.deepStrictEqual(Array.from(a), Array.from(again))
    assert.closeTo(Processing.dot(a, a), 1, 1e-9)
    const related = Processing.embed(Processing.features("an event loop schedules coroutine tasks"), dims, 7)
    const unrelated = Processing.embed(Processing.features("Porto is famous for its wine"), dims, 7)
    assert.isAbove(Processing.cosine(a, related), Processing.cosine(a, unrelated) + 0.2)
    // another seed is another projection of the same text
    assert.notDeepEqual(Array.from(Processing.embed(Processing.features("the event loop"), dims, 8)), Array.from(a))
  })

  it("TextRank: the hub of a star graph ranks first, scores sum to 1", () => {
    const n = 4
    const w = new Float64Array(n * n)
    for (let i = 1; i < n; i++) w[i] = w[i * n] = 1 // node 0 linked to every other node
    const ranks = Processing.textRank(w, n)
    assert.strictEqual(ranks.indexOf(Math.max(...ranks)), 0)
    assert.closeTo(ranks.reduce((a, b) => a + b, 0), 1, 1e-9)
  })

  it("processSource ranks the relevant chunk first and summarises with sentences of the text", () => {
    const result = Processing.processSource(input("Which river flows through Lisbon, the capital of Portugal?"))
    assert.strictEqual(result.chunks[0]!.document, "geo")
    assert.include(result.chunks[0]!.text, "Tagus")
    assert.isAbove(result.chunks[0]!.bm25, 0)
    assert.isAbove(result.chunks[0]!.cosine, result.chunks[1]!.cosine)
    assert.strictEqual(result.chunks.length, Processing.defaults.topK)
    for (let i = 1; i < result.chunks.length; i++) assert.isAtMost(result.chunks[i]!.score, result.chunks[i - 1]!.score)
    assert.strictEqual(result.documents, documents.length)
    assert.strictEqual(result.tokens, documents.reduce((sum, d) => sum + countTokens(d.text), 0))
    const all = new Set(documents.flatMap((d) => Processing.sentences(d.text).map((s) => s.text)))
    assert.strictEqual(result.summary.length, Processing.defaults.summarySentences)
    for (const sentence of result.summary) assert.isTrue(all.has(sentence), sentence)
    assert.strictEqual(new Set(result.summary).size, result.summary.length)

    const onTopic = Processing.processSource(input("asyncio event loop", { summarySentences: 3 }))
    assert.notStrictEqual(onTopic.chunks[0]!.document, "geo")
    assert.isTrue(onTopic.summary.some((s) => /asyncio|event loop/i.test(s)))
  })

  it("processSource is deterministic, and the handler gives the same result", () =>
    Effect.runPromise(Effect.gen(function*() {
      const payload = input("event loop timeouts", { projections: 20, overlap: 1, topK: 5 })
      const first = Processing.processSource(payload)
      assert.deepStrictEqual(stable(Processing.processSource(payload)), stable(first))
      const viaHandler = yield* Effect.promise(async () => {
        const effect = Processing.handlers.ProcessSource(payload)
        return Effect.isEffect(effect) ? Effect.runPromise(effect) : effect
      })
      assert.deepStrictEqual(stable(viaHandler), stable(first))
      // and through the Runner's schema round trip
      const viaRunner = yield* Processing.run(payload).pipe(Effect.provide(Processing.layerInProcess()))
      assert.deepStrictEqual(stable(viaRunner), stable(first))
      assert.isAbove(viaRunner.cpuMs, 0)
    })))

  it("an empty source gives an empty result, not a failure", () => {
    const result = Processing.processSource({ query: "anything", source: "news", documents: [], options: Processing.defaults })
    assert.deepStrictEqual(stable(result), {
      source: "news",
      chunks: [],
      summary: [],
      tokens: 0,
      documents: 0,
      chunkCount: 0,
      sentenceCount: 0
    })
  })

  it("more projections cost proportionally more CPU (the scale knob)", () => {
    const payload = input("event loop")
    const time = (projections: number) => {
      const state = Processing.prepare(payload) // the fixed part: tokenizing, chunking, BM25
      const t0 = performance.now()
      for (let i = 0; i < projections; i++) Processing.project(state)
      const ms = performance.now() - t0
      assert.strictEqual(Processing.finish(state, ms).chunkCount, state.chunks.length)
      return ms
    }
    time(10) // warm up
    const best = (projections: number) => Math.min(time(projections), time(projections), time(projections))
    assert.isAbove(best(100), best(20) * 2.5)
    assert.strictEqual(Processing.projectionsAt(1), Processing.projectionsPerScale)
    assert.strictEqual(Processing.projectionsAt(0.05), Math.round(Processing.projectionsPerScale * 0.05))
    assert.strictEqual(Processing.projectionsAt(1e-9), 1)
  })

  it.prop(
    "ranges split the projections into contiguous, near-equal parts that cover them exactly",
    { projections: Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 5_000 })), parts: Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 16 })) },
    ({ parts, projections }) => {
      const split = Processing.ranges(projections, parts)
      assert.strictEqual(split.length, Math.min(parts, projections))
      assert.strictEqual(split[0]![0], 0)
      assert.strictEqual(split[split.length - 1]![1], projections)
      split.forEach(([from, to], i) => {
        assert.isAbove(to, from)
        if (i > 0) assert.strictEqual(from, split[i - 1]![1])
      })
      const sizes = split.map(([from, to]) => to - from)
      assert.isAtMost(Math.max(...sizes) - Math.min(...sizes), 1)
    }
  )

  it("a source split into parts and merged gives processSource's result (up to rounding)", () => {
    const payload = input("asyncio event loop", { projections: 24, topK: 5 })
    const whole = Processing.processSource(payload)
    for (const parts of [2, 3, 7]) {
      const merged = Processing.mergeParts({
        input: payload,
        parts: Processing.ranges(24, parts).map(([from, to]) => Processing.projectPart({ input: payload, from, to }))
      })
      assert.deepStrictEqual(merged.chunks.map((c) => c.id), whole.chunks.map((c) => c.id))
      merged.chunks.forEach((c, i) => assert.closeTo(c.score, whole.chunks[i]!.score, 1e-5))
      assert.deepStrictEqual(merged.summary, whole.summary)
      assert.deepStrictEqual(
        { tokens: merged.tokens, chunkCount: merged.chunkCount, sentenceCount: merged.sentenceCount },
        { tokens: whole.tokens, chunkCount: whole.chunkCount, sentenceCount: whole.sentenceCount }
      )
    }
    // a part of another source does not fit: a defect, not a wrong answer
    const other = input("x", { projections: 4 })
    const foreign = Processing.projectPart({ input: { ...other, documents: other.documents.slice(0, 1) }, from: 0, to: 4 })
    assert.throws(() => Processing.mergeParts({ input: other, parts: [foreign] }), /MergeParts/)
  })

  it.live("runParts spreads a source over the workers and reports each task's CPU time", () =>
    Effect.gen(function*() {
      const payload = input("river Lisbon", { projections: 40 })
      const split = yield* Processing.runParts(payload, { parts: 2, concurrency: "unbounded" })
      assert.strictEqual(split.tasksMs.length, 3) // two parts, then the merge
      assert.closeTo(split.tasksMs.reduce((a, b) => a + b, 0), split.processed.cpuMs, 0.05)
      assert.deepStrictEqual(split.processed.summary, Processing.processSource(payload).summary)
      const single = yield* Processing.runParts(payload, { parts: 1, concurrency: 1 })
      assert.deepStrictEqual(single.tasksMs, [single.processed.cpuMs])
      assert.deepStrictEqual(stable(single.processed), stable(Processing.processSource(payload)))
    }).pipe(Effect.provide(Processing.layerNode({ size: 2 }))), 20_000)

  it.live("the task runs the same on worker threads (NodeRunner) as in process", () =>
    Effect.gen(function*() {
      const payload = input("river Lisbon", { projections: 30 })
      const [a, b] = yield* Runner.forEach(Processing.ProcessSource, [payload, input("asyncio", { projections: 30 })])
      assert.deepStrictEqual(stable(a!), stable(Processing.processSource(payload)))
      assert.strictEqual(b!.source, "kb")
    }).pipe(Effect.provide(Processing.layerNode({ size: 2 }))), 20_000)
})
