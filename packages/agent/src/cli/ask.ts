/**
 * `hybrid ask "question" [--budget 5s] [--json] [--scale x] [--faults spec]` — one answer
 * from the hybrid agent: against the fixtures by default, against real services and a
 * real LLM wherever `HYBRID_WEATHER_URL`, `HYBRID_NEWS_URL`, `HYBRID_KB_URL` and
 * `OPENAI_BASE_URL` (with `OPENAI_API_KEY`, `OPENAI_MODEL`) are set.
 *
 * Prints the answer, then one line per source (status, milliseconds, what went wrong)
 * and the timings; `--json` prints the `Agent.Answer` as JSON instead. The budget
 * defaults to 30 s × `--scale`; an explicit `--budget` is taken as given. A question no
 * source and no LLM could answer fails with `NoAnswer` (exit code 1); a bad flag, an
 * empty question or one over 2,000 characters (as `serve`) is a usage error (exit code
 * 2). Everything printed goes through the CLI's scrubber (`Scrub`): no configured key,
 * `Authorization` value or URL userinfo is ever printed.
 *
 * @since 0.1.0
 */
import { Console, Duration, Effect, Schema } from "effect"
import { Argument, Command, Flag } from "effect/cli"
import * as Agent from "../Agent.ts"
import * as Api from "../serve/Api.ts"
import { agent, budget, budgetOf, faults, faultsOf, InvalidInput, reported, scale, scrubber } from "./shared.ts"

const encodeAnswer = Schema.encodeSync(Schema.fromJsonString(Agent.Answer))

/**
 * @since 0.1.0
 * @category commands
 */
export const ask = Command.make(
  "ask",
  {
    question: Argument.String("question").pipe(Argument.withDescription("what to ask, in quotes")),
    budget,
    json: Flag.Boolean("json").pipe(Flag.withDescription("print the answer as JSON"), Flag.withDefault(false)),
    scale,
    faults
  },
  Effect.fn("hybrid.ask")(function*(flags) {
    const { question } = flags
    const problem = question.trim() === ""
      ? "expected a non-empty question"
      : question.length > Api.maxQueryChars
      ? `expected at most ${Api.maxQueryChars} characters, got ${question.length}`
      : undefined
    if (problem !== undefined) return yield* new InvalidInput({ flag: "question", value: question, reason: problem })
    const scrub = yield* scrubber
    const faultConfig = yield* faultsOf(flags.faults)
    const time = yield* budgetOf(flags.budget, flags.scale)
    yield* Effect.annotateCurrentSpan({ budgetMs: Duration.toMillis(time) })
    const answer = yield* Agent.answer(question, { budget: time }).pipe(
      Effect.provide(agent({ scale: flags.scale, faults: faultConfig }))
    )
    if (flags.json) return yield* Console.log(scrub.all(encodeAnswer(answer)))
    yield* Console.log(scrub.all(answer.text))
    yield* Console.log("")
    for (const source of answer.sources) {
      yield* Console.log(`${source.name.padEnd(8)} ${source.status.padEnd(12)} ${Math.round(source.ms)} ms${source.error === undefined ? "" : `  ${scrub.text(source.error)}`}`)
    }
    const t = answer.timings
    yield* Console.log(
      `${answer.synthesis}${answer.degraded ? ", degraded" : ""}: total ${Math.round(t.total)} ms ` +
        `(sources ${Math.round(t.context)} ms, llm ${Math.round(t.llm)} ms; critical-path bound ${Math.round(t.bound)} ms)`
    )
  }, reported("ask"))
).pipe(
  Command.withDescription("answer one question with the hybrid agent. Exit codes: 0 answered, 1 NoAnswer (or could not run), 2 usage error"),
  Command.withExamples([
    { command: "hybrid ask \"Will it rain in Oslo, and what is new about electric cars?\"", description: "against the fixtures" },
    { command: "OPENAI_BASE_URL=http://127.0.0.1:11434/v1 hybrid ask \"…\" --budget 20s", description: "with a local LLM" }
  ])
)
