/**
 * Token budgets for `Batch`: the BPE estimate of a request, and a tokens-per-minute ledger
 * that reserves before a call and is reconciled after it (refund or charge).
 *
 * The ledger is a sliding-window log, like `Limit.rate`'s default, plus what neither
 * `Limit.rate` nor Effect's `RateLimiter` has: changing an entry after the fact (a refund
 * shrinks the reservation in place; an overrun is charged as a new entry).
 */
import { Clock, Effect, Predicate, Semaphore } from "effect"
import { CostExceedsLimit } from "../Limit.ts"

/** @internal */
export type Encoding = "o200k_base" | "cl100k_base"

type Count = (text: string) => number

const loaded = new Map<Encoding, Promise<Count>>()

/** Loads a BPE encoder (once): gpt-tokenizer's bundled ranks, no download. */
export const encoder = (encoding: Encoding): Effect.Effect<Count> =>
  Effect.promise(() => {
    let pending = loaded.get(encoding)
    if (pending === undefined) {
      const options = { disallowedSpecial: new Set<string>() }
      pending = (encoding === "cl100k_base"
        ? import("gpt-tokenizer/encoding/cl100k_base")
        : import("gpt-tokenizer/encoding/o200k_base")).then((m) => (text: string) => m.countTokens(text, options))
      loaded.set(encoding, pending)
    }
    return pending
  })

const numberField = (value: unknown, key: string): number | undefined =>
  Predicate.hasProperty(value, key) && typeof value[key] === "number" && Number.isFinite(value[key])
    ? value[key]
    : undefined

/**
 * The tokens a request will cost, as the OpenAI cookbook estimates it, with a real BPE:
 * chat `messages` (4 tokens per message + its fields, + 2 for the reply's priming), or
 * `input` / `prompt` (string or strings), or the request's JSON text; plus the completion
 * tokens it may use (`max_tokens` / `max_completion_tokens`, × `n`).
 */
export const estimate = (count: Count, request: unknown): number => {
  let prompt = 0
  const messages = Predicate.hasProperty(request, "messages") ? request.messages : undefined
  const textual = (v: unknown): Array<string> =>
    typeof v === "string" ? [v] : Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : []
  if (Array.isArray(messages)) {
    for (const message of messages) {
      prompt += 4
      for (const key of ["role", "name", "content"]) {
        const field = Predicate.hasProperty(message, key) ? message[key] : undefined
        if (typeof field === "string") prompt += count(field)
        else if (field !== undefined && field !== null) prompt += count(JSON.stringify(field))
      }
    }
    prompt += 2
  } else {
    const input = Predicate.hasProperty(request, "input") ? request.input : Predicate.hasProperty(request, "prompt") ? request.prompt : undefined
    const texts = textual(input)
    prompt = texts.length > 0 ? texts.reduce((sum, t) => sum + count(t), 0) : count(JSON.stringify(request) ?? "")
  }
  const completion = numberField(request, "max_completion_tokens") ?? numberField(request, "max_tokens") ?? 0
  const n = numberField(request, "n") ?? 1
  return prompt + completion * Math.max(1, n)
}

/**
 * The tokens a response says it used: `usage.total_tokens`, or `usage.prompt_tokens +
 * usage.completion_tokens` (OpenAI), or `usage.input_tokens + usage.output_tokens`.
 */
export const reportedUsage = (response: unknown): number | undefined => {
  const usage = Predicate.hasProperty(response, "usage") ? response.usage : undefined
  const total = numberField(usage, "total_tokens")
  if (total !== undefined) return total
  const a = numberField(usage, "prompt_tokens") ?? numberField(usage, "input_tokens")
  const b = numberField(usage, "completion_tokens") ?? numberField(usage, "output_tokens")
  return a === undefined && b === undefined ? undefined : (a ?? 0) + (b ?? 0)
}

/** @internal */
export interface Reservation {
  readonly at: number
  tokens: number
}

/** @internal */
export interface Ledger {
  readonly limit: number
  /** Waits until `tokens` fit in the window, then records them. */
  readonly reserve: (tokens: number) => Effect.Effect<Reservation, CostExceedsLimit>
  /** Sets a reservation's cost to what was really used: a refund, or a charge of the overrun. */
  readonly reconcile: (reservation: Reservation, used: number) => Effect.Effect<void>
  /** Tokens counted in the window that ends now. */
  readonly inWindow: Effect.Effect<number>
}

/** A tokens-per-`window` ledger, admitting reservations one at a time in arrival order. */
export const ledger = (limit: number, window: number): Effect.Effect<Ledger> =>
  Effect.map(Semaphore.make(1), (turn) => {
    const log: Array<Reservation> = []
    const prune = (now: number) => {
      while (log.length > 0 && log[0]!.at <= now - window) log.shift()
    }
    const used = () => log.reduce((sum, r) => sum + r.tokens, 0)
    const admit = (tokens: number): Effect.Effect<Reservation> =>
      Effect.gen(function*() {
        while (true) {
          const now = yield* Clock.currentTimeMillis
          prune(now)
          let inUse = used()
          if (inUse + tokens <= limit) {
            const reservation: Reservation = { at: now, tokens }
            log.push(reservation)
            return reservation
          }
          let until = now
          for (const r of log) {
            inUse -= r.tokens
            until = r.at + window
            if (inUse + tokens <= limit) break
          }
          // wake at least every second: a refund may make room sooner
          yield* Effect.sleep(Math.max(1, Math.min(until - now, 1_000)))
        }
      })
    return {
      limit,
      reserve: (tokens) =>
        tokens > limit || !(tokens >= 0)
          ? Effect.fail(new CostExceedsLimit({ cost: tokens, limit }))
          : Semaphore.withPermit(turn, admit(tokens)),
      reconcile: (reservation, actual) =>
        Effect.flatMap(Clock.currentTimeMillis, (now) =>
          Effect.sync(() => {
            if (actual <= reservation.tokens) {
              reservation.tokens = Math.max(0, actual)
            } else {
              const overrun = actual - reservation.tokens
              if (log.includes(reservation)) reservation.tokens = actual
              else log.push({ at: now, tokens: overrun })
            }
          })),
      inWindow: Effect.map(Clock.currentTimeMillis, (now) => {
        prune(now)
        return used()
      })
    }
  })
