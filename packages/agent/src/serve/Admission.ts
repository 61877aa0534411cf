/**
 * Admission control for `hybrid serve`: at most `maxInFlight` answers run at once, at
 * most `maxQueued` wait for a slot, and anything past that is refused at once with
 * `Overloaded` (a 503 with `Retry-After`) — the server sheds load instead of starting
 * answers it cannot finish within their budgets. Once `drain` is called (shutdown) new
 * answers are refused with `Draining`; the admitted ones run to the end.
 *
 * Underneath: `@hybrid/core` `Limit.bulkhead({ limit, queue })` (a semaphore with a bound
 * on the waiters, failing `BulkheadFull` past it). Written here: the mapping to the API's
 * errors, the draining state and the gauges (`ServeMetrics.inFlight`, `queued`, `shed`).
 *
 * When to use: around the work of one request, as near the start as possible (before
 * any source is asked).
 *
 * Gotchas: the wait in the queue counts against the answer's budget (the handler starts
 * the budget on arrival), so a deep queue turns into degraded answers; keep `maxQueued`
 * at about `maxInFlight` or below.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Admission } from "@hybrid/agent"
 *
 * const program = Effect.gen(function*() {
 *   const admission = yield* Admission.Admission
 *   return yield* admission.run(Effect.succeed("an answer"))
 * }).pipe(Effect.provide(Admission.layer({ maxInFlight: 8, maxQueued: 8 })))
 * ```
 *
 * @since 0.1.0
 */
import { Context, Effect, Layer, Metric } from "effect"
import { InvalidOption, Limit } from "@hybrid/core"
import * as Api from "./Api.ts"
import * as ServeMetrics from "./Metrics.ts"

/**
 * @example
 * ```ts
 * import type { Admission } from "@hybrid/agent"
 *
 * const options: Admission.Options = { maxInFlight: 16, maxQueued: 16, retryAfterSeconds: 1 }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Answers running at once; an integer ≥ 1. */
  readonly maxInFlight: number
  /** Answers waiting for a slot; an integer ≥ 0. */
  readonly maxQueued: number
  /** The `Retry-After` advised to a refused client, in whole seconds ≥ 1. Default 1. */
  readonly retryAfterSeconds?: number | undefined
}

/**
 * The settings in force: `Options` with the defaults filled in.
 *
 * @example
 * ```ts
 * import type { Admission } from "@hybrid/agent"
 *
 * const settings: Admission.Settings = { maxInFlight: 16, maxQueued: 16, retryAfterSeconds: 1 }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Settings {
  readonly maxInFlight: number
  readonly maxQueued: number
  readonly retryAfterSeconds: number
}

/**
 * The admission state: counts and the draining flag.
 *
 * @example
 * ```ts
 * import type { Admission } from "@hybrid/agent"
 *
 * const idle: Admission.Snapshot = { inFlight: 0, queued: 0, draining: false }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Snapshot {
  readonly inFlight: number
  readonly queued: number
  readonly draining: boolean
}

/**
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Admission } from "@hybrid/agent"
 *
 * const snapshot = Admission.Admission.use((a) => a.snapshot)
 * ```
 *
 * @since 0.1.0
 * @category services
 */
export class Admission extends Context.Service<Admission, {
  /** Runs `self` in a slot, after waiting in the queue if need be; refuses past the queue or while draining. */
  readonly run: <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E | Api.Overloaded | Api.Draining, R>
  /** Stops admitting: every later `run` fails with `Draining`. */
  readonly drain: Effect.Effect<void>
  /** Counts now. */
  readonly snapshot: Effect.Effect<Snapshot>
  /** The settings in force. */
  readonly options: Settings
}>()("@hybrid/agent/serve/Admission") {}

const positiveInt = (option: string, value: number, min: number) => {
  if (!(Number.isSafeInteger(value) && value >= min)) {
    throw new InvalidOption({ where: "Admission.make", option, value: String(value), expected: `an integer ≥ ${min}` })
  }
  return value
}

/**
 * Builds the admission control. Bad options throw `InvalidOption` at once.
 *
 * @example
 * ```ts
 * import { Admission } from "@hybrid/agent"
 *
 * const admission = Admission.make({ maxInFlight: 4, maxQueued: 4 })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options): Effect.Effect<Admission["Service"]> => {
  const settings: Settings = {
    maxInFlight: positiveInt("maxInFlight", options.maxInFlight, 1),
    maxQueued: positiveInt("maxQueued", options.maxQueued, 0),
    retryAfterSeconds: positiveInt("retryAfterSeconds", options.retryAfterSeconds ?? 1, 1)
  }
  return Effect.gen(function*() {
    const bulkhead = yield* Limit.bulkhead({ limit: settings.maxInFlight, queue: settings.maxQueued })
    let draining = false
    const gauges = Effect.gen(function*() {
      yield* Metric.update(ServeMetrics.inFlight, yield* bulkhead.running)
      yield* Metric.update(ServeMetrics.queued, yield* bulkhead.waiting)
    })
    const shed = (reason: "overloaded" | "draining") =>
      Metric.update(Metric.withAttributes(ServeMetrics.shed, { reason }), 1)

    const run = <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E | Api.Overloaded | Api.Draining, R> =>
      Effect.suspend(() => {
        if (draining) return Effect.andThen(shed("draining"), Effect.fail(Api.Draining.of()))
        return bulkhead(Effect.andThen(gauges, self)).pipe(
          Effect.ensuring(gauges),
          Effect.catchIf(
            (e): e is Limit.BulkheadFull => e instanceof Limit.BulkheadFull,
            (full) =>
              Effect.andThen(
                shed("overloaded"),
                Effect.fail(Api.Overloaded.of(full.limit, full.queue, settings.retryAfterSeconds))
              )
          )
        )
      })

    return Admission.of({
      run,
      drain: Effect.sync(() => {
        draining = true
      }),
      snapshot: Effect.gen(function*() {
        return { inFlight: yield* bulkhead.running, queued: yield* bulkhead.waiting, draining }
      }),
      options: settings
    })
  })
}

/**
 * `make` as a layer.
 *
 * @example
 * ```ts
 * import { Admission } from "@hybrid/agent"
 *
 * const AdmissionLive = Admission.layer({ maxInFlight: 8, maxQueued: 8 })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options): Layer.Layer<Admission> => Layer.effect(Admission, make(options))
