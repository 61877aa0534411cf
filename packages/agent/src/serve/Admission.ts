/**
 * Admission control for `hybrid serve`: a concurrency limit on the answers in flight that
 * finds its own level, a short queue in front of it, and a refusal at once past that —
 * `Overloaded`, a 503 with `Retry-After` — so the server sheds load instead of starting
 * answers it cannot finish within their budgets. Once `drain` is called (shutdown) new
 * answers are refused with `Draining`; the admitted ones run to the end.
 *
 * - **The limit adapts** (`Limit.adaptive`, AIMD): it starts at `initialInFlight`, grows
 *   by one per answer that finishes while the limit is in use, and shrinks (× 0.9) on an
 *   overload signal — an answer the caller marks strained (`run`'s `strained`: sources
 *   cut by the deadline, say), or, when the call gives its `budgetMs`, an answer that ran
 *   longer than half of it — within [`minInFlight`, `maxInFlight`]. On a machine whose
 *   cores are busy elsewhere the limit comes down to what the CPU can finish in time,
 *   instead of every answer timing out together. `Limit.adaptive`'s own latency signal
 *   (slower than twice the fastest answer seen) is off: answers vary with their query and
 *   their sources, and the budget, not the fastest answer, says what is too slow.
 * - **The queue** holds at most `min(maxQueued, current limit)` requests. The answer time
 *   in a slot is learned as TCP learns a round-trip time: a moving mean and mean
 *   deviation; *likely* is the mean plus two deviations. A request that would queue is
 *   refused at once when its expected wait — its place in the queue × the mean ÷ the
 *   limit — is past `maxWaitMs`, or when that wait plus the likely answer time is past
 *   its `budgetMs`; so is one past the queue. One that waited `maxWaitMs` after all is
 *   refused then; one whose slot came so late that what is left of its budget is less
 *   than the likely answer time is refused at the slot, not started (the slot goes to
 *   the next). All of them: `Overloaded`. A request that finds a free slot always runs,
 *   so the times keep being learned whatever they are.
 * - **`admits`** answers synchronously whether a request would be queued or run now: the
 *   server's middleware asks it before reading a body, so a 503 costs no parsing.
 *
 * Underneath: `@hybrid/core` `Limit.adaptive` (a resizable semaphore with the AIMD
 * controller). Written here: the queue bounds, the mapping to the API's errors, the
 * draining state and the gauges (`ServeMetrics.inFlight`, `queued`, `shed`, `limit`).
 *
 * When to use: around the work of one request, as near the start as possible (before
 * any source is asked).
 *
 * Gotchas: the wait in the queue counts against the answer's budget (the handler starts
 * the budget on arrival); `maxWaitMs` keeps a request from waiting away the time its
 * answer needs.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Admission } from "@hybrid/agent"
 *
 * const program = Effect.gen(function*() {
 *   const admission = yield* Admission.Admission
 *   return yield* admission.run(Effect.succeed("an answer"), { maxWaitMs: 1_000 })
 * }).pipe(Effect.provide(Admission.layer({ maxInFlight: 8, maxQueued: 8 })))
 * ```
 *
 * @since 0.1.0
 */
import { Cause, Clock, Context, Data, Effect, Exit, Fiber, Layer, Metric } from "effect"
import { InvalidOption, Limit } from "@hybrid/core"
import * as Api from "./Api.ts"
import * as ServeMetrics from "./Metrics.ts"

/**
 * The options of admission control: the adaptive limit's bounds, the queue in front of it,
 * and how long a request may wait.
 *
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
  /** The most answers running at once (the adaptive limit's ceiling); an integer ≥ 1. */
  readonly maxInFlight: number
  /** The fewest the limit comes down to; an integer in [1, maxInFlight]. Default 1. */
  readonly minInFlight?: number | undefined
  /** Where the limit starts; default `maxInFlight` (it only comes down once answers slow down). */
  readonly initialInFlight?: number | undefined
  /** The most answers waiting for a slot (and never more than the current limit); an integer ≥ 0. */
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
 * const settings: Admission.Settings = { maxInFlight: 16, minInFlight: 1, initialInFlight: 16, maxQueued: 16, retryAfterSeconds: 1 }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Settings {
  readonly maxInFlight: number
  readonly minInFlight: number
  readonly initialInFlight: number
  readonly maxQueued: number
  readonly retryAfterSeconds: number
}

/**
 * The admission state: counts, the current limit and the draining flag.
 *
 * @example
 * ```ts
 * import type { Admission } from "@hybrid/agent"
 *
 * const idle: Admission.Snapshot = { inFlight: 0, queued: 0, limit: 8, draining: false }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Snapshot {
  readonly inFlight: number
  readonly queued: number
  /** The adaptive limit now (answers allowed to run at once). */
  readonly limit: number
  readonly draining: boolean
}

/**
 * How one call is admitted.
 *
 * @example
 * ```ts
 * import type { Admission } from "@hybrid/agent"
 *
 * const call: Admission.RunOptions<string, never> = { maxWaitMs: 500, strained: (text) => text === "" }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface RunOptions<A, E> {
  /** The longest wait for a slot, in milliseconds; past it, `Overloaded`. Default: no bound. */
  readonly maxWaitMs?: number | undefined
  /**
   * The caller's whole time, wait and answer, in milliseconds. Given, a request that would
   * have to queue is refused when its expected wait plus the expected answer time (see the
   * module comment) is past it, and one that got its slot too late to finish in it is
   * refused then rather than started; an answer that ran longer than half of it is an
   * overload signal. Default: none of these.
   */
  readonly budgetMs?: number | undefined
  /** A result that says the server is overloaded (it came out, but late or partial): the limit shrinks. */
  readonly strained?: ((value: A) => boolean) | undefined
  /** A failure that says the same. */
  readonly overloaded?: ((error: E) => boolean) | undefined
}

/**
 * The server's admission control as a service: `run` an answer in a slot, `drain` before
 * shutdown, and the counts now.
 *
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
  /** Runs `self` in a slot, after waiting in the queue if need be; refuses past the queue, the wait or while draining. */
  readonly run: <A, E, R>(
    self: Effect.Effect<A, E, R>,
    options?: RunOptions<A, E>
  ) => Effect.Effect<A, E | Api.Overloaded | Api.Draining, R>
  /** Stops admitting: every later `run` fails with `Draining`. */
  readonly drain: Effect.Effect<void>
  /** Counts now. */
  readonly snapshot: Effect.Effect<Snapshot>
  /**
   * Whether a request arriving now would get a slot or a queue place (not draining, the
   * queue not full, its expected wait within `maxWaitMs`, and with the answer's likely
   * time within `budgetMs`). Synchronous and cheap: for a refusal before any work. `run`
   * checks again.
   */
  readonly admits: (maxWaitMs?: number, budgetMs?: number) => boolean
  /** `snapshot`, synchronously (the counts as of the last admission event): for a refusal that runs no Effect. */
  readonly peek: () => Snapshot
  /** The settings in force. */
  readonly options: Settings
}>()("@hybrid/agent/serve/Admission") {}

const intAtLeast = (option: string, value: number, min: number) => {
  if (!(Number.isSafeInteger(value) && value >= min)) {
    throw new InvalidOption({ where: "Admission.make", option, value: String(value), expected: `an integer ≥ ${min}` })
  }
  return value
}

/** A result or failure that says "overloaded": carried through the limiter as a failure, so it counts as a signal. */
class Strained extends Data.Class<{ readonly outcome: "value" | "error"; readonly inner: unknown }> {}

/** Off: `Limit.adaptive`'s "slower than this × the fastest answer" signal (it needs a finite number). */
const noLatencySignal = 1e9

/**
 * The answer time once in a slot: its exponentially weighted mean and mean deviation
 * (weight of a new answer: `alpha`), as TCP keeps a round-trip time. `mean` says how fast
 * the queue moves; `likely` (mean + 2 deviations) how long one more answer will most
 * likely need.
 */
class ServiceTime {
  private average: number | undefined = undefined
  private deviation = 0
  private readonly alpha = 0.2
  add(ms: number): void {
    if (this.average === undefined) {
      this.average = ms
      this.deviation = ms / 2
      return
    }
    this.deviation += this.alpha * (Math.abs(ms - this.average) - this.deviation)
    this.average += this.alpha * (ms - this.average)
  }
  /** The mean so far, or `undefined` before the first answer. */
  get mean(): number | undefined {
    return this.average
  }
  /** The mean plus two mean deviations, or `undefined` before the first answer. */
  get likely(): number | undefined {
    return this.average === undefined ? undefined : this.average + 2 * this.deviation
  }
}

/** A request whose slot came too late for its budget: refused, and no signal to the limit. */
class TooLate {
  readonly _tag = "TooLate"
}

/** An answer slower than this share of its budget tells the limit the server is overloaded. */
const slowShare = 0.5

const resolve = (options: Options): Settings => {
  const maxInFlight = intAtLeast("maxInFlight", options.maxInFlight, 1)
  const minInFlight = intAtLeast("minInFlight", options.minInFlight ?? 1, 1)
  if (minInFlight > maxInFlight) {
    throw new InvalidOption({ where: "Admission.make", option: "minInFlight", value: String(minInFlight), expected: `≤ maxInFlight (${maxInFlight})` })
  }
  const initialInFlight = intAtLeast("initialInFlight", options.initialInFlight ?? maxInFlight, minInFlight)
  return {
    maxInFlight,
    minInFlight,
    initialInFlight: Math.min(initialInFlight, maxInFlight),
    maxQueued: intAtLeast("maxQueued", options.maxQueued, 0),
    retryAfterSeconds: intAtLeast("retryAfterSeconds", options.retryAfterSeconds ?? 1, 1)
  }
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
  const settings = resolve(options)
  return Effect.gen(function*() {
    const limiter = yield* Limit.adaptive({
      min: settings.minInFlight,
      max: settings.maxInFlight,
      initial: settings.initialInFlight,
      isOverload: (e) => e instanceof Strained,
      latencyTolerance: noLatencySignal
    })
    let draining = false
    const service = new ServiceTime()
    // the limiter's counters, read synchronously (its Effects are `Effect.sync`)
    const counts = { running: 0, waiting: 0, limit: settings.initialInFlight }
    const refresh = Effect.gen(function*() {
      counts.running = yield* limiter.running
      counts.waiting = yield* limiter.waiting
      counts.limit = Math.floor(yield* limiter.limit)
    })
    /** Whether a request arriving now is refused: the queue full, or its expected wait past `maxWaitMs` or too late for `budgetMs`. */
    const refused = (maxWaitMs: number | undefined, budgetMs: number | undefined): boolean => {
      const { limit, running, waiting } = counts
      if (running + waiting >= limit + Math.min(settings.maxQueued, limit)) return true
      const { likely, mean } = service
      // a free slot: run now (so the times keep being learned, whatever they are)
      if (running < limit || mean === undefined || likely === undefined) return false
      // its place in the queue × the mean answer time ÷ the answers running at once
      const wait = ((waiting + 1) * mean) / limit
      return (maxWaitMs !== undefined && wait > maxWaitMs) || (budgetMs !== undefined && wait + likely > budgetMs)
    }
    const gauges = Effect.gen(function*() {
      yield* refresh
      yield* Metric.update(ServeMetrics.inFlight, counts.running)
      yield* Metric.update(ServeMetrics.queued, counts.waiting)
      yield* Metric.update(ServeMetrics.limit, yield* limiter.limit)
    })
    const refuse = Effect.gen(function*() {
      yield* ServeMetrics.recordShed("overloaded")
      return yield* Api.Overloaded.of(yield* limiter.running, yield* limiter.waiting, settings.retryAfterSeconds)
    })

    const run = <A, E, R>(
      self: Effect.Effect<A, E, R>,
      call: RunOptions<A, E> = {}
    ): Effect.Effect<A, E | Api.Overloaded | Api.Draining, R> =>
      Effect.gen(function*() {
        if (draining) {
          yield* ServeMetrics.recordShed("draining")
          return yield* Api.Draining.of()
        }
        yield* refresh
        if (refused(call.maxWaitMs, call.budgetMs)) return yield* refuse
        const entered = yield* Clock.currentTimeMillis
        const budgetMs = call.budgetMs
        let started = false
        let ms = 0
        const slow = () => budgetMs !== undefined && ms > slowShare * budgetMs
        // inside the limiter a strained result is a failure (an overload signal); outside it is the result again
        const limited = limiter(Effect.gen(function*() {
          started = true
          const start = yield* Clock.currentTimeMillis
          const likely = service.likely
          // it waited, and what is left of its budget is less than an answer likely needs: refuse, do not start
          if (budgetMs !== undefined && likely !== undefined && start > entered && start - entered + likely > budgetMs) {
            return yield* Effect.fail(new TooLate())
          }
          return yield* Effect.andThen(gauges, self).pipe(
            Effect.onExit((exit) =>
              // a client that went away says nothing about how long answers take
              Exit.isFailure(exit) && Cause.hasInterruptsOnly(exit.cause) ? Effect.void : Effect.map(Clock.currentTimeMillis, (end) => {
                ms = end - start
                service.add(ms)
              })
            ),
            Effect.mapError((e) => call.overloaded?.(e) === true || slow() ? new Strained({ outcome: "error", inner: e }) : e),
            Effect.flatMap((value) =>
              call.strained?.(value) === true || slow()
                ? Effect.fail(new Strained({ outcome: "value", inner: value }))
                : Effect.succeed(value)
            )
          )
        })).pipe(
          // after the limiter's own release, whatever the ending (interrupted in the queue too): `admits` reads these counts
          Effect.ensuring(gauges)
        )
        const fiber = yield* Effect.forkChild(limited, { startImmediately: true })
        yield* gauges
        if (call.maxWaitMs !== undefined) {
          const admitted = yield* Effect.sleep(call.maxWaitMs).pipe(Effect.as(false), Effect.raceFirst(Effect.map(Fiber.await(fiber), () => true)))
          if (!admitted && !started) {
            // interrupting waits for the call's own finalizer, which refreshes the gauges
            yield* Fiber.interrupt(fiber)
            return yield* refuse
          }
        }
        const exit = yield* Fiber.await(fiber)
        if (exit._tag === "Success") return exit.value
        const errors = exit.cause.reasons.filter(Cause.isFailReason).map((r) => r.error)
        if (errors.some((e) => e instanceof TooLate)) return yield* refuse
        const strained = errors.find((e) => e instanceof Strained)
        if (strained !== undefined) {
          return yield* (strained.outcome === "value" ? Effect.succeed(strained.inner as A) : Effect.fail(strained.inner as E))
        }
        return yield* Effect.failCause(exit.cause as Cause.Cause<E>)
      })

    const peek = (): Snapshot => ({ inFlight: counts.running, queued: counts.waiting, limit: counts.limit, draining })
    return Admission.of({
      run,
      drain: Effect.sync(() => {
        draining = true
      }),
      // the counts are refreshed at every admission event (a call forked, started, ended or given up)
      admits: (maxWaitMs, budgetMs) => !draining && !refused(maxWaitMs, budgetMs),
      peek,
      snapshot: Effect.map(refresh, peek),
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
