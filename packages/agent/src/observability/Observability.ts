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
import { Config, Effect, Layer, Option } from "effect"
import { FetchHttpClient } from "effect/http"
import { Otlp, OtlpExporter } from "effect/observability"

/**
 * What `layer` reads from the environment.
 *
 * @since 0.1.0
 * @category models
 */
export interface Settings {
  /** The collector's base URL; `undefined`: export is off. */
  readonly endpoint: string | undefined
  readonly serviceName: string
}

/**
 * The `Config` of `layer`: `OTEL_EXPORTER_OTLP_ENDPOINT` (optional, a URL) and
 * `OTEL_SERVICE_NAME` (default `"hybrid"`).
 *
 * @since 0.1.0
 * @category config
 */
export const settings: Config.Config<Settings> = Config.all({
  endpoint: Config.option(Config.URL("OTEL_EXPORTER_OTLP_ENDPOINT")).pipe(
    Config.map(Option.map((url) => url.href.replace(/\/+$/, ""))),
    Config.map(Option.getOrUndefined)
  ),
  serviceName: Config.String("OTEL_SERVICE_NAME").pipe(Config.withDefault("hybrid"))
})

/**
 * Exports to `endpoint` as `serviceName`: Effect's tracer, metrics and logger over
 * OTLP/HTTP JSON on `FetchHttpClient`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerOtlp = (options: {
  readonly endpoint: string
  readonly serviceName?: string | undefined
}): Layer.Layer<OtlpExporter.Flusher> =>
  Otlp.layerJson({
    baseUrl: options.endpoint,
    resource: { serviceName: options.serviceName ?? "hybrid", serviceVersion: "0.1.0" }
  }).pipe(Layer.provide(FetchHttpClient.layer))

/**
 * The OTLP exporter when `OTEL_EXPORTER_OTLP_ENDPOINT` is set, else nothing (a no-op
 * `Flusher`). Fails with a `ConfigError` naming the variable when it is not a URL.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<OtlpExporter.Flusher, Config.ConfigError> = Layer.unwrap(
  Effect.map(settings, ({ endpoint, serviceName }) =>
    endpoint === undefined ? OtlpExporter.layerFlusher : layerOtlp({ endpoint, serviceName }))
)
