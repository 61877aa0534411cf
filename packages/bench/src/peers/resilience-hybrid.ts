/**
 * Hybrid's client for the `resilience` scenario, layered as `@hybrid/agent`'s sources are:
 *
 * ```text
 * Retry.retry(policy)                      full jitter; waits ≥ Retry-After; not on an open circuit
 *   CircuitBreaker.execute                 effect/persistence; 5xx, timeouts, connection errors count
 *     Limit.learned                        learns the service's rate from its 429s; queues calls at it
 *       Limit.adaptive                     AIMD: grows on success, shrinks on 429/503/timeouts
 *         Deadline.timeout(attempt)        per attempt; interrupting aborts the fetch
 *           fetch
 * ```
 *
 * @since 0.1.0
 */
import { Duration, Effect, Exit, Option, Schema, type Scope } from "effect"
import { CircuitBreaker } from "effect/persistence"
import { Deadline, Limit, Retry } from "@hybrid/core"
import { CallError, get, isBreakerFailure, isRetryable, type Outcome, settings } from "./resilience-http.ts"

/**
 * One failed attempt, as Hybrid's limits and retries read it: `status` (429/503 are
 * overload signals) and `retryAfter`.
 *
 * @since 0.1.0
 * @category errors
 */
export class HttpFailure extends Schema.TaggedError<HttpFailure>()("HttpFailure", {
  kind: Schema.Literals(["status", "timeout", "connection"]),
  status: Schema.Number,
  retryAfter: Schema.optional(Schema.Duration)
}) {}

const fromCall = (error: unknown): HttpFailure =>
  error instanceof CallError
    ? new HttpFailure({
      kind: error.kind,
      status: error.status,
      retryAfter: error.retryAfterMs === undefined ? undefined : Duration.millis(error.retryAfterMs)
    })
    : new HttpFailure({ kind: "connection", status: 0 })

/** The classifications of `resilience-http.ts`, read through `HttpFailure`. */
const asCall = (failure: HttpFailure) => new CallError(failure.kind, failure.status)

/**
 * Builds the client; its breaker and adaptive limit are shared by every call it makes.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: Effect.Effect<
  (url: string) => Effect.Effect<Outcome>,
  never,
  CircuitBreaker.CircuitBreakerStore | Scope.Scope
> = Effect.gen(function*() {
  const breaker = yield* CircuitBreaker.make({
    tripPolicy: CircuitBreaker.consecutive(settings.breakerFailures),
    openDuration: Duration.millis(settings.breakerOpenMs)
  })
  const limit = yield* Limit.adaptive({
    initial: settings.concurrency,
    min: settings.adaptiveMin,
    max: settings.adaptiveMax,
    // a heavy-tailed latency is normal here: only a success 4× slower than the fastest is a signal
    latencyTolerance: 4
  })
  const paced = yield* Limit.learned()
  const policy = Retry.policy<HttpFailure | CircuitBreaker.CircuitBreakerError>({
    times: settings.retries,
    base: Duration.millis(settings.backoffBaseMs),
    factor: settings.backoffFactor,
    cap: Duration.millis(settings.backoffCapMs),
    jitter: "full",
    while: (error) => error._tag === "HttpFailure" && isRetryable(asCall(error))
  })
  const classify = (exit: Exit.Exit<unknown, HttpFailure>): CircuitBreaker.Outcome => {
    if (Exit.isSuccess(exit)) return CircuitBreaker.success
    const failure = Option.getOrUndefined(Exit.findErrorOption(exit))
    return failure !== undefined && !isBreakerFailure(asCall(failure)) ? CircuitBreaker.ignored : CircuitBreaker.failure()
  }
  return (url: string) =>
    Effect.tryPromise({ try: (signal) => get(url, signal), catch: fromCall }).pipe(
      Deadline.timeout(Duration.millis(settings.attemptTimeoutMs)),
      limit,
      Effect.mapError((error) =>
        error._tag === "HttpFailure" ? error : new HttpFailure({ kind: "timeout", status: 0 })
      ),
      paced,
      breaker.execute({ key: "fixture", classify }),
      Retry.retry(policy),
      Effect.match({
        onFailure: (error): Outcome => error._tag === "CircuitBreakerError" ? "circuit-open" : "gave-up",
        onSuccess: (): Outcome => "ok"
      })
    )
})
