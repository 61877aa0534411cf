/**
 * What `hybrid serve` reports on `GET /metrics` (Prometheus text format, through
 * `effect/observability` `PrometheusMetrics`), next to the sources' own metrics
 * (`hybrid_source_*`, see `Source`):
 *
 * | metric                                  | kind      | attributes               |
 * |-----------------------------------------|-----------|--------------------------|
 * | `hybrid_serve_answers_in_flight`        | gauge     |                          |
 * | `hybrid_serve_answers_queued`           | gauge     |                          |
 * | `hybrid_serve_answers_limit`            | gauge     | (the adaptive limit)     |
 * | `hybrid_serve_shed_total`               | counter   | `reason` (`overloaded`, `draining`) |
 * | `hybrid_serve_requests_total`           | counter   | `method`, `route`, `status` |
 * | `hybrid_serve_source_status_total`      | counter   | `source`, `status` (`ok`, `timeout`, …) |
 * | `hybrid_serve_answer_latency_ms`        | histogram | `outcome` (`ok`, `degraded`, `no-answer`) |
 * | `process_resident_memory_bytes`         | gauge     | (every thread's, as the OS counts it) |
 * | `nodejs_heap_used_bytes`, `nodejs_heap_total_bytes` | gauge | (the main thread's V8 heap) |
 *
 * The memory gauges are sampled once a second (`sampleProcess`, run by the server) under
 * the names Prometheus' own Node client gives them, so existing dashboards read them.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { PrometheusMetrics } from "effect/observability"
 * import { ServeMetrics } from "@hybrid/agent"
 *
 * const text = Effect.gen(function*() {
 *   yield* ServeMetrics.recordRequest("GET", "/healthz", 200)
 *   return yield* PrometheusMetrics.format()
 * })
 * ```
 *
 * @since 0.1.0
 */
import { Effect, Metric, Schedule } from "effect"
import type * as Agent from "../Agent.ts"

/**
 * Answers running now.
 *
 * @example
 * ```ts
 * import { Metric } from "effect"
 * import { ServeMetrics } from "@hybrid/agent"
 *
 * Metric.update(ServeMetrics.inFlight, 3)
 * ```
 *
 * @since 0.1.0
 * @category metrics
 */
export const inFlight = Metric.gauge("hybrid_serve_answers_in_flight", { description: "answers running now" })

/**
 * Answers admitted and waiting for a slot now.
 *
 * @example
 * ```ts
 * import { Metric } from "effect"
 * import { ServeMetrics } from "@hybrid/agent"
 *
 * Metric.update(ServeMetrics.queued, 0)
 * ```
 *
 * @since 0.1.0
 * @category metrics
 */
export const queued = Metric.gauge("hybrid_serve_answers_queued", { description: "answers waiting for a slot now" })

/**
 * The adaptive limit on answers in flight now (see `Admission`).
 *
 * @example
 * ```ts
 * import { Metric } from "effect"
 * import { ServeMetrics } from "@hybrid/agent"
 *
 * Metric.update(ServeMetrics.limit, 8)
 * ```
 *
 * @since 0.1.0
 * @category metrics
 */
export const limit = Metric.gauge("hybrid_serve_answers_limit", { description: "the adaptive limit on answers in flight" })

/**
 * Requests turned away with a 503 before any work (attribute `reason`).
 *
 * @example
 * ```ts
 * import { Metric } from "effect"
 * import { ServeMetrics } from "@hybrid/agent"
 *
 * Metric.update(Metric.withAttributes(ServeMetrics.shed, { reason: "overloaded" }), 1)
 * ```
 *
 * @since 0.1.0
 * @category metrics
 */
export const shed = Metric.counter("hybrid_serve_shed_total", { description: "requests shed with a 503 before any work" })

/**
 * Every response (attributes `method`, `route`, `status`).
 *
 * @example
 * ```ts
 * import { ServeMetrics } from "@hybrid/agent"
 *
 * ServeMetrics.recordRequest("POST", "/v1/answer", 200)
 * ```
 *
 * @since 0.1.0
 * @category metrics
 */
export const requests = Metric.counter("hybrid_serve_requests_total", { description: "HTTP responses sent" })

/**
 * How each source fared in each answer (attributes `source`, `status`).
 *
 * @example
 * ```ts
 * import { Metric } from "effect"
 * import { ServeMetrics } from "@hybrid/agent"
 *
 * Metric.update(Metric.withAttributes(ServeMetrics.sourceStatus, { source: "news", status: "ok" }), 1)
 * ```
 *
 * @since 0.1.0
 * @category metrics
 */
export const sourceStatus = Metric.counter("hybrid_serve_source_status_total", {
  description: "source outcomes in answers, by source and status"
})

/**
 * Time of an admitted answer from arrival (queueing included), in milliseconds
 * (attribute `outcome`).
 *
 * @example
 * ```ts
 * import { Metric } from "effect"
 * import { ServeMetrics } from "@hybrid/agent"
 *
 * Metric.update(Metric.withAttributes(ServeMetrics.answerLatency, { outcome: "ok" }), 240)
 * ```
 *
 * @since 0.1.0
 * @category metrics
 */
export const answerLatency = Metric.histogram("hybrid_serve_answer_latency_ms", {
  description: "admitted answers from arrival to reply (ms)",
  boundaries: Metric.exponentialBoundaries({ start: 10, factor: 1.6, count: 18 })
})

/**
 * Counts one response (or `count` alike).
 *
 * @example
 * ```ts
 * import { ServeMetrics } from "@hybrid/agent"
 *
 * ServeMetrics.recordRequest("GET", "/metrics", 200)
 * ```
 *
 * @since 0.1.0
 * @category recording
 */
export const recordRequest = (method: string, route: string, status: number, count = 1): Effect.Effect<void> =>
  Metric.update(Metric.withAttributes(requests, { method, route, status: String(status) }), count)

/**
 * Counts one request shed with a 503 before any work (or `count` alike), by `reason`.
 *
 * @example
 * ```ts
 * import { ServeMetrics } from "@hybrid/agent"
 *
 * ServeMetrics.recordShed("overloaded")
 * ```
 *
 * @since 0.1.0
 * @category recording
 */
export const recordShed = (reason: "overloaded" | "draining", count = 1): Effect.Effect<void> =>
  Metric.update(Metric.withAttributes(shed, { reason }), count)

/**
 * Records an admitted answer's outcome: its latency and every source's status.
 *
 * @example
 * ```ts
 * import { ServeMetrics } from "@hybrid/agent"
 *
 * ServeMetrics.recordAnswer("no-answer", [], 120)
 * ```
 *
 * @since 0.1.0
 * @category recording
 */
export const recordAnswer = (
  outcome: "ok" | "degraded" | "no-answer",
  sources: ReadonlyArray<Agent.SourceReport>,
  ms: number
): Effect.Effect<void> =>
  Effect.gen(function*() {
    yield* Metric.update(Metric.withAttributes(answerLatency, { outcome }), ms)
    for (const source of sources) {
      yield* Metric.update(Metric.withAttributes(sourceStatus, { source: source.name, status: source.status }), 1)
    }
  })

/**
 * The process's resident set size: the main thread, the processing workers and everything
 * Node allocates outside V8 — what the OS and a container limit count.
 *
 * @example
 * ```ts
 * import { ServeMetrics } from "@hybrid/agent"
 *
 * const metric = ServeMetrics.residentMemory // process_resident_memory_bytes
 * ```
 *
 * @since 0.1.0
 * @category metrics
 */
export const residentMemory = Metric.gauge("process_resident_memory_bytes", { description: "resident memory of the process (bytes)" })

/**
 * The main thread's V8 heap in use (live objects and garbage not yet collected).
 *
 * @example
 * ```ts
 * import { ServeMetrics } from "@hybrid/agent"
 *
 * const metric = ServeMetrics.heapUsed // nodejs_heap_used_bytes
 * ```
 *
 * @since 0.1.0
 * @category metrics
 */
export const heapUsed = Metric.gauge("nodejs_heap_used_bytes", { description: "the main thread's V8 heap in use (bytes)" })

/**
 * The main thread's V8 heap reserved from the OS (in use or not): what `heapUsed` can grow
 * into before V8 asks for more.
 *
 * @example
 * ```ts
 * import { ServeMetrics } from "@hybrid/agent"
 *
 * const metric = ServeMetrics.heapTotal // nodejs_heap_total_bytes
 * ```
 *
 * @since 0.1.0
 * @category metrics
 */
export const heapTotal = Metric.gauge("nodejs_heap_total_bytes", { description: "the main thread's V8 heap reserved (bytes)" })

/**
 * Samples the memory gauges now, then once a second, for as long as it runs (the server
 * forks it for its lifetime).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { ServeMetrics } from "@hybrid/agent"
 *
 * const sampling = Effect.forkScoped(ServeMetrics.sampleProcess)
 * ```
 *
 * @since 0.1.0
 * @category recording
 */
export const sampleProcess: Effect.Effect<void> = Effect.suspend(() => {
  const memory = process.memoryUsage()
  return Effect.all([
    Metric.update(residentMemory, memory.rss),
    Metric.update(heapUsed, memory.heapUsed),
    Metric.update(heapTotal, memory.heapTotal)
  ], { discard: true })
}).pipe(Effect.repeat(Schedule.spaced("1 second")), Effect.asVoid)
