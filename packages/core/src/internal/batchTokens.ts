/**
 * Token counts for `Batch`: the BPE estimate of a request before the call, and the usage
 * its response reports after it (the budget itself is `Limit.rate`'s reserve/reconcile).
 */
import { Effect, Predicate } from "effect"

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
