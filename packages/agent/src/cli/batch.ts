/**
 * `hybrid batch in.jsonl -o out.jsonl [--resume] [--retry-failed] [--overwrite]
 * [--max-line-bytes n] [--rpm n] [--tpm n] [--concurrency n] [--budget 15s] [--scale x]
 * [--faults spec]` — answers every line of a JSONL file with the hybrid agent, through
 * `@hybrid/core`'s `Batch.run`.
 *
 * Each input line is `{ "query": "…", "budgetMs"?: n }`, decoded with a Schema (a line
 * that is not JSON, lacks a non-empty `query` or has one over 2,000 characters — as
 * `serve` — becomes a failed result naming its line and the run goes on; a line over
 * `--max-line-bytes`, default 1 MiB, is a `LineTooLarge` result, never parsed). Each output line is Batch's record, `line` being the 1-based
 * input line number: `{ "line": 3, "ok": true, "value": <Agent.Answer as JSON>,
 * "attempts": 1, "ms": 4612 }` or `{ "line": 4, "ok": false, "error": { "_tag":
 * "NoAnswer", "message": "…" }, … }`, in completion order.
 *
 * - `--resume`: skip the lines the journal (`out.jsonl.journal`) has done — after a crash
 *   or Ctrl-C nothing finished is lost or repeated; `--retry-failed`: also rerun failures.
 *   Without them, an output (or journal) holding an earlier run's results is refused
 *   (exit 2, nothing changed); `--overwrite` starts afresh and keeps them as `.bak`.
 * - One run per output: a second `batch` on the same `-o` fails at once naming the pid
 *   holding it (exit 1); an input that is the output (or a link to it) is refused (exit 2).
 * - Exit codes: 0 every line ok; 3 some lines failed (stderr says how many and which);
 *   2 usage error; 1 could not run.
 * - Failures in the output and the journal are scrubbed (`Scrub`): no configured key, no
 *   `Authorization` value, no URL userinfo.
 *   The journal key includes the line, `--scale`, `--faults` and `--budget`: change one
 *   and a resume redoes every line.
 * - `--rpm`: answers started per minute; `--tpm`: LLM tokens per minute, reserved before
 *   each answer as the query's tokens + 1,500 (the sources' context and the reply; the
 *   agent's answer reports no usage to reconcile with).
 * - Progress goes to stderr; the summary to stdout.
 * - Relative paths are taken from the directory the command was started in (`INIT_CWD`
 *   under `pnpm hybrid`, which runs the script in `packages/agent`).
 *
 * @since 0.1.0
 */
import { resolve } from "node:path"
import { Console, Duration, Effect, FileSystem, Option, Schema } from "effect"
import { Argument, Command, Flag } from "effect/cli"
import { Batch } from "@hybrid/core"
import * as Agent from "../Agent.ts"
import * as Api from "../serve/Api.ts"
import { agent, budget, budgetOf, cluster, faults, faultsOf, InvalidInput, LinesFailed, positiveInt, reported, scale, scrubber } from "./shared.ts"

/**
 * One input line.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Request = Schema.Struct({
  query: Schema.String.check(
    Schema.isPattern(/\S/, { message: "query must not be empty" }),
    // the longest query `serve`'s `AnswerRequest` takes
    Schema.isMaxLength(Api.maxQueryChars, { message: `query must be at most ${Api.maxQueryChars} characters` })
  ),
  budgetMs: Schema.optional(Schema.Finite.check(Schema.isGreaterThan(0), Schema.isLessThanOrEqualTo(600_000)))
})
/** @since 0.1.0 @category models */
export type Request = typeof Request.Type

/** Tokens reserved per answer besides the query's own: the sources' context and the reply. */
const contextTokens = 1_500

const encodeAnswer = Schema.encodeSync(Agent.Answer)

/**
 * @since 0.1.0
 * @category commands
 */
export const batch = Command.make(
  "batch",
  {
    input: Argument.String("input").pipe(Argument.withDescription("JSONL file, one { \"query\": … } per line")),
    output: Flag.String("output").pipe(Flag.withAlias("o"), Flag.withDescription("JSONL file for the results (one line per input line)")),
    resume: Flag.Boolean("resume").pipe(Flag.withDescription("skip lines already done (read from <output>.journal)"), Flag.withDefault(false)),
    retryFailed: Flag.Boolean("retry-failed").pipe(Flag.withDescription("with --resume semantics, and rerun the lines that failed"), Flag.withDefault(false)),
    overwrite: Flag.Boolean("overwrite").pipe(
      Flag.withDescription("start afresh over an earlier run's output, keeping its files as .bak"),
      Flag.withDefault(false)
    ),
    maxLineBytes: positiveInt("max-line-bytes").pipe(
      Flag.withDescription("a longer input line fails alone (LineTooLarge), unread; default 1048576"),
      Flag.withDefault(1_048_576)
    ),
    rpm: positiveInt("rpm").pipe(Flag.withDescription("answers started per minute"), Flag.optional),
    tpm: positiveInt("tpm").pipe(Flag.withDescription("LLM tokens per minute"), Flag.optional),
    concurrency: positiveInt("concurrency").pipe(Flag.withDescription("answers at once"), Flag.withDefault(4)),
    budget,
    scale,
    faults,
    cluster
  },
  Effect.fn("hybrid.batch")(function*(flags) {
    const faultConfig = yield* faultsOf(flags.faults)
    const time = yield* budgetOf(flags.budget, flags.scale)
    // `pnpm hybrid batch …` runs in packages/agent: relative paths are the caller's
    const from = process.env["INIT_CWD"] ?? process.cwd()
    const input = resolve(from, flags.input)
    const output = resolve(from, flags.output)
    // before starting the fixtures and workers: a missing input is the caller's mistake
    const fs = yield* FileSystem.FileSystem
    if (!(yield* fs.exists(input).pipe(Effect.orElseSucceed(() => false)))) {
      return yield* new InvalidInput({ flag: "input", value: flags.input, reason: `no such file (${input})` })
    }
    if (flags.overwrite && (flags.resume || flags.retryFailed)) {
      return yield* new InvalidInput({ flag: "--overwrite", value: "true", reason: "cannot be combined with --resume or --retry-failed" })
    }
    const refused = (e: Batch.InputIsOutput | Batch.OutputExists) =>
      Effect.fail(new InvalidInput({ flag: "--output", value: flags.output, reason: e.message }))
    // --retry-failed implies --resume
    const ownership = { input, output, resume: flags.resume || flags.retryFailed, retryFailed: flags.retryFailed, overwrite: flags.overwrite }
    // refuse before the fixtures and workers start (Batch.run checks again, atomically)
    yield* Batch.preflight(ownership).pipe(Effect.catchTag(["InputIsOutput", "OutputExists"], refused))
    const scrub = yield* scrubber
    const summary = yield* Batch.run({
      ...ownership,
      request: Request,
      handler: (request: Request) =>
        Agent.answer(request.query, { budget: request.budgetMs ?? time }).pipe(Effect.map(encodeAnswer)),
      concurrency: flags.concurrency,
      limits: {
        requestsPerMinute: Option.getOrUndefined(flags.rpm),
        tokensPerMinute: Option.getOrUndefined(flags.tpm)
      },
      estimate: (request, count) => count(request.query) + contextTokens,
      usage: () => undefined,
      config: {
        scale: flags.scale,
        faults: Option.getOrElse(flags.faults, () => ""),
        budgetMs: Duration.toMillis(time)
      },
      maxLineBytes: flags.maxLineBytes,
      renderError: scrub.error
    }).pipe(
      Effect.catchTag(["InputIsOutput", "OutputExists"], refused),
      Effect.provide(agent({ scale: flags.scale, faults: faultConfig, cluster: flags.cluster }))
    )
    for (const stale of summary.staleLocks) {
      yield* Console.error(`batch: removed a stale lock left by pid ${stale.pid} (started ${stale.startedAt}), which is no longer running`)
    }
    if (summary.backups.length > 0) yield* Console.error(`batch: the earlier results were kept as ${summary.backups.join(", ")}`)
    yield* Console.log(
      `batch: ${summary.lines} lines, ${summary.ok} ok, ${summary.failed} failed, ${summary.skipped} skipped (already done) ` +
        `in ${(summary.ms / 1000).toFixed(1)} s → ${output}`
    )
    const failed = summary.failedLines
    if (failed.length > 0) {
      const where = failed.slice(0, 20).join(", ") + (failed.length > 20 ? `, … (${failed.length - 20} more)` : "")
      return yield* new LinesFailed({ failed: failed.length, lines: summary.lines, where, output })
    }
  }, reported("batch"))
).pipe(
  Command.withDescription(
    "answer every line of a JSONL file; resumable. Exit codes: 0 every line ok, 3 some lines failed, 2 usage error, 1 could not run"
  ),
  Command.withExamples([
    { command: "hybrid batch questions.jsonl -o answers.jsonl --rpm 60", description: "at most 60 answers started per minute" },
    { command: "hybrid batch questions.jsonl -o answers.jsonl --resume", description: "carry on after a crash or Ctrl-C" }
  ])
)
