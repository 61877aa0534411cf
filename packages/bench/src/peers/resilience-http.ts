/**
 * What the three clients of the `resilience` scenario share: the settings they are all
 * given, one HTTP GET over Node's `fetch` (undici) that turns every failure into one
 * `CallError` class, and the two classifications every client applies the same way —
 * which failures are worth retrying, and which count against the circuit breaker.
 *
 * @since 0.1.0
 */

/**
 * The comparable settings: each client expresses these with its own mechanisms.
 *
 * @since 0.1.0
 * @category constants
 */
export const settings = {
  /** Retries after the first attempt. */
  retries: 3,
  /** First backoff step, growth, cap (ms); full jitter where the library offers it. */
  backoffBaseMs: 50,
  backoffFactor: 2,
  backoffCapMs: 1_000,
  /** Per attempt. */
  attemptTimeoutMs: 100,
  /** Consecutive failures (5xx, timeouts, connection errors) that open the circuit. */
  breakerFailures: 5,
  breakerOpenMs: 500,
  /** Requests in flight: a fixed limit for the peers, the starting point of Hybrid's adaptive one. */
  concurrency: 16,
  /** Bounds of Hybrid's adaptive limit. */
  adaptiveMin: 2,
  adaptiveMax: 64
} as const

/**
 * Why one attempt failed. `status` is the HTTP status (0 for a timeout or a connection
 * error); `retryAfter` the wait a 429/503 asked for, in milliseconds.
 *
 * @since 0.1.0
 * @category errors
 */
export class CallError extends Error {
  readonly kind: "status" | "timeout" | "connection"
  readonly status: number
  readonly retryAfterMs: number | undefined
  constructor(kind: CallError["kind"], status: number, retryAfterMs?: number) {
    super(kind === "status" ? `HTTP ${status}` : kind)
    this.name = "CallError"
    this.kind = kind
    this.status = status
    this.retryAfterMs = retryAfterMs
  }
}

/** `retry-after-ms`, else `retry-after` in seconds, as openai-node reads them. */
const retryAfterOf = (headers: Headers): number | undefined => {
  const ms = Number(headers.get("retry-after-ms") ?? Number.NaN)
  if (Number.isFinite(ms) && ms > 0) return ms
  const seconds = Number(headers.get("retry-after") ?? Number.NaN)
  return Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : undefined
}

/**
 * One attempt: GET `url`, read the body, parse it. Rejects with a `CallError`; aborting
 * `signal` (a timeout, an interruption) rejects with kind `"timeout"`.
 *
 * @since 0.1.0
 * @category http
 */
export const get = async (url: string, signal: AbortSignal): Promise<unknown> => {
  let response: Response
  try {
    response = await fetch(url, { signal })
  } catch (error) {
    throw signal.aborted ? new CallError("timeout", 0) : new CallError("connection", 0)
  }
  let text: string
  try {
    text = await response.text()
  } catch {
    throw signal.aborted ? new CallError("timeout", 0) : new CallError("connection", response.status)
  }
  if (!response.ok) throw new CallError("status", response.status, retryAfterOf(response.headers))
  return JSON.parse(text)
}

/**
 * Worth another attempt: connection errors, timeouts, 408, 429 and 5xx.
 *
 * @since 0.1.0
 * @category predicates
 */
export const isRetryable = (error: unknown): boolean =>
  error instanceof CallError &&
  (error.kind !== "status" || error.status === 408 || error.status === 429 || error.status >= 500)

/**
 * Counts against the circuit: connection errors, timeouts, 5xx — not 429, which says
 * "slow down", not "I am broken".
 *
 * @since 0.1.0
 * @category predicates
 */
export const isBreakerFailure = (error: unknown): boolean =>
  error instanceof CallError && (error.kind !== "status" || error.status >= 500)

/**
 * How one logical call ended: a 200, an open circuit that refused it, or a failure the
 * client gave up on (retries spent, or not worth retrying).
 *
 * @since 0.1.0
 * @category models
 */
export type Outcome = "ok" | "circuit-open" | "gave-up"

/**
 * A client of the scenario: makes one logical call (all its attempts). Never rejects.
 *
 * @since 0.1.0
 * @category models
 */
export type Client = (url: string) => Promise<Outcome>
