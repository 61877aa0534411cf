/**
 * What the sources (`Source`) and the LLM provider (`OpenAi`) build the same way around
 * the `Upstream` boundary: their circuit breaker, the integer settings they read and the
 * words of a timeout.
 *
 * @internal
 */
import { Cause, Config, Duration, Effect, Exit, Layer, Option, Schema } from "effect"
import { CircuitBreaker } from "effect/persistence"
import type { Deadline } from "@hybrid/core"
import * as Scrub from "../Scrub.ts"

/** A circuit's state as the agent reports it, by the tag Effect's breaker gives it. */
export const circuitState = { Closed: "closed", HalfOpen: "half-open", Open: "open" } as const

/**
 * The circuit of an upstream: Effect's `CircuitBreaker` on the provided
 * `CircuitBreakerStore` (Redis under `Fleet.layer`: the fleet's circuit) or in memory,
 * with `circuit`, the state of `key` now (`"closed"` when the store cannot say), and
 * `refusal`, what a refused call says (`detail`, and `retryAfter` when it is open). The
 * sources and the LLM each build theirs with it, and their own `classify` with `classifyBy`.
 */
export const breaker = (options: {
  readonly key: string
  readonly tripPolicy: CircuitBreaker.TripPolicy
  readonly openDuration: Duration.Input
  /** What opened it, for the refusal's detail (`"after 5 consecutive failures"`). */
  readonly trippedBy?: string | undefined
}) =>
  Effect.gen(function*() {
    const store = yield* Effect.serviceOption(CircuitBreaker.CircuitBreakerStore)
    const breaker = yield* CircuitBreaker.make({ tripPolicy: options.tripPolicy, openDuration: options.openDuration }).pipe(
      Effect.provide(Option.isSome(store) ? Layer.succeed(CircuitBreaker.CircuitBreakerStore, store.value) : CircuitBreaker.layerStoreMemory())
    )
    const circuit: Effect.Effect<"closed" | "half-open" | "open"> = breaker.state(options.key).pipe(
      Effect.map((s) => circuitState[s._tag]),
      Effect.orElseSucceed(() => "closed" as const)
    )
    const tripped = options.trippedBy === undefined ? "" : ` ${options.trippedBy}`
    const refusal = ({ reason }: CircuitBreaker.CircuitBreakerError): { readonly detail: string; readonly retryAfter?: Duration.Duration } =>
      reason._tag === "CircuitOpen"
        ? { detail: `circuit open${tripped}; next probe in ${Duration.format(reason.retryAfter)}`, retryAfter: reason.retryAfter }
        : reason._tag === "CircuitHalfOpen"
        ? { detail: "circuit half-open; its probes are running" }
        : { detail: `circuit store unavailable: ${Scrub.patterns.text(reason.message)}` }
    return { breaker, circuit, refusal }
  })

/**
 * A breaker's `classify`: a success is one, and a failure counts against the circuit when
 * `unhealthy` says its error is the upstream's doing (a defect always counts; Effect's
 * breaker ignores an interrupted call before it asks).
 */
export const classifyBy = <E>(unhealthy: (error: E) => boolean) => <A>(exit: Exit.Exit<A, E>): CircuitBreaker.Outcome => {
  if (Exit.isSuccess(exit)) return CircuitBreaker.success
  const error = Cause.findErrorOption(exit.cause)
  return Option.isNone(error) || unhealthy(error.value) ? CircuitBreaker.failure() : CircuitBreaker.ignored
}

/** A whole number ≥ `min`, from a variable's text. */
const intAtLeast = (min: number) => Schema.NumberFromString.check(Schema.isInt(), Schema.isGreaterThanOrEqualTo(min))

/**
 * A whole-number setting read from the variable `name`: at least `min`, `fallback` when
 * unset; anything else is a `ConfigError` naming the variable. The sources and the LLM
 * read their retries, breaker counts and the like through it.
 */
export const intConfig = (name: string, min: number, fallback: number): Config.Config<number> =>
  Config.schema(intAtLeast(min), name).pipe(Config.withDefault(fallback))

/**
 * A limit read from the variable `name`: a whole number ≥ 0, `0` meaning "no limit"
 * (`undefined`); unset → `fallback` (none: no limit). Rate limits, concurrency and
 * `max_tokens` are read through it.
 */
export const limitConfig = (name: string, fallback?: number | undefined): Config.Config<number | undefined> =>
  Config.schema(intAtLeast(0), name).pipe(
    Config.withDefault(fallback),
    Config.map((n) => n === 0 ? undefined : n)
  )

/** A status that speaks of the server's health (5xx, 408): it counts against a circuit; 429 and other 4xx do not. */
export const isServerFault = (status: number | undefined): boolean => status !== undefined && (status >= 500 || status === 408)

/** What a per-attempt timeout or the caller's deadline says in an error: the same words for the sources and the LLM. */
export const timeoutDetail = (error: Deadline.TimeoutExceeded | Deadline.DeadlineExceeded): string =>
  error._tag === "TimeoutExceeded" ? `no answer within ${error.timeout} ms` : `the caller's deadline passed after ${error.elapsed} ms`
