/**
 * What the `hybrid` commands share: the `--scale` and `--faults` flags, the error a
 * command fails with on bad input (`InvalidInput`, naming the flag or field and the
 * value), the agent over the fixtures, durations as people type them, the sample queries.
 *
 * @since 0.1.0
 */
import * as ClusterRunner from "@hybrid/cluster/ClusterRunner"
import * as Runner from "@hybrid/core/Runner"
import { Cause, Duration, Effect, Layer, Option, Predicate, Schema } from "effect"
import { CliError, Flag } from "effect/cli"
import * as Agent from "../Agent.ts"
import * as Faults from "../fixtures/Faults.ts"
import * as Fixtures from "../fixtures/Fixtures.ts"
import { Tasks as ProcessingTasks } from "../processing/tasks.ts"

// --- errors ------------------------------------------------------------------------------

/**
 * Bad input: `flag` is the flag (`--faults`), argument or field (`budgetMs`) that was
 * wrong, `value` what was given, `reason` what was expected. `Command.run` prints its
 * message on stderr and the process exits with code 1.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidInput extends Schema.TaggedError<InvalidInput>()("InvalidInput", {
  flag: Schema.String,
  value: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `invalid ${this.flag} ${JSON.stringify(this.value)}: ${this.reason}`
  }
  override get [CliError.userMessage](): string {
    return this.message
  }
}

/**
 * A command could not do its job for a reason other than its input (a file that cannot
 * be written, a port in use, a configuration variable that does not parse): the
 * underlying error's tag and message.
 *
 * @since 0.1.0
 * @category errors
 */
export class CommandFailed extends Schema.TaggedError<CommandFailed>()("CommandFailed", {
  command: Schema.String,
  error: Schema.String,
  detail: Schema.String
}) {
  override get message(): string {
    return `hybrid ${this.command} failed: ${this.error}: ${this.detail}`
  }
  override get [CliError.userMessage](): string {
    return this.message
  }
}

const describe = (error: unknown): { readonly tag: string; readonly detail: string } => {
  const tag = Predicate.hasProperty(error, "_tag") && typeof error._tag === "string"
    ? error._tag
    : error instanceof Error
    ? error.name
    : typeof error
  const detail = error instanceof Error || (Predicate.hasProperty(error, "message") && typeof error.message === "string")
    ? String((error as { message: string }).message)
    : String(error)
  return { tag, detail }
}

/**
 * Keeps errors that already speak to the user (`InvalidInput`) and turns every other
 * failure of `command` — and an `InvalidOption` defect, thrown when a layer is built with
 * a bad option — into a `CommandFailed` with its tag and message, which `Command.run`
 * prints on stderr (exit code 1).
 *
 * @since 0.1.0
 * @category combinators
 */
export const reported = (command: string) => <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, InvalidInput | CommandFailed, R> =>
  Effect.catch(self, (error): Effect.Effect<never, InvalidInput | CommandFailed> => {
    if (error instanceof InvalidInput) return Effect.fail(error)
    const { detail, tag } = describe(error)
    return Effect.fail(new CommandFailed({ command, error: tag, detail }))
  }).pipe(
    // a bad option thrown while a layer is built (InvalidOption) is a defect: report it the same way
    Effect.catchDefect((defect): Effect.Effect<never, CommandFailed> => {
      const { detail, tag } = describe(defect)
      return tag === "InvalidOption"
        ? Effect.fail(new CommandFailed({ command, error: tag, detail }))
        : Effect.die(defect)
    })
  )

// --- flags -------------------------------------------------------------------------------

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

const units: Record<string, number> = {
  ms: 1,
  millis: 1,
  millisecond: 1,
  milliseconds: 1,
  s: 1_000,
  sec: 1_000,
  secs: 1_000,
  second: 1_000,
  seconds: 1_000,
  m: 60_000,
  min: 60_000,
  mins: 60_000,
  minute: 60_000,
  minutes: 60_000
}

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
  const factor = match[2] === "" ? 1 : units[match[2]!.toLowerCase()]
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
 * Reads `--budget`, defaulting to `defaultMs × scale`; a bad value is an `InvalidInput`.
 *
 * @since 0.1.0
 * @category flags
 */
export const budgetOf = (
  text: Option.Option<string>,
  scaleFactor: number,
  defaultMs = 30_000
): Effect.Effect<Duration.Duration, InvalidInput> =>
  Option.match(text, {
    onNone: () => Effect.succeed(Duration.millis(defaultMs * scaleFactor)),
    onSome: (value) => {
      const ms = parseMillis(value)
      return ms === undefined
        ? Effect.fail(new InvalidInput({ flag: "--budget", value, reason: "expected a duration > 0 such as 5s, 800ms or 2 minutes" }))
        : Effect.succeed(Duration.millis(ms))
    }
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
}) =>
  Fixtures.layerAgent({
    scale: options.scale,
    faults: options.faults,
    seed: options.seed,
    ...(options.cluster === true ? { processing: clusterProcessing } : {})
  })

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
  Effect.map(ClusterRunner.config, (options) => ClusterRunner.layer(ProcessingTasks, options))
).pipe(
  Layer.catchCause((cause): Layer.Layer<Runner.Runner, Runner.RunnerError> =>
    Layer.effect(
      Runner.Runner,
      Effect.fail(
        new Runner.RunnerError({
          task: "cluster",
          reason: "RunnerUnavailable",
          message: `--cluster: ${describe(Cause.squash(cause)).detail.slice(0, 300)}`
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

/** The message of a cause's first failure or defect. */
export const causeMessage = (cause: Cause.Cause<unknown>): string => describe(Cause.squash(cause)).detail

/** Milliseconds since `start`, to 0.1 ms. */
export const since = (start: number): number => Math.round((performance.now() - start) * 10) / 10
