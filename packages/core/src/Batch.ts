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
 *   line), then appends. Without `resume`, a run starts afresh (both files truncated).
 * - **Progress**: a live line on a TTY (done / failed / in flight / rate / ETA), a plain line
 *   every `progressEvery` otherwise, and a summary at the end — on stderr.
 * - **Bad paths**: a missing input fails with `InputNotFound`, an unwritable output or
 *   journal with `OutputNotWritable` (naming the path), before any request is made.
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
 *
 * @example
 * ```ts
 * import { NodeFileSystem, NodeRuntime } from "@effect/platform-node"
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
import { createHash } from "node:crypto"
import * as progress from "./internal/batchProgress.ts"
import * as tokens from "./internal/batchTokens.ts"
import * as journal from "./internal/journal.ts"
import * as options_ from "./internal/options.ts"
import * as Limit from "./Limit.ts"
import * as Pipeline from "./Pipeline.ts"
import * as Retry from "./Retry.ts"

export {
  /**
   * The input file is missing or unreadable.
   *
   * @since 0.1.0
   * @category errors
   */
  InputNotFound,
  /**
   * The output or the journal cannot be written.
   *
   * @since 0.1.0
   * @category errors
   */
  OutputNotWritable
} from "./internal/journal.ts"

/**
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

/** The JSON form of a failure in the output: `{ _tag, message }`. */
const errorJson = (cause: Cause.Cause<unknown>): { readonly _tag: string; readonly message: string } => {
  const failure = cause.reasons.find(Cause.isFailReason)
  const die = cause.reasons.find(Cause.isDieReason)
  const error: unknown = failure !== undefined ? failure.error : die?.defect
  const tag = Predicate.hasProperty(error, "_tag") && typeof error._tag === "string"
    ? error._tag
    : failure === undefined
    ? "Defect"
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
 * @since 0.1.0
 * @category constructors
 */
export const run = <Req = unknown, Res = unknown, E = never, R = never>(
  opts: Options<Req, Res, E, R>
): Effect.Effect<Summary, journal.InputNotFound | journal.OutputNotWritable, R | FileSystem.FileSystem> => {
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
    tpm,
    progressEvery,
    encoding,
    adaptiveLimit,
    rateLimit,
    policy
  })
}

interface Settings<E> {
  readonly concurrency: number
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

  // --- input: read, split, key every line ------------------------------------------
  const exists = yield* fs.exists(opts.input).pipe(Effect.orElseSucceed(() => false))
  if (!exists) return yield* new journal.InputNotFound({ path: opts.input, reason: "no such file" })
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
      const decoded = decodeLine(item.raw)
      if (Exit.isFailure(decoded)) {
        const issue = Option.match(Cause.findErrorOption(decoded.cause), {
          onNone: () => "undecodable",
          onSome: (e) => e.message
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
        : { key: item.key, line: item.line, ok: false, error: errorJson(exit.cause), attempts: attempts.n, ms }
      try {
        JSON.stringify(entry)
        return entry
      } catch (e) {
        return {
          key: item.key,
          line: item.line,
          ok: false,
          error: { _tag: "UnserializableResult", message: String(e) },
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
        else counters.failed++
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
            error: { _tag: outcome.error._tag, message: outcome.error.message },
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
    tokens: { ...tokenTotals },
    ms
  } satisfies Summary
}, Effect.scoped)
