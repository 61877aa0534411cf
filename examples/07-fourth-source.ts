/**
 * Lesson 7 — adding a source: the agent's sources are a list of definitions, so a fourth
 * one is one definition (what to ask, how to read the answer) plus, for the fixtures, one
 * route (what the test server answers). Nothing else changes: its name keys its
 * configuration (`HYBRID_DOCS_URL`, `HYBRID_DOCS_TIMEOUT`, …), its faults (`docs=down`),
 * its report and its column.
 *
 * Run: pnpm example 07 [--scale 0.05]
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Console, Effect, Schema } from "effect"
import { Agent, Faults, Fixtures, Source } from "@hybrid/agent"
import { ms, scale } from "./scale.ts"

// 1. the source: GET /docs/search?q=<terms> → { pages: [{ url, text }] }
const Docs = Source.define({
  name: "docs",
  label: "Docs",
  schema: Schema.Struct({ pages: Schema.Array(Schema.Struct({ url: Schema.String, text: Schema.String })) }),
  request: (query) => ({ path: "/docs/search", params: { q: query.terms } }),
  documents: (body) => body.pages.map((page) => ({ id: page.url, title: page.url, text: page.text })),
  defaults: { timeout: ms(2_000), retries: 1 }
})

// 2. its fixture: the page a docs site would answer, after 0.4 s (before --scale)
const docsRoute = Fixtures.route({
  name: "docs",
  path: "/docs/search",
  params: Schema.Struct({ q: Schema.String }),
  respond: (_seed, { q }) => ({
    pages: [{
      url: "https://docs.example/deadline-within",
      text: `Results for ${q}. Deadline.within runs an effect with a deadline: the earlier of the inherited one ` +
        "and now plus the duration. Every fiber it forks sees the same deadline, so one budget bounds a whole call tree."
    }]
  }),
  latency: Faults.fixed(400)
})

// 3. register both: the agent over four sources, the fixtures serving four routes
const program = Effect.gen(function*() {
  const answer = yield* Agent.answer("What does Deadline.within do, and is it raining in Oslo?", { budget: ms(30_000) })
  for (const source of answer.sources) yield* Console.log(`${source.name.padEnd(8)} ${source.status}`)
  yield* Console.log(`\n${answer.synthesis}: ${answer.text}`)
}).pipe(
  Effect.provide(Fixtures.layerAgent({
    scale,
    routes: [...Fixtures.routes, docsRoute],
    agent: { sources: [...Agent.defaultSources, Docs] }
  }))
)

NodeRuntime.runMain(program)
