/**
 * An OpenAI-compatible provider for `effect/ai`: `LanguageModel` over
 * `POST {OPENAI_BASE_URL}/chat/completions` and `EmbeddingModel` over
 * `POST {OPENAI_BASE_URL}/embeddings`, written on `effect/http` `HttpClient`, so any
 * OpenAI-compatible server works (OpenAI, vLLM, llama.cpp, Ollama, the fixture LLM).
 *
 * When to use: provide `OpenAi.layer` (it needs an `HttpClient`) and call
 * `LanguageModel.generateText` / `EmbeddingModel.embedMany` as usual. Every request goes
 * through the `Upstream` boundary. `Fixtures.layerConfig` points it at the fixture LLM
 * (by providing `OPENAI_BASE_URL` and `OPENAI_MODEL` when the environment does not).
 *
 * What it adds to a bare HTTP call:
 * - **Retries as openai-node does them**: connection errors, timeouts, 408, 409, 429 and
 *   5xx, at most `HYBRID_LLM_RETRIES` times (default 2), backoff 0.5 s × 2ⁿ capped at 8 s
 *   with jitter; `retry-after-ms` / `retry-after` (≤ 60 s) become the error's
 *   `retryAfter`, which `Retry` waits at least; no retry is started that cannot finish
 *   before the current `Deadline`.
 * - **A token budget** (`HYBRID_LLM_TPM`, per `HYBRID_LLM_RATE_WINDOW`): before each
 *   request it reserves the prompt's tokens, counted with `gpt-tokenizer` (o200k_base,
 *   the fixture's and GPT-4o's encoding), plus `max_tokens` (as OpenAI counts a request
 *   against its own TPM limit); when the response's
 *   `usage.total_tokens` differs, the reservation is reconciled with it (`Limit.rate`'s
 *   `reserve` / `reconcile`): an overrun is charged, a surplus refunded at once.
 *   `HYBRID_LLM_RPM` limits requests.
 * - **A circuit breaker** (Effect's `CircuitBreaker`, keyed by the endpoint): after
 *   `HYBRID_LLM_BREAKER_FAILURES` consecutive failures — 5xx, 408, connection errors,
 *   timeouts; not 429 or other 4xx — calls fail fast for `HYBRID_LLM_BREAKER_OPEN`
 *   without a request (an `AiError` `InternalProviderError` saying so, not retried: the
 *   agent answers extractively at once instead of spending its budget), then one probe
 *   is let through. With `HYBRID_REDIS_URL` (`Fleet.layer`), the circuit is the fleet's.
 * - **A retry budget** (`Retry.budget`, keyed by the endpoint): retries are at most
 *   `HYBRID_LLM_RETRY_BUDGET` (default 0.2) of the first attempts of the last 10 s, plus
 *   `HYBRID_LLM_RETRY_FLOOR` (default 1) per second — for the whole fleet under
 *   `Fleet.layer` — so an LLM outage does not meet a retry storm. A refused retry fails
 *   with the attempt's own error.
 * - **The API key as `Redacted`**: it only leaves the process in the `Authorization`
 *   header; errors carry the status and the server's message — scrubbed of the key, of
 *   anything like a credential, cut to 200 characters — never request headers, and the
 *   base URL without its userinfo.
 * - **A cap on every answer** (`HYBRID_LLM_MAX_BYTES`): counted while the body streams
 *   in; past it the call fails with `InvalidResponseError` (not retried) and nothing more
 *   is read. `max_tokens` (`HYBRID_LLM_MAX_TOKENS`, default 1024) caps the completion at
 *   the server, so a provider that runs on cannot bill or stream without bound either.
 *
 * Configuration:
 *
 * | variable                  | default                                             |
 * |---------------------------|-----------------------------------------------------|
 * | `OPENAI_BASE_URL`         | `https://api.openai.com/v1`                         |
 * | `OPENAI_API_KEY`          | none (no `Authorization` header)                    |
 * | `OPENAI_MODEL`            | `gpt-4o-mini`                                       |
 * | `OPENAI_EMBEDDING_MODEL`  | `text-embedding-3-small`                            |
 * | `HYBRID_LLM_TIMEOUT`      | `60 seconds` per attempt                            |
 * | `HYBRID_LLM_RETRIES`      | `2`                                                 |
 * | `HYBRID_LLM_MAX_TOKENS`   | `1024` completion tokens (`0`: the server's default) |
 * | `HYBRID_LLM_TPM`          | unlimited                                           |
 * | `HYBRID_LLM_RPM`          | unlimited                                           |
 * | `HYBRID_LLM_RATE_WINDOW`  | `1 minute`                                          |
 * | `HYBRID_LLM_BREAKER_FAILURES` | `5` consecutive failures open the circuit (`0`: no breaker) |
 * | `HYBRID_LLM_BREAKER_OPEN` | `30 seconds` before a probe                         |
 * | `HYBRID_LLM_RETRY_BUDGET` | `0.2` retries per first attempt (over 10 s)         |
 * | `HYBRID_LLM_RETRY_FLOOR`  | `1` retry per second allowed whatever the traffic   |
 * | `HYBRID_LLM_MAX_BYTES`    | `1MiB`: the largest chat answer read, streamed or not (`"4MiB"`, `"500 kB"` or bytes) |
 * | `HYBRID_LLM_EMBEDDINGS_MAX_BYTES` | `32MiB`: the largest embeddings answer read |
 *
 * Gotchas:
 * - Text only: tools, files and structured output (`generateObject`) fail with
 *   `AiError` `InvalidUserInputError`. `streamText` asks with `stream: true` and emits
 *   each delta as it arrives (server-sent events, through `Upstream.events`); it is
 *   retried only before the first delta.
 * - The estimate counts the chat the way the fixture and OpenAI do (o200k_base chat
 *   format); another server's tokenizer may count differently — reconciliation with
 *   `usage` corrects under-estimates, not over-estimates.
 * - A prompt larger than the whole TPM budget can never run: `InvalidRequestError`.
 * - A streamed answer carries ~150 bytes of JSON per delta: 1 MiB holds some 6,000
 *   streamed tokens (a non-streamed one far more). Raise `HYBRID_LLM_MAX_BYTES` for
 *   longer streamed answers.
 *
 * @example
 * ```ts
 * import { Effect, Layer } from "effect"
 * import { LanguageModel } from "effect/ai"
 * import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
 * import { Fixtures, OpenAi } from "@hybrid/agent"
 *
 * const program = LanguageModel.generateText({
 *   prompt: "Lisbon is in Portugal. Porto makes wine.\nQuestion: where is Lisbon?"
 * }).pipe(
 *   Effect.map((response) => [response.text, response.usage.inputTokens.total]),
 *   Effect.provide(OpenAi.layer.pipe(
 *     Layer.provide(Fixtures.layerConfig),
 *     Layer.provide([Fixtures.layer({ scale: 0.05 }), NodeHttpClient.layerUndici])
 *   ))
 * )
 * // Effect.runPromise(program) → ["Lisbon is in Portugal.", 23]  (measured)
 * ```
 *
 * @since 0.1.0
 */
import { Config, Context, Duration, Effect, Layer, Metric, Queue, Redacted, Schema, type Scope, Stream } from "effect"
import { AiError, EmbeddingModel, LanguageModel, type Prompt, type Response } from "effect/ai"
import { HttpClient, HttpClientRequest } from "effect/http"
import { CircuitBreaker } from "effect/persistence"
import { countTokens } from "gpt-tokenizer/model/gpt-4o"
import { Deadline, Limit, Retry } from "@hybrid/core"
import * as Scrub from "../Scrub.ts"
import * as Common from "../internal/upstream.ts"
import * as Upstream from "../Upstream.ts"

// --- settings ----------------------------------------------------------------------------

/**
 * The resolved configuration.
 *
 * @example
 * ```ts
 * import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
 * import { Duration, Effect, Redacted } from "effect"
 * import { OpenAi } from "@hybrid/agent"
 *
 * // settings from code instead of the environment
 * const settings: OpenAi.Settings = {
 *   baseUrl: "http://127.0.0.1:11434/v1",
 *   apiKey: Redacted.make("not-needed-locally"),
 *   model: "llama3.2",
 *   embeddingModel: "nomic-embed-text",
 *   timeout: Duration.seconds(30),
 *   retries: 2,
 *   maxTokens: 512,
 *   tpm: undefined,
 *   rpm: undefined,
 *   rateWindow: Duration.minutes(1),
 *   breakerFailures: 5,
 *   breakerOpen: Duration.seconds(30),
 *   retryBudget: 0.2,
 *   retryFloor: 1,
 *   maxBytes: 1024 * 1024,
 *   embeddingsMaxBytes: 32 * 1024 * 1024
 * }
 * const client = OpenAi.fromSettings(settings).pipe(Effect.scoped, Effect.provide(NodeHttpClient.layerUndici))
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Settings {
  /** Base URL, no trailing slash (ends in `/v1` for OpenAI). */
  readonly baseUrl: string
  readonly apiKey: Redacted.Redacted<string> | undefined
  readonly model: string
  readonly embeddingModel: string
  /** Per attempt. */
  readonly timeout: Duration.Duration
  readonly retries: number
  /** The completion's `max_tokens` (reserved against `tpm` with the prompt); `undefined`: not sent. */
  readonly maxTokens: number | undefined
  /** Tokens per `rateWindow`; `undefined` = unlimited. */
  readonly tpm: number | undefined
  /** Requests per `rateWindow`; `undefined` = unlimited. */
  readonly rpm: number | undefined
  readonly rateWindow: Duration.Duration
  /** Consecutive failures that open the circuit; `0`: no breaker. */
  readonly breakerFailures: number
  /** How long the circuit stays open before one probe. */
  readonly breakerOpen: Duration.Duration
  /** Retries allowed per first attempt (in [0, 1]), counted over 10 s. */
  readonly retryBudget: number
  /** Retries per second allowed whatever the traffic. */
  readonly retryFloor: number
  /** The largest chat answer read, in bytes (streamed: all its events). */
  readonly maxBytes: number
  /** The largest embeddings answer read, in bytes. */
  readonly embeddingsMaxBytes: number
}

/** `max_tokens` when `HYBRID_LLM_MAX_TOKENS` is not set: far above the agent's answers (≈ 100–300 tokens). */
const DEFAULT_MAX_TOKENS = 1024

/**
 * The provider's `Config` (see the module comment).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { OpenAi } from "@hybrid/agent"
 *
 * const settings = Effect.gen(function*() {
 *   return yield* OpenAi.config
 * })
 * // with no variables set → { baseUrl: "https://api.openai.com/v1", model: "gpt-4o-mini", retries: 2, … }
 * ```
 *
 * @since 0.1.0
 * @category config
 */
export const config: Config.Config<Settings> = Config.all({
  baseUrl: Config.String("OPENAI_BASE_URL").pipe(
    Config.withDefault("https://api.openai.com/v1"),
    Config.map((url) => url.replace(/\/+$/, ""))
  ),
  apiKey: Config.Redacted("OPENAI_API_KEY").pipe(Config.withDefault(undefined)),
  model: Config.String("OPENAI_MODEL").pipe(Config.withDefault("gpt-4o-mini")),
  embeddingModel: Config.String("OPENAI_EMBEDDING_MODEL").pipe(Config.withDefault("text-embedding-3-small")),
  timeout: Config.Duration("HYBRID_LLM_TIMEOUT").pipe(Config.withDefault(Duration.seconds(60))),
  retries: Common.intConfig("HYBRID_LLM_RETRIES", 0, 2),
  maxTokens: Common.limitConfig("HYBRID_LLM_MAX_TOKENS", DEFAULT_MAX_TOKENS),
  tpm: Common.limitConfig("HYBRID_LLM_TPM"),
  rpm: Common.limitConfig("HYBRID_LLM_RPM"),
  rateWindow: Config.Duration("HYBRID_LLM_RATE_WINDOW").pipe(Config.withDefault(Duration.minutes(1))),
  breakerFailures: Common.intConfig("HYBRID_LLM_BREAKER_FAILURES", 0, 5),
  breakerOpen: Config.Duration("HYBRID_LLM_BREAKER_OPEN").pipe(Config.withDefault(Duration.seconds(30))),
  retryBudget: Config.schema(Schema.NumberFromString.check(Schema.isBetween({ minimum: 0, maximum: 1 })), "HYBRID_LLM_RETRY_BUDGET").pipe(
    Config.withDefault(0.2)
  ),
  retryFloor: Config.schema(Schema.NumberFromString.check(Schema.isGreaterThanOrEqualTo(0)), "HYBRID_LLM_RETRY_FLOOR").pipe(
    Config.withDefault(1)
  ),
  maxBytes: Upstream.maxBytesConfig("HYBRID_LLM_MAX_BYTES", 1024 * 1024),
  embeddingsMaxBytes: Upstream.maxBytesConfig("HYBRID_LLM_EMBEDDINGS_MAX_BYTES", 32 * 1024 * 1024)
})

// --- wire format -------------------------------------------------------------------------

/**
 * A chat message as sent (text only).
 *
 * @example
 * ```ts
 * import { OpenAi } from "@hybrid/agent"
 *
 * const messages: ReadonlyArray<OpenAi.ChatMessage> = [
 *   { role: "system", content: "Answer in one sentence." },
 *   { role: "user", content: "Where is Lisbon?" }
 * ]
 * const estimate = OpenAi.estimateTokens(messages)
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface ChatMessage {
  readonly role: "system" | "user" | "assistant"
  readonly content: string
}

/** What a completion and a streamed chunk share: the head, a message's content, the finish reason. */
const head = { id: Schema.String, model: Schema.String, created: Schema.optional(Schema.Number) }
const Content = Schema.Struct({ content: Schema.optional(Schema.NullOr(Schema.String)) })
const Finish = Schema.optional(Schema.NullOr(Schema.String))

const Usage = Schema.Struct({
  prompt_tokens: Schema.Number,
  completion_tokens: Schema.optional(Schema.Number),
  total_tokens: Schema.Number
})
type Usage = typeof Usage.Type

/**
 * The fields of a chat completion this provider reads.
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import { OpenAi } from "@hybrid/agent"
 *
 * const completion = Schema.decodeUnknownSync(OpenAi.ChatCompletion)({
 *   id: "chatcmpl-1",
 *   model: "gpt-4o-mini",
 *   choices: [{ message: { content: "Lisbon is in Portugal." }, finish_reason: "stop" }]
 * })
 * const text = (c: OpenAi.ChatCompletion) => c.choices[0].message.content ?? ""
 * ```
 *
 * @since 0.1.0
 * @category schemas
 */
export const ChatCompletion = Schema.Struct({
  ...head,
  choices: Schema.NonEmptyArray(Schema.Struct({ message: Content, finish_reason: Finish })),
  usage: Schema.optional(Usage)
})
/** @since 0.1.0 @category models */
export type ChatCompletion = typeof ChatCompletion.Type

/**
 * One server-sent event of a `stream: true` chat completion (the fields read).
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import { OpenAi } from "@hybrid/agent"
 *
 * // one `data:` line of a streamed answer
 * const chunk = Schema.decodeUnknownSync(OpenAi.ChatChunk)(
 *   JSON.parse('{"id":"c1","model":"gpt-4o-mini","choices":[{"delta":{"content":"Lis"}}]}')
 * )
 * const delta = chunk.choices[0]?.delta.content ?? ""
 * ```
 *
 * @since 0.1.0
 * @category schemas
 */
export const ChatChunk = Schema.Struct({
  ...head,
  choices: Schema.Array(Schema.Struct({ delta: Content, finish_reason: Finish })),
  usage: Schema.optional(Schema.NullOr(Usage))
})

/**
 * The fields of an embeddings response this provider reads (`encoding_format: "float"`).
 *
 * @example
 * ```ts
 * import { OpenAi } from "@hybrid/agent"
 *
 * const vectors = (e: OpenAi.Embeddings) => [...e.data].sort((a, b) => a.index - b.index).map((d) => d.embedding)
 * ```
 *
 * @since 0.1.0
 * @category schemas
 */
export const Embeddings = Schema.Struct({
  data: Schema.Array(Schema.Struct({ index: Schema.Number, embedding: Schema.Array(Schema.Number) })),
  usage: Schema.optional(Schema.Struct({ prompt_tokens: Schema.Number, total_tokens: Schema.Number }))
})
/** @since 0.1.0 @category models */
export type Embeddings = typeof Embeddings.Type

// --- budget ------------------------------------------------------------------------------

/**
 * Token accounting since the client was built.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { OpenAi } from "@hybrid/agent"
 *
 * const report = Effect.flatMap(OpenAi.Client, (client) => client.usage).pipe(
 *   Effect.map((u: OpenAi.TokenUsage) => `${u.requests} requests, ${u.reported} tokens (${u.overReserved} over-reserved)`)
 * )
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface TokenUsage {
  /** Requests sent (retries included). */
  readonly requests: number
  /** Tokens reserved before requests (the estimates). */
  readonly reserved: number
  /** Tokens charged to the budget after reconciliation (the reported usage of answered requests). */
  readonly charged: number
  /** Tokens the server reported (`usage.total_tokens`) for successful requests. */
  readonly reported: number
  /** Reserved but not used (estimate above usage): refunded to the budget. */
  readonly overReserved: number
}

/**
 * Tokens of a chat as OpenAI counts them (o200k_base chat format).
 *
 * @example
 * ```ts
 * import { OpenAi } from "@hybrid/agent"
 *
 * const tokens = OpenAi.estimateTokens([{ role: "user", content: "What is the weather in Lisbon?" }]) // ≈ 15
 * ```
 *
 * @since 0.1.0
 * @category utils
 */
export const estimateTokens = (messages: ReadonlyArray<ChatMessage>): number => countTokens(messages)

/**
 * Tokens used by the provider (attribute `kind`: `prompt`, `completion`).
 *
 * @example
 * ```ts
 * import { Effect, Metric } from "effect"
 * import { OpenAi } from "@hybrid/agent"
 *
 * const completionTokens = Metric.value(OpenAi.tokens.pipe(Metric.withAttributes({ kind: "completion" }))).pipe(
 *   Effect.map((state) => state.count)
 * )
 * ```
 *
 * @since 0.1.0
 * @category metrics
 */
export const tokens = Metric.counter("hybrid_llm_tokens_total", { description: "LLM tokens reported by the server" })

// --- the circuit breaker -----------------------------------------------------------------

type Attempt = AiError.AiError | Deadline.TimeoutExceeded | Deadline.DeadlineExceeded

/** What counts against the circuit: the server's health (5xx, 408, connection errors, timeouts), not 429 or our own limits. */
const classify = Common.classifyBy((error: Attempt) => upstreamFault(error, Common.isServerFault))

/** The endpoint without credentials (a URL's userinfo never reaches a key in Redis). */
const endpointOf = (baseUrl: string): string => {
  try {
    const url = new URL(baseUrl)
    return `${url.origin}${url.pathname}`
  } catch {
    return "unparsable-base-url"
  }
}

/**
 * The LLM's breaker: Effect's `CircuitBreaker` on the provided `CircuitBreakerStore`
 * (Redis under `Fleet.layer`) or in memory, keyed by the endpoint.
 */
const breakerOf = (settings: Settings) =>
  Effect.gen(function*() {
    if (settings.breakerFailures === 0) {
      return {
        execute: (_method: string) => <A, R>(self: Effect.Effect<A, Attempt, R>) => self,
        circuit: Effect.succeed("closed" as const)
      }
    }
    const key = `@hybrid/agent/llm/${endpointOf(settings.baseUrl)}`
    const { breaker, circuit, refusal } = yield* Common.breaker({
      key,
      tripPolicy: CircuitBreaker.consecutive(settings.breakerFailures),
      openDuration: settings.breakerOpen,
      trippedBy: `after ${settings.breakerFailures} consecutive failures`
    })
    return {
      execute: (method: string) => <A, R>(self: Effect.Effect<A, Attempt, R>): Effect.Effect<A, Attempt, R> =>
        self.pipe(
          breaker.execute({ key, classify }),
          Effect.catchTag("CircuitBreakerError", (e) =>
            Effect.fail(aiError(method, new AiError.InternalProviderError({ description: refusal(e).detail }))))
        ),
      circuit
    }
  })

// --- the client --------------------------------------------------------------------------

const aiError = (method: string, reason: AiError.AiErrorReason) => AiError.make({ module: "OpenAi", method, reason })

/**
 * The one rule the retries and the breaker share: a timeout and a transport error are
 * the upstream's, the caller's deadline and a request that could not be built are not,
 * and an answer's status is judged by `status` (none: not the upstream's).
 */
const upstreamFault = (error: Attempt, status: (status: number) => boolean): boolean => {
  if (error._tag === "TimeoutExceeded") return true
  if (error._tag === "DeadlineExceeded") return false
  if (error.reason._tag === "NetworkError") return error.reason.reason === "TransportError"
  const code = ("http" in error.reason ? error.reason.http : undefined)?.response?.status
  return code !== undefined && status(code)
}

/**
 * Whether openai-node would retry: connection errors, 408, 409, 429, 5xx (timeouts are
 * retried too, before they become `AiError`s).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { LanguageModel } from "effect/ai"
 * import { OpenAi } from "@hybrid/agent"
 *
 * const answer = LanguageModel.generateText({ prompt: "Where is Lisbon?" }).pipe(
 *   Effect.catchTag("AiError", (e) => OpenAi.isRetryable(e) ? Effect.fail(e) : Effect.succeed({ text: "unavailable" }))
 * )
 * ```
 *
 * @since 0.1.0
 * @category predicates
 */
export const isRetryable = (error: AiError.AiError | Deadline.TimeoutExceeded | Deadline.DeadlineExceeded): boolean =>
  upstreamFault(error, Upstream.isRetryableStatus)

/**
 * The HTTP client of an OpenAI-compatible server, with retries, timeouts and the token
 * budget. `OpenAi.layer` builds `LanguageModel` and `EmbeddingModel` on it.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { OpenAi } from "@hybrid/agent"
 *
 * // the raw chat call, under the same retries and token budget as LanguageModel
 * const program = Effect.gen(function*() {
 *   const client = yield* OpenAi.Client
 *   const completion = yield* client.chat([{ role: "user", content: "Say hi" }])
 *   return completion.choices[0].message.content
 * })
 * ```
 *
 * @since 0.1.0
 * @category services
 */
export class Client extends Context.Service<Client, {
  readonly settings: Settings
  /** `POST /chat/completions` (non-streaming). */
  readonly chat: (messages: ReadonlyArray<ChatMessage>) => Effect.Effect<ChatCompletion, AiError.AiError>
  /**
   * `POST /chat/completions` with `stream: true` (server-sent events): each content delta
   * to `onDelta` as it arrives; the whole answer as a `ChatCompletion` at the end (usage
   * from `stream_options.include_usage`). Retried only before the first delta.
   */
  readonly chatStream: (
    messages: ReadonlyArray<ChatMessage>,
    onDelta: (text: string) => Effect.Effect<void>
  ) => Effect.Effect<ChatCompletion, AiError.AiError>
  /** `POST /embeddings`. */
  readonly embeddings: (inputs: ReadonlyArray<string>) => Effect.Effect<Embeddings, AiError.AiError>
  /** Token accounting so far. */
  readonly usage: Effect.Effect<TokenUsage>
  /** The circuit breaker's state (`"closed"` when there is none or its store fails). */
  readonly circuit: Effect.Effect<"closed" | "open" | "half-open">
}>()("@hybrid/agent/OpenAi/Client") {
  /** Reads the `Config`. */
  static readonly layer: Layer.Layer<Client, Config.ConfigError, HttpClient.HttpClient> = Layer.effect(
    this,
    Effect.suspend(() => make)
  )
}

/**
 * Builds the client from settings already resolved.
 *
 * @example
 * ```ts
 * import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
 * import { Effect, Layer } from "effect"
 * import { OpenAi } from "@hybrid/agent"
 *
 * declare const settings: OpenAi.Settings
 * // a Client layer from settings built in code (OpenAi.Client.layer reads the environment)
 * const client = Layer.effect(OpenAi.Client, OpenAi.fromSettings(settings)).pipe(Layer.provide(NodeHttpClient.layerUndici))
 * const models = Layer.mergeAll(OpenAi.layerLanguageModel, OpenAi.layerEmbeddingModel).pipe(Layer.provide(client))
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromSettings = (settings: Settings): Effect.Effect<Client["Service"], never, HttpClient.HttpClient | Scope.Scope> =>
  Effect.gen(function*() {
    const http = yield* HttpClient.HttpClient
    const breaker = yield* breakerOf(settings)
    // keyed, so under Fleet.layer the fleet's retries to this endpoint are counted together
    const budget = yield* Retry.budget({
      ratio: settings.retryBudget,
      minPerSecond: settings.retryFloor,
      key: `@hybrid/agent/llm/retries/${endpointOf(settings.baseUrl)}`
    })
    const tpm = settings.tpm === undefined ? undefined : yield* Limit.rate({ limit: settings.tpm, window: settings.rateWindow, key: "@hybrid/agent/llm/tpm" })
    const rpm = settings.rpm === undefined ? undefined : yield* Limit.rate({ limit: settings.rpm, window: settings.rateWindow, key: "@hybrid/agent/llm/rpm" })
    /** A request's turn under the RPM limit (none without one). */
    const rpmTurn = rpm === undefined ? Effect.void : rpm.consume(1)
    const counters = { requests: 0, reserved: 0, charged: 0, reported: 0, overReserved: 0 }
    /** Removed from whatever the server's answers put in an error. */
    const secrets = [settings.apiKey]
    const policy = (retryable: (e: Attempt) => boolean) =>
      Retry.policy<Attempt>({ times: settings.retries, base: 500, factor: 2, cap: 8_000, jitter: "equal", while: retryable })
    /** Built once: every call but a streamed chat retries by it. */
    const defaultPolicy = policy(isRetryable)

    /** What the `Upstream` boundary reported, as the `AiError` effect/ai expects. */
    const fromUpstream = (method: string, error: Upstream.UpstreamError): AiError.AiError => {
      switch (error.kind) {
        case "connection":
          return aiError(method, new AiError.NetworkError({
            reason: error.cause === "EncodeError" || error.cause === "InvalidUrlError" ? error.cause : "TransportError",
            method: "POST",
            url: error.url,
            description: error.detail
          }))
        case "decode":
          return aiError(method, new AiError.InvalidResponseError({ description: `unexpected response body: ${error.detail}` }))
        case "too-large":
          return aiError(method, new AiError.InvalidResponseError({
            description: `${error.detail} (${method === "embeddings" ? "HYBRID_LLM_EMBEDDINGS_MAX_BYTES" : "HYBRID_LLM_MAX_BYTES"})`
          }))
        case "status": {
          const status = error.status ?? 0
          const http = { response: { status, headers: {} } }
          const description = error.serverMessage ?? `HTTP ${status}`
          if (status === 429) return aiError(method, new AiError.RateLimitError({ retryAfter: error.retryAfter, http }))
          if (status === 408 || status === 409) return aiError(method, new AiError.UnknownError({ description, http }))
          return aiError(method, AiError.reasonFromHttpStatus({ status, http, description }))
        }
      }
    }

    /** Counts, on success, what a request's `usage` says against its estimate. */
    const account = (estimate: number, total: number | undefined) => {
      if (total === undefined) return
      counters.reported += total
      counters.charged += total - estimate
      if (total < estimate) counters.overReserved += estimate - total
    }

    /**
     * The one request path, for chat (streamed or not) and embeddings: a POST through the
     * boundary (`read` takes the answer), timed per attempt, its tokens reserved against the
     * TPM budget and reconciled with `usage`, behind the RPM limit and the breaker, retried
     * while `retryable` (and the retry budget) allow — by the default policy unless given.
     */
    const call = <A extends { readonly usage?: Usage | null | undefined }>(
      method: "chat" | "embeddings",
      path: string,
      body: unknown,
      read: (request: HttpClientRequest.HttpClientRequest) => Effect.Effect<A, Upstream.UpstreamError>,
      estimate: number,
      retryable?: (e: Attempt) => boolean
    ): Effect.Effect<A, AiError.AiError> => {
      const request = HttpClientRequest.post(`${settings.baseUrl}${path}`).pipe(
        HttpClientRequest.acceptJson,
        HttpClientRequest.bodyJsonUnsafe(body),
        settings.apiKey === undefined ? (r) => r : HttpClientRequest.bearerToken(settings.apiKey)
      )
      const total = (a: A) => a.usage?.total_tokens
      const attempt = Effect.suspend(() => {
        counters.requests++
        counters.reserved += estimate
        counters.charged += estimate
        return read(request).pipe(Effect.mapError((e) => fromUpstream(method, e)), Deadline.timeout(settings.timeout))
      }).pipe(
        Limit.metered(tpm, estimate, total),
        Effect.tap((a) => Effect.sync(() => account(estimate, total(a)))),
        (metered) => Effect.andThen(rpmTurn, metered),
        // the budget's own failures (TPM, RPM, their store) as the AiErrors effect/ai expects
        Effect.catchTags({
          CostExceedsLimit: (e) =>
            Effect.fail(aiError(method, new AiError.InvalidRequestError({
              description: `the request needs ${e.cost} tokens, more than the whole budget of ${e.limit} per window`
            }))),
          LimitStoreError: (e) => Effect.fail(aiError(method, new AiError.UnknownError({ description: Scrub.patterns.text(e.message) }))),
          RateLimiterError: () => Effect.fail(aiError(method, new AiError.RateLimitError({})))
        }),
        breaker.execute(method)
      )
      return attempt.pipe(
        Retry.retry(retryable === undefined ? defaultPolicy : policy(retryable), { budget }),
        Effect.mapError((e) =>
          e._tag === "AiError" ? e : aiError(method, new AiError.NetworkError({
            reason: "TransportError",
            method: "POST",
            url: Scrub.url(`${settings.baseUrl}${path}`),
            description: Common.timeoutDetail(e)
          }))
        ),
        Effect.tap(({ usage }) =>
          usage === undefined || usage === null ? Effect.void : Effect.all([
            Metric.update(Metric.withAttributes(tokens, { kind: "prompt" }), usage.prompt_tokens),
            Metric.update(Metric.withAttributes(tokens, { kind: "completion" }), usage.completion_tokens ?? 0),
            Effect.annotateCurrentSpan({ "llm.usage.total": usage.total_tokens })
          ], { discard: true }))
      )
    }

    /** Reads a `stream: true` answer: each content delta to `onDelta`, the whole as a `ChatCompletion`. */
    const streamed = (onDelta: (text: string) => Effect.Effect<void>, sent: { emitted: boolean }) =>
    (request: HttpClientRequest.HttpClientRequest) =>
      Effect.flatMap(Upstream.events(http, request, ChatChunk, { maxBytes: settings.maxBytes, secrets }), (chunks) => {
        let last: typeof ChatChunk.Type = { id: "", model: settings.model, choices: [] }
        let content = ""
        let finish: string | null = null
        let usage: Usage | undefined
        return chunks.pipe(
          Stream.runForEach((chunk) => {
            last = { ...chunk, created: chunk.created ?? last.created }
            usage = chunk.usage ?? usage
            const choice = chunk.choices[0]
            finish = choice?.finish_reason ?? finish
            const delta = choice?.delta.content
            if (delta === undefined || delta === null || delta === "") return Effect.void
            content += delta
            sent.emitted = true
            return onDelta(delta)
          }),
          Effect.map((): ChatCompletion => ({
            id: last.id,
            model: last.model,
            ...(last.created === undefined ? {} : { created: last.created }),
            choices: [{ message: { content }, finish_reason: finish }],
            ...(usage === undefined ? {} : { usage })
          }))
        )
      }).pipe(Effect.scoped)

    /** `POST /chat/completions`, streamed when `onDelta` is given (then retried only until the first delta). */
    const chatWith = (messages: ReadonlyArray<ChatMessage>, onDelta?: (text: string) => Effect.Effect<void>) =>
      Effect.gen(function*() {
        const estimate = estimateTokens(messages) + (settings.maxTokens ?? 0)
        yield* Effect.annotateCurrentSpan({ "llm.model": settings.model, "llm.estimate": estimate, "llm.stream": onDelta !== undefined })
        const body = {
          model: settings.model,
          messages,
          ...(settings.maxTokens === undefined ? {} : { max_tokens: settings.maxTokens }),
          ...(onDelta === undefined ? {} : { stream: true, stream_options: { include_usage: true } })
        }
        if (onDelta === undefined) {
          const read = (request: HttpClientRequest.HttpClientRequest) =>
            Upstream.json(http, request, ChatCompletion, { maxBytes: settings.maxBytes, secrets })
          return yield* call("chat", "/chat/completions", body, read, estimate)
        }
        // once a delta went out the caller has seen text: no retry after that
        const sent = { emitted: false }
        return yield* call("chat", "/chat/completions", body, streamed(onDelta, sent), estimate, (e) => !sent.emitted && isRetryable(e))
      })

    const chat = (messages: ReadonlyArray<ChatMessage>) => chatWith(messages).pipe(Effect.withSpan("OpenAi.chat"))
    const chatStream = (messages: ReadonlyArray<ChatMessage>, onDelta: (text: string) => Effect.Effect<void>) =>
      chatWith(messages, onDelta).pipe(Effect.withSpan("OpenAi.chatStream"))
    const embeddings = (inputs: ReadonlyArray<string>) =>
      call(
        "embeddings",
        "/embeddings",
        { model: settings.embeddingModel, input: inputs, encoding_format: "float" },
        (request) => Upstream.json(http, request, Embeddings, { maxBytes: settings.embeddingsMaxBytes, secrets }),
        inputs.reduce((sum, input) => sum + countTokens(input), 0)
      ).pipe(Effect.withSpan("OpenAi.embeddings"))

    return Client.of({ settings, chat, chatStream, embeddings, usage: Effect.sync(() => ({ ...counters })), circuit: breaker.circuit })
  })

/**
 * Reads the `Config` and builds the client.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
 * import { OpenAi } from "@hybrid/agent"
 *
 * const program = Effect.gen(function*() {
 *   const client = yield* OpenAi.make
 *   return client.settings.model
 * }).pipe(Effect.scoped, Effect.provide(NodeHttpClient.layerUndici)) // "gpt-4o-mini" unless OPENAI_MODEL is set
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: Effect.Effect<Client["Service"], Config.ConfigError, HttpClient.HttpClient | Scope.Scope> =
  Effect.flatMap(config, fromSettings)

// --- effect/ai services ------------------------------------------------------------------

/** What `generateText` / `streamText` refuse: anything but text. */
const unsupported = (description: string) => aiError("generateText", new AiError.InvalidUserInputError({ description }))

/**
 * The prompt as OpenAI chat messages (text parts only).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Prompt } from "effect/ai"
 * import { OpenAi } from "@hybrid/agent"
 *
 * const messages = OpenAi.toMessages(Prompt.make("Where is Lisbon?")) // [{ role: "user", content: "Where is Lisbon?" }]
 * const tokens = Effect.map(messages, OpenAi.estimateTokens)
 * ```
 *
 * @since 0.1.0
 * @category utils
 */
export const toMessages = (prompt: Prompt.Prompt): Effect.Effect<Array<ChatMessage>, AiError.AiError> =>
  Effect.forEach(prompt.content, (message): Effect.Effect<ChatMessage, AiError.AiError> => {
    if (message.role === "system") return Effect.succeed({ role: "system", content: message.content })
    if (message.role === "tool") return Effect.fail(unsupported("tool messages are not supported (text only)"))
    const parts: ReadonlyArray<Prompt.UserMessagePart | Prompt.AssistantMessagePart> = message.content
    const other = parts.find((part) => part.type !== "text" && part.type !== "reasoning")
    if (other !== undefined) return Effect.fail(unsupported(`${message.role} ${other.type} parts are not supported (text only)`))
    const texts = parts.flatMap((part) => part.type === "text" ? [part.text] : [])
    return Effect.succeed({ role: message.role, content: texts.join("\n") })
  })

/** OpenAI's `finish_reason` as effect/ai's (anything else: `"unknown"`). */
const finishReasons: Readonly<Record<string, Response.FinishReason>> = {
  stop: "stop",
  length: "length",
  content_filter: "content-filter",
  tool_calls: "tool-calls",
  function_call: "tool-calls"
}
const finishReason = (reason: string | null | undefined): Response.FinishReason =>
  reason != null && Object.hasOwn(finishReasons, reason) ? finishReasons[reason]! : "unknown"

const generate = (
  client: Client["Service"],
  options: LanguageModel.ProviderOptions,
  onDelta?: ((text: string) => Effect.Effect<void>) | undefined
) =>
  Effect.gen(function*() {
    if (options.tools.length > 0) return yield* unsupported("tools are not supported (text only)")
    if (options.responseFormat.type !== "text") return yield* unsupported("structured output is not supported (text only)")
    const messages = yield* toMessages(options.prompt)
    const completion = yield* (onDelta === undefined ? client.chat(messages) : client.chatStream(messages, onDelta))
    const choice = completion.choices[0]
    const usage = completion.usage
    const metadata: Response.ResponseMetadataPartEncoded = {
      type: "response-metadata",
      id: completion.id,
      modelId: completion.model,
      ...(completion.created === undefined ? {} : { timestamp: new Date(completion.created * 1000).toISOString() })
    }
    const finish: Response.FinishPartEncoded = {
      type: "finish",
      reason: finishReason(choice.finish_reason),
      usage: {
        inputTokens: { total: usage?.prompt_tokens, uncached: usage?.prompt_tokens },
        outputTokens: { total: usage?.completion_tokens, text: usage?.completion_tokens }
      }
    }
    return { metadata, text: choice.message.content ?? "", finish }
  })

/**
 * `LanguageModel` over the `Client`.
 *
 * @example
 * ```ts
 * import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
 * import { Effect, Layer } from "effect"
 * import { LanguageModel } from "effect/ai"
 * import { OpenAi } from "@hybrid/agent"
 *
 * // only the LanguageModel (no embeddings), over a Client read from the environment
 * const model = OpenAi.layerLanguageModel.pipe(Layer.provide(OpenAi.Client.layer), Layer.provide(NodeHttpClient.layerUndici))
 * const text = LanguageModel.generateText({ prompt: "Where is Lisbon?" }).pipe(Effect.map((r) => r.text), Effect.provide(model))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerLanguageModel: Layer.Layer<LanguageModel.LanguageModel, never, Client> = Layer.effect(
  LanguageModel.LanguageModel,
  Effect.gen(function*() {
    const client = yield* Client
    return yield* LanguageModel.make({
      generateText: (options) =>
        Effect.map(generate(client, options), ({ finish, metadata, text }): Array<Response.PartEncoded> => [
          metadata,
          { type: "text", text },
          finish
        ]),
      streamText: (options) =>
        Stream.callback<Response.StreamPartEncoded, AiError.AiError>((queue) => {
          const offer = (part: Response.StreamPartEncoded) => Effect.asVoid(Queue.offer(queue, part))
          return offer({ type: "text-start", id: "0" }).pipe(
            Effect.andThen(generate(client, options, (delta) => offer({ type: "text-delta", id: "0", delta }))),
            Effect.flatMap(({ finish, metadata }) => Queue.offerAll(queue, [{ type: "text-end", id: "0" }, metadata, finish])),
            Queue.into(queue)
          )
        })
    })
  })
)

/**
 * `EmbeddingModel` over the `Client` (concurrent `embed` calls are batched into one
 * request by `effect/ai`).
 *
 * @example
 * ```ts
 * import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
 * import { Effect, Layer } from "effect"
 * import { EmbeddingModel } from "effect/ai"
 * import { OpenAi } from "@hybrid/agent"
 *
 * const embeddings = OpenAi.layerEmbeddingModel.pipe(Layer.provide(OpenAi.Client.layer), Layer.provide(NodeHttpClient.layerUndici))
 * const vector = Effect.flatMap(EmbeddingModel.EmbeddingModel, (model) => model.embed("Lisbon")).pipe(Effect.provide(embeddings))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerEmbeddingModel: Layer.Layer<EmbeddingModel.EmbeddingModel, never, Client> = Layer.effect(
  EmbeddingModel.EmbeddingModel,
  Effect.gen(function*() {
    const client = yield* Client
    return yield* EmbeddingModel.make({
      embedMany: ({ inputs }) =>
        client.embeddings(inputs).pipe(Effect.map((response) => ({
          results: [...response.data].sort((a, b) => a.index - b.index).map((d) => [...d.embedding]),
          usage: { inputTokens: response.usage?.prompt_tokens }
        })))
    })
  })
)

/**
 * `LanguageModel`, `EmbeddingModel` and the `Client` (for its settings and token usage),
 * configured from the environment.
 *
 * @example
 * ```ts
 * import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
 * import { Effect, Layer } from "effect"
 * import { LanguageModel } from "effect/ai"
 * import { OpenAi } from "@hybrid/agent"
 *
 * // OPENAI_API_KEY, OPENAI_BASE_URL, OPENAI_MODEL… from the environment
 * const program = LanguageModel.generateText({ prompt: "Where is Lisbon?" }).pipe(
 *   Effect.map((response) => response.text),
 *   Effect.provide(OpenAi.layer.pipe(Layer.provide(NodeHttpClient.layerUndici)))
 * )
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<
  LanguageModel.LanguageModel | EmbeddingModel.EmbeddingModel | Client,
  Config.ConfigError,
  HttpClient.HttpClient
> = Layer.mergeAll(layerLanguageModel, layerEmbeddingModel).pipe(Layer.provideMerge(Client.layer))
