/**
 * Opt-in OpenTelemetry export: traces, metrics and logs over OTLP/HTTP (JSON) when
 * `OTEL_EXPORTER_OTLP_ENDPOINT` is set, nothing at all when it is not.
 *
 * The spans are already there — every tracing boundary of `@hybrid/core` and
 * `@hybrid/agent` is an `Effect.fn` or `Effect.withSpan` (`Agent.answer` → `Agent.source`
 * → `Agent.fetch` / `Agent.process` → `Processing.runParts`, `Agent.llm`, the sources'
 * retries, the fixtures' handlers) — and so are the metrics (`hybrid_source_*`,
 * `hybrid_runner_*`). This layer ships them: Effect's own exporter
 * (`effect/observability` `Otlp.layerJson`) on `FetchHttpClient`, so no OpenTelemetry
 * SDK and no extra package. Every `hybrid` command provides it.
 *
 * | variable                      | meaning                                                  |
 * |-------------------------------|----------------------------------------------------------|
 * | `OTEL_EXPORTER_OTLP_ENDPOINT` | the collector's base URL, e.g. `http://127.0.0.1:4318`; posts to `/v1/traces`, `/v1/metrics`, `/v1/logs` below it. Unset: no export |
 * | `OTEL_SERVICE_NAME`           | the resource's `service.name`; default `hybrid`           |
 * | `HYBRID_TRACE_DEBUG`          | `true`: export spans as they are (stack traces, paths); default `false` |
 *
 * What leaves in a span is scrubbed (`ScrubbedTracer`, `Scrub`): a failed span's status
 * and exception are its error's tag and scrubbed message — no stack trace, no source
 * path — and string attributes are scrubbed with absolute paths shortened, so neither
 * `OPENAI_API_KEY` (nor any prefix of it), an `Authorization` value, URL userinfo nor the
 * machine's layout reaches the collector. `HYBRID_TRACE_DEBUG=true` turns that off.
 *
 * Gotchas:
 * - The exporter batches and sends every few seconds, and flushes what is left when the
 *   layer closes (a short command exports at exit: give it the layer's whole lifetime).
 * - Effect's OTLP logger is *added* to the current loggers (`mergeWithExisting`); a
 *   `Logger.layer([...])` provided *above* this layer would replace it (the console
 *   logger must be built below the exporter, as in `Layer.provideMerge`).
 * - The endpoint is read with `Config`, so a test can provide it with a
 *   `ConfigProvider` instead of mutating `process.env` (Effect's default provider
 *   snapshots the environment on first use).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Agent, Fixtures, Observability } from "@hybrid/agent"
 *
 * // OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318 node program.ts
 * const program = Agent.answer("electric cars in Oslo", { budget: "10 seconds" }).pipe(
 *   Effect.provide(Fixtures.layerAgent()),
 *   Effect.provide(Observability.layer)
 * )
 * ```
 *
 * @since 0.1.0
 */
import { Config, Context, Effect, Layer, Redacted, Tracer } from "effect"
import { FetchHttpClient } from "effect/http"
import { Otlp, OtlpExporter } from "effect/observability"
import * as Scrub from "../Scrub.ts"
import * as ScrubbedTracer from "./ScrubbedTracer.ts"

/**
 * What `layer` reads from the environment.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Observability } from "@hybrid/agent"
 *
 * const where = Effect.map(Observability.settings, (s: Observability.Settings) =>
 *   s.endpoint === undefined ? "tracing off" : `spans of ${s.serviceName} to ${s.endpoint}`)
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Settings {
  /** The collector's base URL; `undefined`: export is off. */
  readonly endpoint: string | undefined
  readonly serviceName: string
  /** Export spans unscrubbed. */
  readonly debug: boolean
  /** The configured `OPENAI_API_KEY`, scrubbed from every span. */
  readonly apiKey: Redacted.Redacted<string> | undefined
}

/**
 * The `Config` of `layer`: `OTEL_EXPORTER_OTLP_ENDPOINT` (optional, a URL),
 * `OTEL_SERVICE_NAME` (default `"hybrid"`), `HYBRID_TRACE_DEBUG` (default `false`) and
 * `OPENAI_API_KEY` (the secret to scrub).
 *
 * @example
 * ```ts
 * import { ConfigProvider, Effect } from "effect"
 * import { Observability } from "@hybrid/agent"
 *
 * const program = Effect.gen(function*() { return yield* Observability.settings }).pipe(
 *   Effect.provide(ConfigProvider.layer(ConfigProvider.fromUnknown({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:4318" })))
 * )
 * ```
 *
 * @since 0.1.0
 * @category config
 */
export const settings: Config.Config<Settings> = Config.all({
  endpoint: Config.URL("OTEL_EXPORTER_OTLP_ENDPOINT").pipe(
    Config.map((url) => url.href.replace(/\/+$/, "")),
    Config.withDefault(undefined)
  ),
  serviceName: Config.String("OTEL_SERVICE_NAME").pipe(Config.withDefault("hybrid")),
  debug: Config.Boolean("HYBRID_TRACE_DEBUG").pipe(Config.withDefault(false)),
  apiKey: Config.Redacted("OPENAI_API_KEY").pipe(Config.withDefault(undefined))
})

/**
 * Exports to `endpoint` as `serviceName`: Effect's tracer (wrapped by `ScrubbedTracer`
 * with `scrub`, default `Scrub.patterns`, unless `debug`), metrics and logger over
 * OTLP/HTTP JSON on `FetchHttpClient`.
 *
 * @example
 * ```ts
 * import { Effect, Layer } from "effect"
 * import { Observability, Scrub } from "@hybrid/agent"
 *
 * // spans to a local collector, with the API key scrubbed from every attribute
 * const tracing = Observability.layerOtlp({
 *   endpoint: "http://127.0.0.1:4318",
 *   serviceName: "answers",
 *   scrub: Scrub.make({ secrets: [process.env.OPENAI_API_KEY] })
 * })
 * const program = Effect.log("traced").pipe(Effect.withSpan("job"), Effect.provide(tracing))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerOtlp = (options: {
  readonly endpoint: string
  readonly serviceName?: string | undefined
  readonly scrub?: Scrub.Scrubber | undefined
  readonly debug?: boolean | undefined
}): Layer.Layer<OtlpExporter.Flusher> => {
  const otlp = Otlp.layerJson({
    baseUrl: options.endpoint,
    resource: { serviceName: options.serviceName ?? "hybrid", serviceVersion: "0.1.0" }
  }).pipe(Layer.provide(FetchHttpClient.layer))
  return Layer.flatMap(otlp, (context) => {
    const tracer = ScrubbedTracer.make(Context.get(context, Tracer.Tracer), options.scrub ?? Scrub.patterns, { debug: options.debug })
    return Layer.succeedContext(Context.add(context, Tracer.Tracer, tracer))
  })
}

/**
 * The OTLP exporter when `OTEL_EXPORTER_OTLP_ENDPOINT` is set, else nothing (a no-op
 * `Flusher`). Fails with a `ConfigError` naming the variable when it is not a URL.
 *
 * @example
 * ```ts
 * import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
 * import { Effect } from "effect"
 * import { Observability } from "@hybrid/agent"
 *
 * // exports spans when OTEL_EXPORTER_OTLP_ENDPOINT is set, and does nothing otherwise
 * Effect.log("hello").pipe(Effect.withSpan("main"), Effect.provide(Observability.layer), NodeRuntime.runMain)
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<OtlpExporter.Flusher, Config.ConfigError> = Layer.unwrap(
  Effect.map(settings, ({ apiKey, debug, endpoint, serviceName }) =>
    endpoint === undefined
      ? OtlpExporter.layerFlusher
      : layerOtlp({ endpoint, serviceName, debug, scrub: Scrub.make({ secrets: [apiKey] }) }))
)
