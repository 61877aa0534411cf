/**
 * The cockatiel client of the `resilience` scenario: cockatiel 4's policies wrapped in
 * the same order as Hybrid's — retry (exponential backoff, full jitter), circuit breaker
 * (consecutive failures), bulkhead (the concurrency limit, unbounded queue), timeout
 * (per attempt, aborting the fetch). cockatiel does not read `Retry-After`.
 *
 * @since 0.1.0
 */
import {
  BrokenCircuitError,
  bulkhead,
  circuitBreaker,
  ConsecutiveBreaker,
  ExponentialBackoff,
  fullJitterGenerator,
  handleWhen,
  retry,
  TaskCancelledError,
  timeout,
  TimeoutStrategy,
  wrap
} from "cockatiel"
import { type Client, get, isBreakerFailure, isRetryable, settings } from "./resilience-http.ts"

/** cockatiel's own timeout error counts as a timeout in both classifications. */
const timedOut = (error: unknown) => error instanceof TaskCancelledError

/**
 * @since 0.1.0
 * @category constructors
 */
export const make = (): Client => {
  const policy = wrap(
    retry(handleWhen((error) => !(error instanceof BrokenCircuitError) && (timedOut(error) || isRetryable(error))), {
      maxAttempts: settings.retries,
      backoff: new ExponentialBackoff({
        initialDelay: settings.backoffBaseMs,
        exponent: settings.backoffFactor,
        maxDelay: settings.backoffCapMs,
        generator: fullJitterGenerator
      })
    }),
    circuitBreaker(handleWhen((error) => timedOut(error) || isBreakerFailure(error)), {
      halfOpenAfter: settings.breakerOpenMs,
      breaker: new ConsecutiveBreaker(settings.breakerFailures)
    }),
    bulkhead(settings.concurrency, Number.POSITIVE_INFINITY),
    timeout(settings.attemptTimeoutMs, TimeoutStrategy.Aggressive)
  )
  return (url) =>
    policy.execute(({ signal }) => get(url, signal)).then(
      () => "ok" as const,
      (error) => error instanceof BrokenCircuitError ? "circuit-open" as const : "gave-up" as const
    )
}
