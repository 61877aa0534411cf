/**
 * What the `hybrid` commands share: the `--scale` and `--faults` flags, the errors a
 * command fails with (`InvalidInput`, naming the flag or field and the value;
 * `CommandFailed`; `LinesFailed`) and their exit codes, the scrubber every printed error
 * goes through, the agent over the fixtures, durations as people type them, the sample
 * queries.
 *
 * Exit codes (`Runtime.errorExitCode` on each error class):
 *
 * | code | when                                                                 |
 * |------|----------------------------------------------------------------------|
 * | 0    | done: every line ok (`batch`), an answer (`ask`), a clean stop        |
 * | 1    | could not run: `NoAnswer`, a port in use, a locked output, bad config |
 * | 2    | usage: an unknown flag, a bad value, input = output, an earlier run's output without `--resume` / `--overwrite` |
 * | 3    | `batch` ran, but some lines failed (the summary says how many and which) |
 * | 130  | interrupted (Ctrl-C, SIGTERM)                                         |
 *
 * @since 0.1.0
 */
import type * as ClusterRunnerModule from "@hybrid/cluster/ClusterRunner"
import * as Runner from "@hybrid/core/Runner"
import { Cause, Config, Duration, Effect, Layer, Option, Predicate, Runtime, Schema } from "effect"
import { CliError, Flag } from "effect/cli"
import * as Agent from "../Agent.ts"
import * as Faults from "../fixtures/Faults.ts"
import * as Fixtures from "../fixtures/Fixtures.ts"
import * as Processing from "../processing/Processing.ts"
import { Tasks as ProcessingTasks } from "../processing/tasks.ts"
import * as Scrub from "../Scrub.ts"

// --- errors ------------------------------------------------------------------------------

/** A CLI failure: `Command.run` prints its message (not a stack) and the process exits with `exitCode`. */
const reportedAs = <B extends new (...args: Array<any>) => Error>(exitCode: number, Base: B) =>
  class extends Base {
    override get [CliError.userMessage](): string {
      return this.message
    }
    override readonly [Runtime.errorExitCode] = exitCode
  }

/**
 * Bad input: `flag` is the flag (`--faults`), argument or field (`budgetMs`) that was
 * wrong, `value` what was given, `reason` what was expected. `Command.run` prints its
 * message on stderr and the process exits with code 2 (a usage error). `value` is cut to
 * 80 characters in the message.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidInput extends reportedAs(2, Schema.TaggedError<InvalidInput>()("InvalidInput", {
  flag: Schema.String,
  value: Schema.String,
  reason: Schema.String
})) {
  override get message(): string {
    const value = this.value.length > 80 ? `${this.value.slice(0, 79)}…` : this.value
    return `invalid ${this.flag} ${JSON.stringify(value)}: ${this.reason}`
  }
}

/**
 * A command could not do its job for a reason other than its input (a file that cannot
 * be written, a port in use, a configuration variable that does not parse): the
 * underlying error's tag and message, scrubbed (`Scrub`). Exit code 1.
 *
 * @since 0.1.0
 * @category errors
 */
export class CommandFailed extends reportedAs(1, Schema.TaggedError<CommandFailed>()("CommandFailed", {
  command: Schema.String,
  error: Schema.String,
  detail: Schema.String
})) {
  override get message(): string {
    return `hybrid ${this.command} failed: ${this.error}: ${this.detail}`
  }
}

/**
 * `hybrid batch` ran to the end but `failed` of its `lines` lines failed: `where` lists
 * them (the first 20), and their errors are in `output`. Exit code 3.
 *
 * @example
 * ```ts
 * import { LinesFailed } from "@hybrid/agent/cli/shared"
 *
 * new LinesFailed({ failed: 3, lines: 4, where: "2, 4, 5", output: "out.jsonl" }).message
 * // "3 of 4 lines failed (lines 2, 4, 5); their errors are in out.jsonl"
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class LinesFailed extends reportedAs(3, Schema.TaggedError<LinesFailed>()("LinesFailed", {
  failed: Schema.Int,
  lines: Schema.Int,
  where: Schema.String,
  output: Schema.String
})) {
  override get message(): string {
    return `${this.failed} of ${this.lines} line${this.lines === 1 ? "" : "s"} failed (line${this.failed === 1 ? "" : "s"} ${this.where}); their errors are in ${this.output}`
  }
}

/**
 * A command-line usage error (an unknown flag, a missing argument, a value that does not
 * parse): `Command.run` has already printed it with the help. Exit code 2.
 *
 * @example
 * ```ts
 * import { UsageError } from "@hybrid/agent/cli/shared"
 *
 * new UsageError({ errors: 1 })
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class UsageError extends Schema.TaggedError<UsageError>()("UsageError", { errors: Schema.Int }) {
  override readonly [Runtime.errorExitCode] = 2
  override readonly [Runtime.errorReported] = false
}

// --- scrubbing -----------------------------------------------------------------------------

/**
 * The scrubber for what the CLI prints and writes: `Scrub`'s patterns plus the
 * configured `OPENAI_API_KEY` (read with `Config`; absent or unreadable: patterns only).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { scrubber } from "@hybrid/agent/cli/shared"
 *
 * const program = Effect.map(scrubber, (scrub) => scrub.text("Authorization: Bearer abcdefgh"))
 * ```
 *
 * @since 0.1.0
 * @category scrubbing
 */
export const scrubber: Effect.Effect<Scrub.Scrubber> = Effect.gen(function*() {
  const key = yield* Config.option(Config.Redacted("OPENAI_API_KEY"))
  return Scrub.make({ secrets: [Option.getOrUndefined(key)] })
}).pipe(Effect.orElseSucceed(() => Scrub.patterns))

/** `error` as `command`'s `CommandFailed`: its tag and message, scrubbed (`scrubber`). */
const commandFailed = (command: string, error: unknown): Effect.Effect<never, CommandFailed> =>
  Effect.flatMap(scrubber, (scrub) => {
    const { _tag, message } = scrub.error(error)
    return Effect.fail(new CommandFailed({ command, error: _tag, detail: message }))
  })

/**
 * Keeps errors that already speak to the user (`InvalidInput`, `LinesFailed`) and turns
 * every other failure of `command` — and an `InvalidOption` defect, thrown when a layer
 * is built with a bad option — into a `CommandFailed` with its tag and message scrubbed
 * (`scrubber`), which `Command.run` prints on stderr (exit code 1).
 *
 * @since 0.1.0
 * @category combinators
 */
export const reported = (command: string) => <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, InvalidInput | CommandFailed | LinesFailed, R> =>
  Effect.catch(self, (error): Effect.Effect<never, InvalidInput | CommandFailed | LinesFailed> =>
    error instanceof InvalidInput || error instanceof LinesFailed ? Effect.fail(error) : commandFailed(command, error)
  ).pipe(
    // a bad option thrown while a layer is built (InvalidOption) is a defect: report it the same way
    Effect.catchDefect((defect) => Predicate.isTagged(defect, "InvalidOption") ? commandFailed(command, defect) : Effect.die(defect))
  )

// --- flags -------------------------------------------------------------------------------

/**
 * An integer flag that must be ≥ 1, its error naming it (`--rpm must be a positive integer, got 0`).
 *
 * @since 0.1.0
 * @category flags
 */
export const positiveInt = (name: string) =>
  Flag.Int(name).pipe(Flag.filter((n) => Number.isSafeInteger(n) && n >= 1, (n) => `--${name} must be a positive integer, got ${n}`))

/**
 * `--port`: an integer in [`min`, 65535], its error naming the range
 * (`--port must be between 1 and 65535, got 0`).
 *
 * @since 0.1.0
 * @category flags
 */
export const port = (min: number) =>
  Flag.Int("port").pipe(Flag.filter((p) => p >= min && p <= 65_535, (p) => `--port must be between ${min} and 65535, got ${p}`))

/**
 * `--scale x`: multiplies every simulated latency and CPU cost (and the timeouts scaled
 * with them); `0.05` runs the demo in well under a second. A finite number > 0.
 *
 * @since 0.1.0
 * @category flags
 */
export const scale = Flag.Finite("scale").pipe(
  Flag.withDescription("multiply every simulated latency and CPU cost (0.05: twenty times faster)"),
  Flag.filter((x) => x > 0, (x) => `--scale must be a number > 0, got ${x}`),
  Flag.withDefault(1)
)

/**
 * `--faults spec`: fixture faults, e.g. `news=down,weather=slow,kb=malformed,llm=429`
 * (see `Faults.parse`). Read with `faultsOf`.
 *
 * @since 0.1.0
 * @category flags
 */
export const faults = Flag.String("faults").pipe(
  Flag.withDescription("fixture faults, e.g. news=down,weather=slow,kb=malformed,llm=429 (service: weather, news, kb, llm, all)"),
  Flag.optional
)

/**
 * Parses `--faults`; a bad entry is an `InvalidInput` naming it.
 *
 * @since 0.1.0
 * @category flags
 */
export const faultsOf = (spec: Option.Option<string>): Effect.Effect<Faults.Config, InvalidInput> =>
  Option.match(spec, {
    onNone: () => Effect.succeed({}),
    onSome: (text) =>
      Faults.parse(text).pipe(
        Effect.mapError((e) => new InvalidInput({ flag: "--faults", value: e.entry, reason: `${e.reason} (in "${e.spec}")` }))
      )
  })

// --- durations ---------------------------------------------------------------------------

/** Each unit's milliseconds, by every spelling of it. */
const units = new Map(
  ([[1, "ms millis millisecond milliseconds"], [1_000, "s sec secs second seconds"], [60_000, "m min mins minute minutes"]] as const)
    .flatMap(([ms, spellings]) => spellings.split(" ").map((spelling) => [spelling, ms] as const))
)

/**
 * A duration as people type it — `5s`, `1.5 s`, `500ms`, `2 minutes`, or a bare number of
 * milliseconds — in milliseconds; `undefined` when it is none of those or not > 0.
 *
 * @since 0.1.0
 * @category parsing
 */
export const parseMillis = (text: string): number | undefined => {
  const match = /^\s*(\d+(?:\.\d+)?|\.\d+)\s*([a-z]*)\s*$/i.exec(text)
  if (match === null) return undefined
  const factor = match[2] === "" ? 1 : units.get(match[2]!.toLowerCase())
  if (factor === undefined) return undefined
  const ms = Number(match[1]) * factor
  return Number.isFinite(ms) && ms > 0 ? ms : undefined
}

/**
 * `--budget`: the time for one answer (fetches, processing, LLM). Default: 30 s × scale.
 *
 * @since 0.1.0
 * @category flags
 */
export const budget = Flag.String("budget").pipe(
  Flag.withDescription("time for one answer, e.g. 5s, 800ms (default: 30 s × --scale)"),
  Flag.optional
)

/**
 * `text`, the value of the duration flag `flag`, in milliseconds (`parseMillis`); a bad
 * value is an `InvalidInput` that expects "a duration > 0 such as `examples`".
 *
 * @since 0.1.0
 * @category parsing
 */
export const millisOf = (flag: string, text: string, examples: string): Effect.Effect<number, InvalidInput> => {
  const ms = parseMillis(text)
  return ms === undefined
    ? Effect.fail(new InvalidInput({ flag, value: text, reason: `expected a duration > 0 such as ${examples}` }))
    : Effect.succeed(ms)
}

/**
 * Reads `--budget`, defaulting to 30 s × scale; a bad value is an `InvalidInput`.
 *
 * @since 0.1.0
 * @category flags
 */
export const budgetOf = (text: Option.Option<string>, scaleFactor: number): Effect.Effect<Duration.Duration, InvalidInput> =>
  Option.match(text, {
    onNone: () => Effect.succeed(Duration.millis(30_000 * scaleFactor)),
    onSome: (value) => Effect.map(millisOf("--budget", value, "5s, 800ms or 2 minutes"), Duration.millis)
  })

// --- the agent ---------------------------------------------------------------------------

/**
 * The agent over the fixtures at `scale` with `faults`, processing on worker threads.
 * Real services and a real LLM are used instead wherever `HYBRID_*_URL` or
 * `OPENAI_BASE_URL` are set (see `Source` and `OpenAi`).
 *
 * @since 0.1.0
 * @category layers
 */
export const agent = (options: {
  readonly scale: number
  readonly faults: Faults.Config
  readonly seed?: number | undefined
  /** Process on the cluster's runner processes (`hybrid runner`) instead of local worker threads. */
  readonly cluster?: boolean | undefined
  /** Options of the local worker threads (`Processing.layerNode`); ignored with `cluster`. */
  readonly workers?: Processing.NodeOptions | undefined
}) =>
  Fixtures.layerAgent({
    scale: options.scale,
    faults: options.faults,
    seed: options.seed,
    ...(options.cluster === true ? { processing: clusterProcessing } : { workerOptions: options.workers })
  })

/**
 * `@hybrid/cluster/ClusterRunner`, loaded when a command first needs it: it brings
 * `effect/cluster` and the PostgreSQL driver (≈ 1.2 s of module loading here), which a
 * CLI run without `--cluster` never uses.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { loadClusterRunner } from "@hybrid/agent/cli/shared"
 *
 * const config = Effect.flatMap(loadClusterRunner, (ClusterRunner) => ClusterRunner.config)
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const loadClusterRunner: Effect.Effect<typeof ClusterRunnerModule> = Effect.promise(() => import("@hybrid/cluster/ClusterRunner"))

/**
 * The processing `Runner` on a cluster: `ClusterRunner.layer` over the processing tasks,
 * configured by `HYBRID_DATABASE_URL` and `HYBRID_CLUSTER_*` (see `ClusterRunner.config`).
 * A missing URL or an unreachable database is a `RunnerError` naming it (without its
 * password), reported as the command's failure.
 *
 * @since 0.1.0
 * @category layers
 */
export const clusterProcessing: Layer.Layer<Runner.Runner, Runner.RunnerError> = Layer.unwrap(
  Effect.flatMap(loadClusterRunner, (ClusterRunner) =>
    Effect.map(ClusterRunner.config, (options) => ClusterRunner.layer(ProcessingTasks, options)))
).pipe(
  Layer.catchCause((cause): Layer.Layer<Runner.Runner, Runner.RunnerError> =>
    Layer.effect(
      Runner.Runner,
      Effect.fail(
        new Runner.RunnerError({
          task: "cluster",
          reason: "RunnerUnavailable",
          message: `--cluster: ${Scrub.patterns.error(Cause.squash(cause)).message.slice(0, 300)}`
        })
      )
    )
  )
)

/**
 * `--cluster`: run the CPU work on the cluster's runner processes (`hybrid runner`),
 * found through `HYBRID_DATABASE_URL`.
 *
 * @since 0.1.0
 * @category flags
 */
export const cluster = Flag.Boolean("cluster").pipe(
  Flag.withDescription("process on the cluster's runners (hybrid runner), found through HYBRID_DATABASE_URL"),
  Flag.withDefault(false)
)

/**
 * The demo's sample queries (`Agent.sampleQueries`).
 *
 * @since 0.1.0
 * @category constants
 */
export const sampleQueries: ReadonlyArray<string> = Agent.sampleQueries
