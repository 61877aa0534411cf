import { assert, describe, it } from "@effect/vitest"
import { Redacted, Schema } from "effect"
import { Scrub } from "@hybrid/agent"

const key = "sk-proj-Zq9xT4mLw2Rb7Kc1Vn8Hs3Jd"
const scrub = Scrub.make({ secrets: [Redacted.make(key)] })

/** Every prefix of `secret` of at least 6 characters. */
const prefixes = (secret: string) => Array.from({ length: secret.length - 5 }, (_, i) => secret.slice(0, i + 6))

const assertNoSecret = (text: string, secret: string) => {
  for (const p of prefixes(secret)) assert.notInclude(text, p, `"${p}" leaked in: ${text}`)
}

describe("Scrub", () => {
  it("removes the configured key, whole or any prefix of 6+ characters, however it is quoted", () => {
    const cases = [
      `Incorrect API key provided: ${key}.`,
      `bad key ${key.slice(0, 12)}…`,
      `{"error":{"message":"key ${key} revoked"}}`,
      `key=${key}&x=1`,
      `${key}${key}`
    ]
    for (const c of cases) {
      const out = scrub.text(c)
      assertNoSecret(out, key)
      assert.include(out, Scrub.marker)
    }
    // ordinary text is kept as it was
    assert.strictEqual(scrub.text("model gpt-4o-mini is overloaded"), "model gpt-4o-mini is overloaded")
  })

  it("removes Authorization / api-key header values, Bearer and Basic credentials, sk- tokens", () => {
    const other = "c3VwZXJzZWNyZXQtdG9rZW4tdmFsdWU"
    const cases: ReadonlyArray<readonly [string, string]> = [
      [`Authorization: Bearer ${other}`, "Authorization: [redacted]"],
      [`got headers {"authorization":"Bearer ${other}","accept":"*/*"}`, `got headers {"authorization":"[redacted]","accept":"*/*"}`],
      [`api-key: ${other}`, "api-key: [redacted]"],
      [`x-api-key=${other};`, "x-api-key=[redacted];"],
      [`Proxy-Authorization: Basic ${other}`, "Proxy-Authorization: [redacted]"],
      [`token was Bearer ${other}`, "token was Bearer [redacted]"],
      ["use sk-ant-api03-abcdefghijklmnop instead", "use [redacted] instead"],
      ["Incorrect API key provided: sk-proj-********************wxyz.", "Incorrect API key provided: [redacted]."]
    ]
    for (const [input, expected] of cases) assert.strictEqual(Scrub.patterns.text(input), expected)
    // idempotent: scrubbing twice changes nothing
    for (const [input] of cases) {
      const once = scrub.text(input)
      assert.strictEqual(scrub.text(once), once)
    }
  })

  it("prints URLs without userinfo and with credential query parameters redacted", () => {
    assert.strictEqual(Scrub.url(`http://user:${key}@127.0.0.1:8080/v1`), "http://127.0.0.1:8080/v1")
    assert.strictEqual(Scrub.url("https://api.example.com/v1?api_key=abc123&model=m"), "https://api.example.com/v1?api_key=[redacted]&model=m")
    assert.strictEqual(Scrub.url("not a url, but http://a:b@host/x"), "not a url, but http://host/x")
    const inText = scrub.text(`connect ECONNREFUSED for http://bob:${key}@llm.internal/v1/chat/completions`)
    assert.strictEqual(inText, "connect ECONNREFUSED for http://llm.internal/v1/chat/completions")
  })

  it("cuts a provider's message to maxChars, scanning a bounded prefix only; control characters become spaces", () => {
    const long = `${"x".repeat(5_000_000)} ${key}`
    const out = scrub.text(long)
    // only a bounded prefix is looked at: the rest cannot change the result
    assert.strictEqual(out, scrub.text(long.slice(0, 5_000)))
    assert.isAtMost(out.length, 200)
    assert.isTrue(out.endsWith("…"))
    // a key cut at the scan boundary still leaves no prefix behind
    const atBoundary = `${"y".repeat(4_090)}${key}`
    const s = Scrub.make({ secrets: [key], maxChars: 10_000 })
    assertNoSecret(s.text(atBoundary), key)
    assert.strictEqual(Scrub.patterns.text("a\u001b[2J\u001b[Hb\r\nc\u0000d"), "a [2J [Hb c d")
  })

  it("all: the whole text scrubbed, its lines and spacing kept (for answers and JSON documents)", () => {
    const text = `line one\n  Authorization: Bearer ${key}\n{"a":  1}\t\u001b[31mred`
    assert.strictEqual(scrub.all(text), `line one\n  Authorization: Bearer [redacted]\n{"a":  1}\t [31mred`)
    const long = `${"z".repeat(10_000)} ${key}`
    assert.strictEqual(scrub.all(long), `${"z".repeat(10_000)} [redacted]`)
  })

  it("failure and format: status, classification, scrubbed message", () => {
    const shown = scrub.failure({ status: 401, kind: "unauthorized", message: `proxy: invalid Authorization: Bearer ${key}` })
    assert.deepStrictEqual(shown, { status: 401, kind: "unauthorized", message: "proxy: invalid Authorization: Bearer [redacted]" })
    assert.strictEqual(scrub.format(shown), "HTTP 401 (unauthorized): proxy: invalid Authorization: Bearer [redacted]")
    assert.strictEqual(scrub.format(scrub.failure({ kind: "timeout" })), "timeout")
  })

  it("error: any failure value as { _tag, message }, scrubbed", () => {
    assert.deepStrictEqual(scrub.error(new Error(`boom ${key}`)), { _tag: "Error", message: "boom [redacted]" })
    assert.deepStrictEqual(scrub.error({ _tag: "Nope", message: "no" }), { _tag: "Nope", message: "no" })
    assert.deepStrictEqual(scrub.error("plain"), { _tag: "string", message: "plain" })
    assert.deepStrictEqual(scrub.error({ api_key: key }), { _tag: "object", message: `{"api_key":"[redacted]"}` })
  })

  it("rejects a bad maxChars at construction", () => {
    assert.throws(() => Scrub.make({ maxChars: 0 }), /maxChars/)
  })

  const Noise = Schema.String.check(Schema.isMaxLength(300))
  const Secret = Schema.String.check(Schema.isPattern(/^[A-Za-z0-9_-]{12,64}$/))

  it.prop(
    "no prefix of 6+ characters of a configured secret survives, wherever it is put",
    { before: Noise, after: Noise, secret: Secret, cut: Schema.Int.check(Schema.isBetween({ minimum: 6, maximum: 64 })) },
    ({ after, before, cut, secret }) => {
      const s = Scrub.make({ secrets: [secret] })
      const piece = secret.slice(0, cut)
      const out = s.text(`${before}${piece}${after} Authorization: Bearer ${secret}`)
      assertNoSecret(out, secret)
    },
    { arbitrary: { runs: 200 } }
  )
})
