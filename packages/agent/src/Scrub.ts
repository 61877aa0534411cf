/**
 * The one place that turns what an upstream said into what Hybrid shows: the HTTP
 * status, Hybrid's classification, and at most ~200 characters of the provider's
 * message with anything that looks like a credential removed.
 *
 * Every surface goes through it — the CLI's stdout and stderr, `serve` error bodies,
 * batch output and journal, logs, span status and attributes — so that an LLM proxy
 * whose 401 message echoes the `Authorization` header, or a base URL written as
 * `http://user:KEY@host`, cannot put a key anywhere a user, a log collector or an HTTP
 * client can read it.
 *
 * What is removed (each replaced by `[redacted]`):
 *
 * - the configured secrets (`Scrub.make({ secrets })`, e.g. `OPENAI_API_KEY`) **and every
 *   prefix of them of at least 6 characters** — a provider that echoes a truncated key,
 *   or a message cut at 200 characters in the middle of one, leaks no part worth having;
 * - the value of `Authorization`, `Proxy-Authorization`, `api-key`, `x-api-key` and
 *   similar headers, as `Name: value`, `"name": "value"` or `name=value`;
 * - `Bearer …` / `Basic …` credentials wherever they appear;
 * - `sk-…` / `sk_…` style tokens (OpenAI, Anthropic, Stripe-like keys);
 * - the `user:password@` of any URL (removed, not replaced: URLs are shown without
 *   userinfo) and credential-like query parameters (`api_key=`, `key=`, `token=`,
 *   `access_token=`, `password=`, `secret=`, `sig=`…).
 *
 * Control characters (ANSI escapes included) become spaces — and, in a one-line message
 * (`text`, `error`), newlines too and runs of whitespace one space — so a hostile
 * upstream cannot redraw the user's terminal or forge log lines.
 *
 * The module is pure: no services, no I/O, no global state. Build a `Scrubber` once with
 * the secrets the process holds, pass it to whatever renders errors.
 *
 * Gotchas:
 * - `text` and `error` work on the first `scanChars` (default 4,096) characters only — an
 *   upstream's 10 MB error page costs nothing — and `text` then cuts to `maxChars`; a
 *   secret cut at the scan boundary is still removed by the prefix rule. `all` scrubs the
 *   whole input (linear time) and keeps its layout: use it for Hybrid's own output that
 *   may embed upstream text (an answer, a JSON document).
 * - Patterns err on the side of removing: a word that happens to equal the first 6
 *   characters of the configured key is redacted too.
 * - A secret shorter than 6 characters is matched whole only (a prefix that short would
 *   redact ordinary words).
 *
 * @example
 * ```ts
 * import { Scrub } from "@hybrid/agent"
 *
 * const scrub = Scrub.make({ secrets: ["sk-test-1234567890abcdef"] })
 * scrub.text("401: bad key sk-test-1234567890abcdef (header Authorization: Bearer sk-test-1234567890abcdef)")
 * // "401: bad key [redacted] (header Authorization: [redacted])"
 * Scrub.url("http://user:hunter2@llm.example/v1?api_key=abc")
 * // "http://llm.example/v1?api_key=[redacted]"
 * scrub.format(scrub.failure({ status: 401, kind: "unauthorized", message: "Incorrect API key provided: sk-test-1234…" }))
 * // "HTTP 401 (unauthorized): Incorrect API key provided: [redacted]…"
 * ```
 *
 * @since 0.1.0
 */
import { Predicate, Redacted } from "effect"
import { Options as Check } from "@hybrid/core"

// --- models ------------------------------------------------------------------------------

/**
 * What replaces a credential.
 *
 * @example
 * ```ts
 * import { Scrub } from "@hybrid/agent"
 *
 * Scrub.make().text("token sk-abcdefghijklmnop").includes(Scrub.marker) // true
 * ```
 *
 * @since 0.1.0
 * @category constants
 */
export const marker = "[redacted]"

/**
 * An upstream failure as Hybrid received it: the HTTP status when there was an answer,
 * Hybrid's classification (`"status"`, `"timeout"`, `"too-large"`, `"decode"`,
 * `"transport"`, `"unauthorized"`…) and whatever text the provider or the transport gave.
 *
 * @example
 * ```ts
 * import type { Scrub } from "@hybrid/agent"
 *
 * const failure: Scrub.Failure = { status: 503, kind: "status", message: "upstream overloaded" }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Failure {
  readonly status?: number | undefined
  readonly kind: string
  readonly message?: string | undefined
}

/**
 * A failure as Hybrid shows it: the same fields, `message` scrubbed and cut.
 *
 * @example
 * ```ts
 * import { Scrub } from "@hybrid/agent"
 *
 * const shown: Scrub.Shown = Scrub.make().failure({ kind: "timeout", message: "no answer within 5000 ms" })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Shown {
  readonly status: number | undefined
  readonly kind: string
  readonly message: string
}

/**
 * The options of `make`: the secrets to remove, and how much of a message is looked at and
 * kept.
 *
 * @example
 * ```ts
 * import { Redacted } from "effect"
 * import { Scrub } from "@hybrid/agent"
 *
 * Scrub.make({ secrets: [Redacted.make("sk-live-abcdef123456"), undefined], maxChars: 120 })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The secrets this process holds (the configured API keys). `undefined` entries are skipped. */
  readonly secrets?: ReadonlyArray<string | Redacted.Redacted<string> | undefined> | undefined
  /** Characters of a provider's message kept. Default 200. */
  readonly maxChars?: number | undefined
  /** Characters of the input looked at. Default 4,096. */
  readonly scanChars?: number | undefined
}

/**
 * Scrubbing with a given set of secrets.
 *
 * @example
 * ```ts
 * import { Scrub } from "@hybrid/agent"
 *
 * const scrub: Scrub.Scrubber = Scrub.make({ secrets: ["sk-abcdefgh12345678"] })
 * scrub.error(new Error("proxy said: Authorization: Bearer sk-abcdefgh12345678"))
 * // { _tag: "Error", message: "proxy said: Authorization: [redacted]" }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Scrubber {
  /** Any text from outside (a provider's message, an error's message): one line, scrubbed, cut to `maxChars`. */
  readonly text: (input: string) => string
  /** The whole of `input`, scrubbed, its lines and spacing kept (control characters but newlines and tabs become spaces): for Hybrid's own output that embeds upstream text. */
  readonly all: (input: string) => string
  /** An upstream failure as shown. */
  readonly failure: (failure: Failure) => Shown
  /** `HTTP 401 (unauthorized): message`, `timeout: message`. */
  readonly format: (shown: Shown) => string
  /** Any thrown or failed value as `{ _tag, message }`: one line, scrubbed, the first `scanChars` of the message (Hybrid's own messages can be longer than `maxChars`). */
  readonly error: (error: unknown) => { readonly _tag: string; readonly message: string }
}

// --- patterns ----------------------------------------------------------------------------

/** Shorter prefixes of a secret are not matched (they would redact ordinary words). */
const minPrefix = 6

const headerNames = String.raw`(?:proxy-)?authorization|x-api-key|api[-_]?key|x-goog-api-key|openai-api-key|anthropic-api-key|x-auth-token|cookie|set-cookie`

/** `Authorization: Bearer x`, `"api-key": "x"`, `api_key=x`: keep the name, drop the value. */
const headerValue = new RegExp(
  String.raw`\b(${headerNames})(["']?\s*[:=]\s*["']?)(?!(?:(?:bearer|basic|token|digest)\s+)?\[redacted\])(?:(?:bearer|basic|token|digest)\s+)?[^\s"',;&}\]]+`,
  "gi"
)

/** A scheme credential anywhere. */
const schemeCredential = /\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{6,}/gi

/** `sk-…` / `sk_…` style keys (with the `*` some providers mask them with). */
const skToken = /\b(?:sk|rk|pk)[-_][A-Za-z0-9_*-]{6,}/g

/** The userinfo of a URL. */
const userinfo = /\b([a-z][a-z0-9+.-]*:\/\/)[^\s/?#@]*@/gi

/** Credential-like query parameters. */
const queryCredential = /([?&;](?:api[-_]?key|key|token|access[-_]?token|auth|password|passwd|secret|sig|signature|client[-_]?secret)=)[^&\s"'#]+/gi

/** C0/C1 control characters but tab and newline (ANSI escapes start with ESC). */
const controls = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]+/g

/** Replaces every occurrence of a prefix (≥ `minPrefix`, or the whole of a short secret) of `secret`. */
const removeSecret = (text: string, secret: string): string => {
  const head = secret.slice(0, Math.min(secret.length, minPrefix))
  if (head.length === 0) return text
  let out = ""
  let from = 0
  for (let at = text.indexOf(head); at !== -1; at = text.indexOf(head, from)) {
    let n = head.length
    while (at + n < text.length && n < secret.length && text[at + n] === secret[n]) n++
    out += text.slice(from, at) + marker
    from = at + n
  }
  return out + text.slice(from)
}

const cut = (text: string, max: number): string => (text.length <= max ? text : `${text.slice(0, Math.max(0, max - 1))}…`)

// --- pure functions ----------------------------------------------------------------------

/**
 * A URL without its userinfo and with credential-like query parameters redacted. Text
 * that is not a URL is scrubbed with the same patterns as `Scrubber.text` (no secrets).
 *
 * @example
 * ```ts
 * import { Scrub } from "@hybrid/agent"
 *
 * Scrub.url("https://bob:s3cret@api.example.com/v1/chat?key=abc&model=x")
 * // "https://api.example.com/v1/chat?key=[redacted]&model=x"
 * ```
 *
 * @since 0.1.0
 * @category scrubbing
 */
export const url = (input: string): string => {
  try {
    const parsed = new URL(input)
    parsed.username = ""
    parsed.password = ""
    return parsed.href.replace(queryCredential, `$1${marker}`)
  } catch {
    return oneLine(scrubPatterns(input))
  }
}

/** The patterns every scrub applies, secrets aside; the layout is kept. */
const scrubPatterns = (text: string): string =>
  text
    .replace(controls, " ")
    .replace(userinfo, "$1")
    .replace(queryCredential, `$1${marker}`)
    .replace(headerValue, `$1$2${marker}`)
    .replace(schemeCredential, `$1 ${marker}`)
    .replace(skToken, marker)

/** One line: runs of whitespace (newlines included) become one space. */
const oneLine = (text: string): string => text.replace(/\s+/g, " ").trim()

/**
 * Builds a `Scrubber` for `options.secrets`. Bad `maxChars` / `scanChars` throw a
 * `InvalidOption` (a programming error, at construction).
 *
 * @example
 * ```ts
 * import { Scrub } from "@hybrid/agent"
 *
 * const scrub = Scrub.make({ secrets: [process.env["OPENAI_API_KEY"]] })
 * scrub.text("request to http://me:pw@proxy/v1 failed") // "request to http://proxy/v1 failed"
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options = {}): Scrubber => {
  const maxChars = Check.integer("Scrub.make", "maxChars", options.maxChars ?? 200)
  const scanChars = Math.max(maxChars, Check.integer("Scrub.make", "scanChars", options.scanChars ?? 4_096))
  // longest first, so a secret that extends another is removed whole
  const secrets = (options.secrets ?? [])
    .filter(Predicate.isNotUndefined)
    .map((s) => (Redacted.isRedacted(s) ? Redacted.value(s) : s))
    .filter((s) => s.length > 0)
    .sort((a, b) => b.length - a.length)

  const removeSecrets = (text: string): string => secrets.reduce(removeSecret, text)
  // secrets first: the patterns may reshape the text around them; and once more after
  // them, as a pattern may have joined a secret's pieces again
  const all = (input: string): string => removeSecrets(scrubPatterns(removeSecrets(input)))
  /** One line, of the first `scanChars` characters. */
  const bounded = (input: string): string =>
    input.length > scanChars ? `${oneLine(all(input.slice(0, scanChars)))}…` : oneLine(all(input))
  const text = (input: string): string => cut(bounded(input), maxChars)

  const failure = (f: Failure): Shown => ({
    status: f.status,
    kind: text(f.kind),
    message: f.message === undefined ? "" : text(f.message)
  })

  const format = (shown: Shown): string => {
    const head = shown.status === undefined ? shown.kind : `HTTP ${shown.status} (${shown.kind})`
    return shown.message === "" ? head : `${head}: ${shown.message}`
  }

  const error = (e: unknown): { readonly _tag: string; readonly message: string } => {
    const tag = Predicate.hasProperty(e, "_tag") && typeof e._tag === "string"
      ? e._tag
      : e instanceof Error
      ? e.name
      : typeof e
    const message = Predicate.hasProperty(e, "message") && typeof e.message === "string"
      ? e.message
      : typeof e === "string"
      ? e
      : safeJson(e)
    return { _tag: cut(bounded(tag), 100), message: bounded(message) }
  }

  return { text, all, failure, format, error }
}

const safeJson = (value: unknown): string => {
  try {
    return JSON.stringify(value) ?? String(value)
  } catch {
    return String(value)
  }
}

/**
 * The scrubber without configured secrets (the patterns alone).
 *
 * @example
 * ```ts
 * import { Scrub } from "@hybrid/agent"
 *
 * Scrub.patterns.text("Authorization: Bearer abcdefgh") // "Authorization: [redacted]"
 * ```
 *
 * @since 0.1.0
 * @category constants
 */
export const patterns: Scrubber = make()
