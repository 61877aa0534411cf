/**
 * The p-retry client of the `resilience` scenario: p-retry 9 around p-limit 7 around one
 * attempt with its own `AbortSignal.timeout`. p-retry has no circuit breaker and does
 * not read `Retry-After`; its backoff is `min(cap, base × factor^n)` × a random factor
 * in [1, 2] (`randomize`), not full jitter.
 *
 * @since 0.1.0
 */
import pLimit from "p-limit"
import pRetry from "p-retry"
import { type Client, get, isRetryable, settings } from "./resilience-http.ts"

/**
 * @since 0.1.0
 * @category constructors
 */
export const make = (): Client => {
  const limit = pLimit(settings.concurrency)
  return (url) =>
    pRetry(() => limit(() => get(url, AbortSignal.timeout(settings.attemptTimeoutMs))), {
      retries: settings.retries,
      minTimeout: settings.backoffBaseMs,
      factor: settings.backoffFactor,
      maxTimeout: settings.backoffCapMs,
      randomize: true,
      shouldRetry: ({ error }) => isRetryable(error)
    }).then(() => "ok" as const, () => "gave-up" as const)
}
