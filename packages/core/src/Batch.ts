/**
 * Batch processing of a JSONL file — one request per line, one result per line — under
 * concurrency, rate and token limits, resumable after a crash or Ctrl-C.
 *
 * The everyday job against a rate-limited LLM API (the OpenAI cookbook's parallel request
 * processor), plus what the cookbook lacks: token estimates reconciled with the usage
 * each response reports, and a journal so that a rerun picks up where the last one
 * stopped.
 *
 * - **Input**: each non-blank line is decoded with `Schema.fromJsonString(request)`; a
 *   malformed line becomes a failed result (`MalformedLine`, naming the line) and the run
 *   goes on.
 * - **Output**: one JSONL record per line, appended as it finishes:
 *   `{ line, ok: true, value, attempts, ms }` or `{ line, ok: false, error: { _tag, message }, attempts, ms }`
 *   (`line` is 1-based; records are in completion order).
 * - **Limits**: `concurrency` calls at once; `limits.requestsPerMinute` (`Limit.rate`);
 *   `limits.tokensPerMinute`: each call reserves its estimated tokens (a real BPE count of
 *   the request with gpt-tokenizer, plus its `max_tokens`) before it starts, and after it
 *   the reservation is set to the usage the response reports (`usage.total_tokens`):
 *   the difference is refunded or charged; `limits.adaptive` wraps calls in
 *   `Limit.adaptive`, which backs off on 429/503/timeouts.
 * - **Retries**: `Retry.policy` (default: overload signals only — 429, 503, timeouts,
 *   `retryAfter` — up to 5 retries, honouring `Retry-After`). `attempts` counts the calls.
 * - **Journal** (`<output>.journal` by default): an append-only file keyed by a hash of
 *   (line content + `config`), fsynced for each finished line before it counts as done.
 *   With `resume: true` a rerun skips lines already done; `retryFailed: true` reruns only
 *   the failures. A crash or SIGINT at any moment loses no finished result and repeats no
 *   finished line: a resume rebuilds the output from the journal (tolerating a torn last
 *   line), then appends.
 * - **The output is the run's own**: an exclusive lock (`<output>.lock`: pid, host, start
 *   time; taken atomically) for the output + journal pair — a second run on the same
 *   output fails at once with `OutputLocked` naming the holder; a lock left by a process
 *   that died (SIGKILL) is detected, removed and reported (`Summary.staleLocks`). An input
 *   that is the output or the journal under another name (symlink, `..`, hard link) fails
 *   with `InputIsOutput`. A fresh run (no `resume` / `retryFailed`) over a non-empty
 *   output or journal fails with `OutputExists` and changes nothing; `overwrite: true`
 *   starts afresh and keeps the previous files as `<file>.bak`.
 * - **Each line fails alone**: a line over `maxLineBytes` (default 1 MiB) is a failed
 *   result `LineTooLarge` (naming its line and size, echoing nothing of it) and is never
 *   decoded or handed to the handler; a handler's failure, defect, self-interruption or
 *   unserializable result becomes that line's failed result and touches no other line.
 *   Failure messages in the output are cut to 2,000 characters (a handler error that
 *   echoes a huge request stays small); pass `renderError` to scrub them.
 * - **Progress**: a live line on a TTY (done / failed / in flight / rate / ETA), a plain line
 *   every `progressEvery` otherwise, and a summary at the end — on stderr.
 * - **Bad paths**: a missing input fails with `InputNotFound`, an unwritable output or
 *   journal with `OutputNotWritable` (naming the path), before any request is made.
 * - **Summary**: counts, `failedLines` (the 1-based lines whose result is a failure, kept ones included), the
 *   backups an `overwrite` made, the stale locks removed.
 *
 * Underneath: `Pipeline` (one stage, the sink writes the journal), `Limit.rate`,
 * `Limit.adaptive`, `Retry`, Effect's `FileSystem` (provide `NodeFileSystem.layer` or
 * `NodeServices.layer`), Schema. Tokens per minute go through `Limit.rate`'s
 * `reserve` / `reconcile`. Written by hand: the journal and its recovery, the token
 * estimate, the progress line.
 *
 * Gotchas:
 * - The input is read into memory (fine up to hundreds of MB of requests).
 * - Changing `config` (model, prompt template…) changes every key: a resume then redoes
 *   every line, by design.
 * - Identical lines are told apart by occurrence (the 2nd copy has its own key).
 * - A failed attempt keeps its token reservation (the API may have counted it).
 * - The lock protects runs on one host, and across hosts only on a shared file system
 *   that implements hard links atomically (NFSv3+ does); a holder on another host is never
 *   declared stale.
 * - A handler that blocks the thread (a synchronous loop) delays every line running
 *   beside it: isolation covers failures, not CPU — run CPU work on a `Runner`.
 *
 * @example
 * ```ts
 * import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
 * import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
 * import { Effect } from "effect"
 * import { Batch } from "@hybrid/core"
 *
 * declare const complete: (request: unknown) => Effect.Effect<{ usage: { total_tokens: number } }, Error>
 *
 * Batch.run({
 *   input: "requests.jsonl",
 *   output: "results.jsonl",
 *   handler: (request) => complete(request),
 *   concurrency: 16,
 *   limits: { requestsPerMinute: 500, tokensPerMinute: 200_000 },
 *   config: { model: "gpt-4o-mini" },
 *   resume: true
 * }).pipe(Effect.provide(NodeFileSystem.layer), NodeRuntime.runMain)
 * ```
 *
 * @since 0.1.0
 */
import { Cause, Clock, Effect, Exit, FileSystem, Fiber, Option, Predicate, Schema } from "effect"
import { Buffer } from "node:buffer"
import { createHash } from "node:crypto"
import * as progress from "./internal/batchProgress.ts"
import * as tokens from "./internal/batchTokens.ts"
import * as journal from "./internal/journal.ts"
import * as options_ from "./internal/options.ts"
import * as lock from "./internal/outputLock.ts"
import * as ownership from "./internal/ownership.ts"
import * as Limit from "./Limit.ts"
import * as Pipeline from "./Pipeline.ts"
import * as Retry from "./Retry.ts"

export {
  /**
   * The input file is missing or unreadable.
   *
   * @example
   * ```ts
   * import { Effect } from "effect"
   * import { Batch } from "@hybrid/core"
   *
   * declare const run: Effect.Effect<Batch.Summary, Batch.InputNotFound>
   * const checked = run.pipe(Effect.catchTag("InputNotFound", (e) => Effect.die(`no input at ${e.path}: ${e.reason}`)))
   * ```
   *
   * @since 0.1.0
   * @category errors
   */
  InputNotFound,
  /**
   * The output or the journal cannot be written.
   *
   * @example
   * ```ts
   * import { Effect } from "effect"
   * import { Batch } from "@hybrid/core"
   *
   * declare const run: Effect.Effect<Batch.Summary, Batch.OutputNotWritable>
   * const checked = run.pipe(Effect.catchTag("OutputNotWritable", (e) => Effect.logError(`cannot write ${e.path}: ${e.reason}`)))
   * ```
   *
   * @since 0.1.0
   * @category errors
   */
  OutputNotWritable
} from "./internal/journal.ts"

export {
  /**
   * Another run holds the output (its lock file names the pid, host and start time).
   *
   * @example
   * ```ts
   * import { Effect } from "effect"
   * import { Batch } from "@hybrid/core"
   *
   * declare const run: Effect.Effect<Batch.Summary, Batch.OutputLocked>
   * run.pipe(Effect.catchTag("OutputLocked", (e) => Effect.logWarning(`busy: pid ${e.pid} on ${e.host}`)))
   * ```
   *
   * @since 0.1.0
   * @category errors
   */
  OutputLocked
} from "./internal/outputLock.ts"

export {
  /**
   * The input is the output (or the journal) under another name: same real path, or hard links.
   *
   * @example
   * ```ts
   * import { Batch } from "@hybrid/core"
   *
   * const error = new Batch.InputIsOutput({ input: "q.jsonl", output: "q.jsonl", reason: "the same path" })
   * ```
   *
   * @since 0.1.0
   * @category errors
   */
  InputIsOutput,
  /**
   * A fresh run found an earlier run's results; rerun with `resume`, `retryFailed` or `overwrite`.
   *
   * @example
   * ```ts
   * import { Batch } from "@hybrid/core"
   *
   * const error = new Batch.OutputExists({ path: "out.jsonl", bytes: 2048 })
   * ```
   *
   * @since 0.1.0
   * @category errors
   */
  OutputExists
} from "./internal/ownership.ts"

/**
 * A line over `maxLineBytes`: its result, naming the line and its size (nothing of its
 * content). Written to the output as `{ _tag: "LineTooLarge", message, line, bytes, limit }`.
 *
 * @example
 * ```ts
 * import { Batch } from "@hybrid/core"
 *
 * const error = new Batch.LineTooLarge({ line: 3, bytes: 5_242_880, limit: 1_048_576 })
 * error.message // "line 3 is 5242880 bytes, over the limit of 1048576 (maxLineBytes); it was not processed"
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class LineTooLarge extends Schema.TaggedError<LineTooLarge>()("LineTooLarge", {
  line: Schema.Int,
  bytes: Schema.Int,
  limit: Schema.Int
}) {
  override get message(): string {
    return `line ${this.line} is ${this.bytes} bytes, over the limit of ${this.limit} (maxLineBytes); it was not processed`
  }
}

/**
 * The rate limits of a run: requests and tokens per minute, and whether concurrency adapts
 * to overload.
 *
 * @example
 * ```ts
 * import { Batch } from "@hybrid/core"
 *
 * // an API tier of 500 requests and 200k tokens a minute; concurrency adapts to 429s
 * const limits: Batch.Limits = { requestsPerMinute: 500, tokensPerMinute: 200_000, adaptive: { min: 2 } }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Limits {
  readonly requestsPerMinute?: number | undefined
  readonly tokensPerMinute?: number | undefined
  /** Wrap calls in `Limit.adaptive` (`max` defaults to `concurrency`, `min` to 1, `initial` to `max`). */
  readonly adaptive?: boolean | Partial<Limit.AdaptiveOptions> | undefined
}

/**
 * Where a call is: its 1-based line and its attempt (1 for the first).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Batch } from "@hybrid/core"
 *
 * declare const complete: (prompt: string, idempotencyKey: string) => Effect.Effect<string>
 * // the key is the same for this line in every run: safe to pass as an idempotency key
 * const handler = (request: { readonly prompt: string }, context: Batch.Context) =>
 *   complete(request.prompt, context.key).pipe(Effect.tap(() => Effect.log(`line ${context.line}, attempt ${context.attempt}`)))
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Context {
  readonly line: number
  readonly attempt: number
  /**
   * The line's journal key (a hash of its content, its occurrence and `config`): the same
   * line of the same batch has the same key in every run, so a handler can make a remote
   * call idempotent with it (`@hybrid/cluster`'s `ClusterRunner.batchHandler`).
   */
  readonly key: string
}

/**
 * What `run` takes: the input and output files, the handler, and how to run it
 * (concurrency, limits, retries, resume).
 *
 * @example
 * ```ts
 * import { Effect, Schema } from "effect"
 * import { Batch } from "@hybrid/core"
 *
 * const Request = Schema.Struct({ prompt: Schema.String })
 * declare const complete: (prompt: string) => Effect.Effect<{ readonly text: string }, Error>
 *
 * const options: Batch.Options<typeof Request.Type, { readonly text: string }, Error, never> = {
 *   input: "prompts.jsonl",
 *   output: "answers.jsonl",
 *   request: Request,
 *   handler: ({ prompt }) => complete(prompt),
 *   concurrency: 16,
 *   resume: true
 * }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Options<Req, Res, E, R> {
  /** The JSONL input file. */
  readonly input: string
  /** The JSONL output file. */
  readonly output: string
  /** The journal. Default `<output>.journal`. */
  readonly journal?: string | undefined
  /** Decodes each line's JSON. Default: any JSON value. */
  readonly request?: Schema.Codec<Req, unknown> | undefined
  readonly handler: (request: Req, context: Context) => Effect.Effect<Res, E, R>
  /** Calls at once. Default 8. */
  readonly concurrency?: number | undefined
  readonly limits?: Limits | undefined
  /** Retries of a failed call. Default: overload signals only, up to 5 retries. `false`: none. */
  readonly retry?: Retry.PolicyOptions<E> | false | undefined
  /** What the handler's results depend on besides the line (model, prompt…): part of the journal key. */
  readonly config?: unknown
  /** Skip lines the journal has done. */
  readonly resume?: boolean | undefined
  /** Like `resume`, but rerun the lines that failed. */
  readonly retryFailed?: boolean | undefined
  /** Without `resume`: start afresh over an earlier run's output, keeping its files as `.bak`. Default false (`OutputExists`). */
  readonly overwrite?: boolean | undefined
  /** Lines longer than this many bytes (UTF-8) fail with `LineTooLarge` unread. Default 1,048,576 (1 MiB). */
  readonly maxLineBytes?: number | undefined
  /**
   * How a failure is written to the output and the journal. Default: its `_tag` and
   * `message`. Pass a scrubber here when failures may carry secrets. The message is cut
   * to 2,000 characters either way.
   */
  readonly renderError?: ((error: unknown) => { readonly _tag: string; readonly message: string }) | undefined
  /** The token estimate of a request. Default: BPE count of the request (see module doc). */
  readonly estimate?: ((request: Req, countTokens: (text: string) => number) => number) | undefined
  /** The tokens a response used. Default: its `usage` (`total_tokens`, or prompt + completion). */
  readonly usage?: ((response: Res) => number | undefined) | undefined
  /** BPE encoding for estimates. Default `"o200k_base"`. */
  readonly encoding?: "o200k_base" | "cl100k_base" | undefined
  /** `"auto"` (default: stderr, live on a TTY), `"off"`, or where to write. */
  readonly progress?: "auto" | "off" | { readonly write: (text: string) => void; readonly isTTY?: boolean } | undefined
  /** Interval of the plain progress lines. Default 5 seconds. */
  readonly progressEvery?: number | undefined
}

/**
 * What a run did.
 *
 * @example
 * ```ts
 * import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
 * import { Effect } from "effect"
 * import { Batch } from "@hybrid/core"
 *
 * const report = (s: Batch.Summary) => `${s.ok}/${s.lines} ok, ${s.failed} failed (lines ${s.failedLines.join(", ")}), ${s.ms} ms`
 * const program = Batch.run({ input: "in.jsonl", output: "out.jsonl", handler: (req) => Effect.succeed(req) }).pipe(
 *   Effect.map(report),
 *   Effect.provide(NodeFileSystem.layer)
 * )
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Summary {
  /** Non-blank input lines. */
  readonly lines: number
  /** Lines skipped because the journal had them. */
  readonly skipped: number
  readonly ok: number
  readonly failed: number
  /** The 1-based lines whose result in the output is a failure — this run's, and on `resume` the earlier ones kept — ascending. */
  readonly failedLines: ReadonlyArray<number>
  /** The files `overwrite` moved aside (`<file>.bak`). */
  readonly backups: ReadonlyArray<string>
  /** Locks left by runs that died, removed by this one. */
  readonly staleLocks: ReadonlyArray<{ readonly pid: number; readonly host: string; readonly startedAt: string }>
  readonly tokens: {
    /** Tokens reserved before calls (estimates). */
    readonly reserved: number
    /** Tokens the responses reported. */
    readonly used: number
    /** Reserved minus used over reconciled calls: > 0 refunded, < 0 charged. */
    readonly refunded: number
  }
  readonly ms: number
}

/** Stable JSON (sorted keys), for hashing a config. */
const stableJson = (value: unknown): string => {
  if (Array.isArray(value)) return `[${value.map(stableJson).join(",")}]`
  if (value !== null && typeof value === "object") {
    const keys = Object.keys(value).sort()
    return `{${keys.map((k) => `${JSON.stringify(k)}:${stableJson((value as Record<string, unknown>)[k])}`).join(",")}}`
  }
  return JSON.stringify(value) ?? "null"
}

const sha256 = (text: string) => createHash("sha256").update(text).digest("hex")

/** Characters of a failure's message kept in the output. */
const maxMessageChars = 2_000

const cut = (text: string, max: number): string => (text.length <= max ? text : `${text.slice(0, max - 1)}…`)

/** The default rendering of a failure: its `_tag` and `message`. */
const defaultRender = (error: unknown): { readonly _tag: string; readonly message: string } => {
  const tag = Predicate.hasProperty(error, "_tag") && typeof error._tag === "string"
    ? error._tag
    : error instanceof Error
    ? error.name
    : typeof error
  const message = error instanceof Error
    ? error.message
    : Predicate.hasProperty(error, "message") && typeof error.message === "string"
    ? error.message
    : typeof error === "string"
    ? error
    : stableJson(error)
  return { _tag: tag, message }
}

/**
 * The JSON form of a failure in the output: `{ _tag, message }`, the message cut. Never
 * throws: an error whose `message` getter throws, or a renderer that does, is reported
 * as such (it must not fail the line's neighbours).
 */
const errorJson = (
  cause: Cause.Cause<unknown>,
  render: (error: unknown) => { readonly _tag: string; readonly message: string }
): { readonly _tag: string; readonly message: string } => {
  try {
    const failure = cause.reasons.find(Cause.isFailReason)
    const die = cause.reasons.find(Cause.isDieReason)
    if (failure === undefined && die === undefined) return { _tag: "Interrupted", message: "the handler interrupted itself" }
    const value = failure !== undefined ? failure.error : die?.defect
    const rendered = render(value)
    const tagged = Predicate.hasProperty(value, "_tag") && typeof value._tag === "string"
    const tag = failure === undefined && !tagged ? "Defect" : rendered._tag
    return { _tag: cut(String(tag), 100), message: cut(String(rendered.message), maxMessageChars) }
  } catch (e) {
    return { _tag: "UnrenderableError", message: cut(`the failure could not be rendered: ${e instanceof Error ? e.name : typeof e}`, maxMessageChars) }
  }
}

interface Todo {
  readonly line: number
  readonly key: string
  readonly raw: string
}

const defaultRetry = { times: 5, while: Limit.isOverload } as const

/**
 * Runs `handler` on every line of `input` and appends one result per line to `output`.
 * See the module documentation. Options are checked when called (`InvalidOption`).
 *
 * @example
 * ```ts
 * import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
 * import { Effect, Schema } from "effect"
 * import { Batch } from "@hybrid/core"
 *
 * const Line = Schema.Struct({ url: Schema.String })
 * declare const check: (url: string) => Effect.Effect<{ readonly status: number }, Error>
 *
 * // one result per line in links.out.jsonl; rerun with resume: true after a crash to skip what is done
 * const program = Batch.run({
 *   input: "links.jsonl",
 *   output: "links.out.jsonl",
 *   request: Line,
 *   handler: ({ url }) => check(url),
 *   concurrency: 32,
 *   limits: { requestsPerMinute: 600 }
 * }).pipe(Effect.provide(NodeFileSystem.layer))
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const run = <Req = unknown, Res = unknown, E = never, R = never>(
  opts: Options<Req, Res, E, R>
): Effect.Effect<
  Summary,
  | journal.InputNotFound
  | journal.OutputNotWritable
  | lock.OutputLocked
  | ownership.InputIsOutput
  | ownership.OutputExists,
  R | FileSystem.FileSystem
> => {
  const where = "Batch.run"
  const concurrency = options_.integer(where, "concurrency", opts.concurrency ?? 8)
  const rpm = opts.limits?.requestsPerMinute === undefined
    ? undefined
    : options_.integer(where, "limits.requestsPerMinute", opts.limits.requestsPerMinute)
  const tpm = opts.limits?.tokensPerMinute === undefined
    ? undefined
    : options_.integer(where, "limits.tokensPerMinute", opts.limits.tokensPerMinute)
  const progressEvery = options_.duration(where, "progressEvery", opts.progressEvery ?? 5_000, true)
  const encoding = options_.oneOf(where, "encoding", opts.encoding ?? "o200k_base", ["o200k_base", "cl100k_base"])
  const maxLineBytes = options_.integer(where, "maxLineBytes", opts.maxLineBytes ?? 1_048_576)
  const adaptive = opts.limits?.adaptive === undefined || opts.limits.adaptive === false
    ? undefined
    : opts.limits.adaptive === true
    ? {}
    : opts.limits.adaptive
  const adaptiveOptions = adaptive === undefined ? undefined : {
    ...adaptive,
    min: adaptive.min ?? 1,
    max: adaptive.max ?? concurrency,
    initial: adaptive.initial ?? adaptive.max ?? concurrency
  }
  // build (and so check) the limits now
  const adaptiveLimit = adaptiveOptions === undefined ? undefined : Limit.adaptive(adaptiveOptions)
  const rateLimit = rpm === undefined ? undefined : Limit.rate({ limit: rpm, window: "1 minute", key: "@hybrid/core/Batch/rpm" })
  const policy = opts.retry === false ? undefined : Retry.policy<E>((opts.retry ?? defaultRetry) as Retry.PolicyOptions<E>)
  return runTraced(opts, {
    concurrency,
    maxLineBytes,
    tpm,
    progressEvery,
    encoding,
    adaptiveLimit,
    rateLimit,
    policy
  })
}

/** The input exists and is neither the output nor the journal. */
const checkPaths = (fs: FileSystem.FileSystem, input: string, output: string, journalPath: string) =>
  Effect.gen(function*() {
    const exists = yield* fs.exists(input).pipe(Effect.orElseSucceed(() => false))
    if (!exists) return yield* new journal.InputNotFound({ path: input, reason: "no such file" })
    yield* ownership.checkDistinct(fs, input, output)
    yield* ownership.checkDistinct(fs, input, journalPath)
  })

/**
 * The checks `run` makes before it touches anything, made without taking the lock and
 * without changing a file: the input exists and is not the output or the journal, no
 * live run holds the output, and (unless `resume`, `retryFailed` or `overwrite`) the
 * output holds no earlier run's results. Call it before costly set-up (servers,
 * worker threads) so a doomed run fails at once; `run` checks again, atomically.
 *
 * @example
 * ```ts
 * import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
 * import { Effect } from "effect"
 * import { Batch } from "@hybrid/core"
 *
 * const checked = Batch.preflight({ input: "in.jsonl", output: "out.jsonl", resume: true }).pipe(
 *   Effect.provide(NodeFileSystem.layer)
 * )
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const preflight = (
  opts: Pick<Options<unknown, unknown, unknown, unknown>, "input" | "output" | "journal" | "resume" | "retryFailed" | "overwrite">
): Effect.Effect<
  void,
  journal.InputNotFound | lock.OutputLocked | ownership.InputIsOutput | ownership.OutputExists,
  FileSystem.FileSystem
> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const journalPath = opts.journal ?? `${opts.output}.journal`
    yield* checkPaths(fs, opts.input, opts.output, journalPath)
    yield* lock.check(fs, opts.output)
    if (opts.resume !== true && opts.retryFailed !== true && opts.overwrite !== true) {
      yield* ownership.checkFresh(fs, [opts.output, journalPath])
    }
  })

interface Settings<E> {
  readonly concurrency: number
  readonly maxLineBytes: number
  readonly tpm: number | undefined
  readonly progressEvery: number
  readonly encoding: tokens.Encoding
  readonly adaptiveLimit: Effect.Effect<Limit.AdaptiveLimiter> | undefined
  readonly rateLimit: Effect.Effect<Limit.RateLimit> | undefined
  readonly policy: Retry.Policy<E> | undefined
}

const runTraced = Effect.fn("Batch.run")(function*<Req, Res, E, R>(
  opts: Options<Req, Res, E, R>,
  settings: Settings<E>
) {
  const fs = yield* FileSystem.FileSystem
  const clock = yield* Clock.Clock
  const started = clock.currentTimeMillisUnsafe()
  const journalPath = opts.journal ?? `${opts.output}.journal`
  yield* Effect.annotateCurrentSpan({ input: opts.input, output: opts.output })

  // --- ownership: the input exists and is not the output, locked, not an earlier run's results
  yield* checkPaths(fs, opts.input, opts.output, journalPath)
  const lockFailed = (e: lock.LockFailed) => new journal.OutputNotWritable({ path: e.lock, reason: e.reason })
  const now = () => new Date(clock.currentTimeMillisUnsafe())
  const staleLocks = (yield* lock.acquire(fs, opts.output, now).pipe(Effect.catchTag("LockFailed", (e) => Effect.fail(lockFailed(e)))))
    .map(({ holder }) => ({ pid: holder.pid, host: holder.host, startedAt: holder.startedAt }))
  const fresh = opts.resume !== true && opts.retryFailed !== true
  const backups = !fresh
    ? []
    : opts.overwrite === true
    ? yield* ownership.backup(fs, [opts.output, journalPath], (path, reason) => new journal.OutputNotWritable({ path, reason }))
    : yield* ownership.checkFresh(fs, [opts.output, journalPath]).pipe(Effect.as([]))
  if (staleLocks.length > 0 || backups.length > 0) yield* Effect.annotateCurrentSpan({ staleLocks: staleLocks.length, backups: backups.length })

  // --- input: read, split, key every line ------------------------------------------
  const text = yield* fs.readFileString(opts.input).pipe(
    Effect.mapError((e) => new journal.InputNotFound({ path: opts.input, reason: e.message }))
  )
  const configHash = sha256(stableJson(opts.config ?? null))
  const occurrences = new Map<string, number>()
  const lines: Array<Todo> = []
  text.split("\n").forEach((physical, i) => {
    const raw = physical.endsWith("\r") ? physical.slice(0, -1) : physical
    if (raw.trim() === "") return
    const base = sha256(`${configHash}\n${raw}`)
    const n = (occurrences.get(base) ?? 0) + 1
    occurrences.set(base, n)
    lines.push({ line: i + 1, key: n === 1 ? base : `${base}:${n}`, raw })
  })

  // --- journal: keep what is done, rebuild both files from it ----------------------
  const kept: Array<journal.Entry> = []
  let todo = lines
  if (opts.resume === true || opts.retryFailed === true) {
    const done = yield* journal.load(fs, journalPath)
    todo = []
    for (const item of lines) {
      const entry = done.get(item.key)
      if (entry !== undefined && (entry.ok || opts.retryFailed !== true)) kept.push({ ...entry, line: item.line })
      else todo.push(item)
    }
  }
  yield* journal.replace(fs, journalPath, kept.map(journal.journalLine).join(""))
  yield* journal.replace(fs, opts.output, kept.map(journal.outputLine).join(""))
  const appender = yield* journal.appender(fs, journalPath, opts.output)

  // --- limits ---------------------------------------------------------------------
  const rate = settings.rateLimit === undefined ? undefined : yield* settings.rateLimit
  const adaptive = settings.adaptiveLimit === undefined ? undefined : yield* settings.adaptiveLimit
  const ledger = settings.tpm === undefined ? undefined : yield* Limit.rate({ limit: settings.tpm, window: "1 minute", key: "@hybrid/core/Batch/tpm" })
  const count = settings.tpm === undefined ? undefined : yield* tokens.encoder(settings.encoding)
  const estimateOf = (request: Req): number =>
    count === undefined ? 0 : Math.ceil(opts.estimate?.(request, count) ?? tokens.estimate(count, request))
  const usageOf = opts.usage ?? ((response: Res) => tokens.reportedUsage(response))
  const tokenTotals = { reserved: 0, used: 0, refunded: 0 }

  const decodeLine = Schema.decodeUnknownExit(
    Schema.fromJsonString(opts.request ?? (Schema.Unknown as unknown as Schema.Codec<Req, unknown>))
  ) as (raw: string) => Exit.Exit<Req, Schema.SchemaError>

  const counters: progress.Counters = { total: lines.length, skipped: kept.length, ok: 0, failed: 0, inFlight: 0 }
  const failedLines: Array<number> = kept.filter((e) => !e.ok).map((e) => e.line)
  const render = opts.renderError ?? defaultRender

  const call = (request: Req, line: number, key: string, attempts: { n: number }): Effect.Effect<Res, unknown, R> => {
    let attempt: Effect.Effect<Res, unknown, R> = Effect.suspend(() => {
      attempts.n++
      const cost = ledger === undefined ? 0 : estimateOf(request)
      const handled = Effect.suspend(() => {
        if (ledger !== undefined) tokenTotals.reserved += cost
        return opts.handler(request, { line, attempt: attempts.n, key })
      })
      return handled.pipe(
        Limit.metered(ledger, cost, usageOf),
        Effect.tap((response) =>
          Effect.sync(() => {
            const used = ledger === undefined ? undefined : usageOf(response)
            if (used === undefined) return
            tokenTotals.used += used
            tokenTotals.refunded += cost - used
          })
        )
      )
    })
    if (adaptive !== undefined) attempt = adaptive(attempt)
    if (rate !== undefined) attempt = rate(attempt)
    return settings.policy === undefined ? attempt : attempt.pipe(Retry.retry(settings.policy as Retry.Policy<unknown>))
  }

  const handleLine = (item: Todo): Effect.Effect<journal.Entry, never, R> =>
    Effect.gen(function*() {
      const t0 = clock.currentTimeMillisUnsafe()
      const bytes = item.raw.length * 3 <= settings.maxLineBytes ? 0 : Buffer.byteLength(item.raw, "utf8")
      if (bytes > settings.maxLineBytes) {
        const error = new LineTooLarge({ line: item.line, bytes, limit: settings.maxLineBytes })
        return {
          key: item.key,
          line: item.line,
          ok: false,
          error: { _tag: error._tag, message: error.message, line: error.line, bytes: error.bytes, limit: error.limit },
          attempts: 0,
          ms: 0
        } satisfies journal.Entry
      }
      const decoded = decodeLine(item.raw)
      if (Exit.isFailure(decoded)) {
        const issue = Option.match(Cause.findErrorOption(decoded.cause), {
          onNone: () => "undecodable",
          onSome: (e) => cut(e.message, 300)
        })
        return {
          key: item.key,
          line: item.line,
          ok: false,
          error: { _tag: "MalformedLine", message: `line ${item.line}: ${issue}` },
          attempts: 0,
          ms: 0
        } satisfies journal.Entry
      }
      const attempts = { n: 0 }
      counters.inFlight++
      const exit = yield* Effect.exit(call(decoded.value, item.line, item.key, attempts)).pipe(
        Effect.ensuring(Effect.sync(() => counters.inFlight--))
      )
      // stopped (Ctrl-C): the line is not finished, the journal will not have it
      if (Exit.isFailure(exit) && Cause.hasInterruptsOnly(exit.cause)) {
        return yield* Effect.failCause(exit.cause as Cause.Cause<never>)
      }
      const ms = clock.currentTimeMillisUnsafe() - t0
      const entry: journal.Entry = Exit.isSuccess(exit)
        ? { key: item.key, line: item.line, ok: true, value: exit.value, attempts: attempts.n, ms }
        : { key: item.key, line: item.line, ok: false, error: errorJson(exit.cause, render), attempts: attempts.n, ms }
      try {
        JSON.stringify(entry)
        return entry
      } catch (e) {
        return {
          key: item.key,
          line: item.line,
          ok: false,
          error: { _tag: "UnserializableResult", message: cut(e instanceof Error ? e.message : "not JSON", 300) },
          attempts: attempts.n,
          ms
        } satisfies journal.Entry
      }
    })

  const write = (entry: journal.Entry) =>
    Effect.andThen(
      appender.append(entry),
      Effect.sync(() => {
        if (entry.ok) counters.ok++
        else {
          counters.failed++
          failedLines.push(entry.line)
        }
      })
    )

  // --- progress ------------------------------------------------------------------
  const writer: progress.Writer | undefined = opts.progress === "off"
    ? undefined
    : opts.progress === undefined || opts.progress === "auto"
    ? progress.stderr
    : { isTTY: opts.progress.isTTY ?? false, write: opts.progress.write }
  const elapsed = Effect.sync(() => clock.currentTimeMillisUnsafe() - started)
  const display = writer === undefined
    ? undefined
    : yield* Effect.forkChild(progress.display(writer, counters, elapsed, settings.progressEvery))

  // --- run: one Pipeline stage; its sink is the journal ---------------------------------
  yield* Pipeline.from(todo)
    .stage("handle", handleLine, { concurrency: settings.concurrency, buffer: settings.concurrency })
    .run({
      sink: (outcome) => {
        if (outcome._tag === "Ok") return write(outcome.value)
        if (outcome._tag === "Failed") {
          return write({
            key: outcome.input.key,
            line: outcome.input.line,
            ok: false,
            error: errorJson(Cause.fail(outcome.error), render),
            attempts: 0,
            ms: 0
          })
        }
        return Effect.void
      }
    }).pipe(Effect.ensuring(display === undefined ? Effect.void : Fiber.interrupt(display)))

  const ms = clock.currentTimeMillisUnsafe() - started
  if (writer !== undefined) writer.write(progress.summary(counters, ms, tokenTotals) + "\n")
  return {
    lines: counters.total,
    skipped: counters.skipped,
    ok: counters.ok,
    failed: counters.failed,
    failedLines: failedLines.sort((a, b) => a - b),
    backups,
    staleLocks,
    tokens: { ...tokenTotals },
    ms
  } satisfies Summary
}, Effect.scoped)
