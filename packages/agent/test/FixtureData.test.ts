import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { Agent, FixtureData, Processing, Query } from "@hybrid/agent"
import * as Corpus from "../src/fixtures/corpus.ts"

/** Each sample query: the section of the docs the knowledge base must rank first, and the topic its top passages must name. */
const expected: ReadonlyArray<{ readonly title: string; readonly topic: RegExp }> = [
  { title: "Deadline.within", topic: /deadline/i },
  { title: "Retry.retryAfter", topic: /retry-?after/i },
  { title: "Circuit breakers: Effect's own, composed", topic: /circuit/i },
  { title: "TaskGroup", topic: /cancel|interrupt/i },
  { title: "Hedge", topic: /tail latency|backup/i }
]

describe("FixtureData", () => {
  it("the knowledge base ranks the expected passage of the docs first for every sample query", () => {
    assert.strictEqual(Agent.sampleQueries.length, expected.length)
    for (const [i, query] of Agent.sampleQueries.entries()) {
      const { title, topic } = expected[i]!
      const top = FixtureData.kb(1, Query.make(query).terms).documents[0]
      assert.strictEqual(top?.title, title, query)
      assert.match(top!.text, topic, query)
    }
  })

  it.effect("the agent's processing ranks a chunk on the topic first for every sample query", () =>
    Effect.gen(function*() {
      for (const [i, query] of Agent.sampleQueries.entries()) {
        const documents = FixtureData.kb(1, Query.make(query).terms).documents
        const processed = yield* Processing.run({ query, source: "kb", documents, options: { ...Processing.defaults, projections: 8 } })
        const top = processed.chunks[0]!.text
        assert.match(top, expected[i]!.topic, query)
      }
    }).pipe(Effect.provide(Processing.layerInProcess())))

  it("knowledge-base documents are the project's docs: prose without code blocks, at most ~3,000 characters", () => {
    const { documents } = FixtureData.kb(1, "NodeRunner worker threads", 5)
    assert.strictEqual(documents.length, 5)
    for (const doc of documents) {
      assert.notInclude(doc.text, "```")
      assert.notInclude(doc.text, "@since")
      assert.isAtMost(doc.text.length, 3_000 + 1_000) // the context, plus at most one long paragraph
    }
    assert.isTrue(documents.every((d, i) => i === 0 || d.score <= documents[i - 1]!.score))
    assert.deepStrictEqual(FixtureData.kb(1, "zzzz qqqq").documents, [])
  })

  it("the corpus: two sections with one heading both stay searchable; a hit's context is its page's neighbours", () => {
    const text = (topic: string) => `This section is about ${topic}, with enough words to be a passage of its own.`
    const index = Corpus.index([
      { id: "guide", sections: [{ id: "guide#setup", title: "Setup", text: text("bananas") }, { id: "guide#setup", title: "Setup", text: text("cherries") }] },
      { id: "other", sections: [{ id: "other#x", title: "Elsewhere", text: text("dates") }] }
    ])
    const [hit] = index.search("cherries", 3)
    assert.strictEqual(hit?.passage.title, "Setup")
    assert.include(hit!.text, "cherries")
    assert.include(hit!.text, "bananas") // the page's other passage, as context
    assert.notInclude(hit!.text, "dates") // never another page's
    assert.strictEqual(index.search("bananas cherries", 3).length, 1) // the second hit is inside the first one's context
    assert.deepStrictEqual(Corpus.tokenize("NodeRunner.runParts"), ["Node", "Runner", "run", "Parts"])
  })

  it("news reads like news: seeded stories, the best matches first, no query words pasted in", () => {
    const nonsense = FixtureData.news(1, "marmalade zeppelin", 5)
    assert.strictEqual(nonsense.articles.length, 5) // the day's headlines
    for (const a of nonsense.articles) assert.notMatch(`${a.title} ${a.summary}`, /marmalade|zeppelin/i)
    const cycling = FixtureData.news(1, "cycling e-bikes", 5)
    assert.isAtLeast(cycling.articles.filter((a) => /cycl|bike/i.test(`${a.title} ${a.summary}`)).length, 4)
    for (const a of cycling.articles) assert.notMatch(a.title + a.summary, /\{|\}/) // every slot filled
    assert.deepStrictEqual(FixtureData.news(1, "cycling e-bikes", 5), cycling)
    assert.notDeepEqual(FixtureData.news(2, "cycling e-bikes", 5), cycling) // another seed, other places and figures
  })

  it("weather fits the city and the season: no snow in Lisbon, no thunderstorms in Oslo in January", () => {
    for (let seed = 1; seed <= 40; seed++) {
      const lisbon = FixtureData.weather(seed, "Lisbon")
      const oslo = FixtureData.weather(seed, "Oslo")
      assert.isAtLeast(lisbon.temperatureC, 8)
      assert.isAtMost(oslo.temperatureC, 5)
      for (const w of [lisbon, oslo]) {
        for (const day of [{ condition: w.condition, highC: w.temperatureC }, ...w.forecast]) {
          if (/snow|frost|freezing/.test(day.condition)) assert.isAtMost(day.highC, 1, `${w.city}: ${day.condition} at ${day.highC}°C`)
          if (/thunder|humid/.test(day.condition)) assert.isAbove(day.highC, 20, `${w.city}: ${day.condition} at ${day.highC}°C`)
        }
      }
    }
    assert.strictEqual(FixtureData.weather(3, "new york").city, "New York")
  })
})
