/**
 * The HTTP boundary against hostile upstreams on 127.0.0.1 (plain `node:http` servers, so
 * they can reset sockets, lie about lengths and send forever): response caps enforced
 * while streaming, a body broken off vs a body that does not decode, and errors that
 * hold nothing a provider echoed of a credential.
 */
import { execFile } from "node:child_process"
import { createServer, type IncomingMessage, type ServerResponse } from "node:http"
import type { AddressInfo } from "node:net"
import { fileURLToPath } from "node:url"
import { inspect } from "node:util"
import { assert, describe, it } from "@effect/vitest"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { Cause, ConfigProvider, Effect, Exit, Layer, Schema, type Scope, Stream } from "effect"
import type { AiError } from "effect/ai"
import { HttpClient, HttpClientRequest } from "effect/http"
import { FixtureData, OpenAi, Query, Source, Upstream, Weather } from "@hybrid/agent"

type Env = Readonly<Record<string, string>>
type Handler = (req: IncomingMessage, res: ServerResponse, n: number) => void

/** A raw HTTP server on 127.0.0.1 calling `handler` with the request's number (from 0); closed with the scope. */
const hostile = (handler: Handler) =>
  Effect.acquireRelease(
    Effect.promise(() =>
      new Promise<{ readonly url: string; readonly count: () => number; readonly close: () => Promise<void> }>((resolve) => {
        let count = 0
        const server = createServer((req, res) => {
          res.on("error", () => {})
          handler(req, res, count++)
        })
        server.listen(0, "127.0.0.1", () =>
          resolve({
            url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
            count: () => count,
            close: () =>
              new Promise<void>((done) => {
                server.closeAllConnections()
                server.close(() => done())
              })
          }))
      })
    ),
    (server) => Effect.promise(server.close)
  )

/** Writes `chunk` again and again (waiting for drain) until `limit` bytes or the client goes away; `sent` counts. */
const pump = (res: ServerResponse, chunk: Buffer, sent: { bytes: number; closed: boolean }, limit = Number.POSITIVE_INFINITY) => {
  res.on("close", () => {
    sent.closed = true
  })
  const write = () => {
    while (!sent.closed && sent.bytes < limit) {
      sent.bytes += chunk.length
      if (!res.write(chunk)) return void res.once("drain", write)
    }
    if (!sent.closed) res.end()
  }
  write()
}

const MiB = 1024 * 1024

const client = HttpClient.HttpClient

const City = Schema.Struct({ city: Schema.String })

const upstreamFailure = <A>(exit: Exit.Exit<A, Upstream.UpstreamError>): Upstream.UpstreamError => {
  if (Exit.isSuccess(exit)) return assert.fail("expected an UpstreamError")
  const found = exit.cause.reasons.find(Cause.isFailReason)
  return found === undefined ? assert.fail(`expected a failure, got ${Cause.pretty(exit.cause)}`) : found.error
}

const config = (env: Env) => ConfigProvider.layer(ConfigProvider.fromEnv({ env }))

const live = <A, E>(name: string, body: () => Effect.Effect<A, E, Scope.Scope | HttpClient.HttpClient>, timeout = 20_000) =>
  it.live(name, () => Effect.scoped(body()).pipe(Effect.provide(NodeHttpClient.layerUndici)), timeout)

/** A weather source at `url` with `retries` and an env of its own. */
const weatherAt = (url: string, env: Env = {}) =>
  Source.make(Weather.source).pipe(
    Effect.provide(config({ HYBRID_WEATHER_URL: url, HYBRID_WEATHER_RETRY_BASE: "10 millis", ...env }))
  )

const lisbon = Query.make("the weather in Lisbon")

/** Every way a user's code might print an error. */
const printed = (error: unknown): string =>
  [String(error), JSON.stringify(error), inspect(error, { depth: 10 }), Cause.pretty(Cause.fail(error))].join("\n")

describe("Upstream: response caps, enforced while streaming", () => {
  live("an endless body fails with too-large at the cap; the server is cut off long before it is done", () =>
    Effect.gen(function*() {
      const sent = { bytes: 0, closed: false }
      const server = yield* hostile((_req, res) => {
        res.writeHead(200, { "content-type": "application/json" })
        res.write(`{"city":"`)
        pump(res, Buffer.alloc(64 * 1024, "a"), sent, 200 * MiB)
      })
      const http = yield* client
      const error = upstreamFailure(yield* Effect.exit(Upstream.json(http, HttpClientRequest.get(`${server.url}/weather`), City, { maxBytes: MiB })))
      assert.strictEqual(error.kind, "too-large")
      assert.strictEqual(error.maxBytes, MiB)
      assert.isAbove(error.bytes ?? 0, MiB)
      assert.isAtMost(error.bytes ?? 0, MiB + 256 * 1024) // stopped at the chunk that passed the cap
      assert.include(error.detail, "1 MiB cap")
      // the connection was closed: the server stopped writing long before its 200 MB
      yield* Effect.promise(() => waitFor(() => sent.closed))
      assert.isBelow(sent.bytes, 32 * MiB)
    }))

  live("a Content-Length over the cap fails at once, before a byte of the body is read", () =>
    Effect.gen(function*() {
      let closed = false
      const server = yield* hostile((_req, res) => {
        res.writeHead(200, { "content-type": "application/json", "content-length": String(1_000_000_000) })
        res.flushHeaders()
        res.on("close", () => {
          closed = true
        }) // and never writes the body: a reader that waited for it would hang
      })
      const http = yield* client
      const exit = yield* Upstream.json(http, HttpClientRequest.get(server.url), City, { maxBytes: MiB }).pipe(
        Effect.timeout("5 seconds"),
        Effect.exit
      )
      if (Exit.isFailure(exit) && Cause.hasFails(exit.cause) && Cause.squash(exit.cause) instanceof Upstream.UpstreamError) {
        const error = Cause.squash(exit.cause) as Upstream.UpstreamError
        assert.strictEqual(error.kind, "too-large")
        assert.strictEqual(error.bytes, 0)
        assert.include(error.detail, "Content-Length 1000000000")
      } else assert.fail(`expected too-large, got ${Exit.isFailure(exit) ? Cause.pretty(exit.cause) : "a success"}`)
      yield* Effect.promise(() => waitFor(() => closed)) // the connection is released
    }))

  live("a body of exactly the cap is read whole", () =>
    Effect.gen(function*() {
      const city = "x".repeat(1000 - `{"city":""}`.length)
      const server = yield* hostile((_req, res) => {
        res.writeHead(200, { "content-type": "application/json" })
        res.end(JSON.stringify({ city }))
      })
      const http = yield* client
      const body = yield* Upstream.json(http, HttpClientRequest.get(server.url), City, { maxBytes: 1000 })
      assert.strictEqual(body.city.length, city.length)
      const over = upstreamFailure(yield* Effect.exit(Upstream.json(http, HttpClientRequest.get(server.url), City, { maxBytes: 999 })))
      assert.strictEqual(over.kind, "too-large")
    }))

  live("an endless event stream fails with too-large once its events pass the cap", () =>
    Effect.gen(function*() {
      const sent = { bytes: 0, closed: false }
      const server = yield* hostile((_req, res) => {
        res.writeHead(200, { "content-type": "text/event-stream" })
        pump(res, Buffer.from(`data: ${JSON.stringify({ delta: "word ".repeat(50) })}\n\n`), sent)
      })
      const http = yield* client
      let received = 0
      const exit = yield* Effect.exit(Effect.scoped(Effect.gen(function*() {
        const events = yield* Upstream.events(http, HttpClientRequest.post(server.url), Schema.Struct({ delta: Schema.String }), { maxBytes: 256 * 1024 })
        yield* Stream.runForEach(events, (e) => Effect.sync(() => {
          received += e.delta.length
        }))
      })))
      const error = upstreamFailure(exit)
      assert.strictEqual(error.kind, "too-large")
      assert.isAbove(received, 0)
      assert.isBelow(received, 256 * 1024)
      yield* Effect.promise(() => waitFor(() => sent.closed))
    }))

  live("an error answer with an endless body: kind status at once, 64 KiB of it read for the message, then cut off", () =>
    Effect.gen(function*() {
      const sent = { bytes: 0, closed: false }
      const server = yield* hostile((_req, res) => {
        res.writeHead(503, { "content-type": "text/plain", "retry-after": "1" })
        res.write("overloaded, try later. ")
        pump(res, Buffer.alloc(16 * 1024, "x"), sent, 200 * MiB)
      })
      const http = yield* client
      const error = upstreamFailure(yield* Effect.exit(Upstream.json(http, HttpClientRequest.get(server.url), City)))
      assert.strictEqual(error.kind, "status")
      assert.strictEqual(error.status, 503)
      assert.isTrue(error.serverMessage?.startsWith("overloaded, try later."))
      assert.isAtMost(error.serverMessage?.length ?? 0, 200)
      yield* Effect.promise(() => waitFor(() => sent.closed))
      assert.isBelow(sent.bytes, 32 * MiB)
    }))

  live("a source past HYBRID_<NAME>_MAX_BYTES fails with too-large naming the source and the cap, not retried", () =>
    Effect.gen(function*() {
      const big = JSON.stringify({ ...FixtureData.weather(1, "Lisbon"), padding: "p".repeat(MiB) })
      const server = yield* hostile((_req, res) => {
        res.writeHead(200, { "content-type": "application/json" })
        res.end(big)
      })
      const weather = yield* weatherAt(server.url, { HYBRID_WEATHER_MAX_BYTES: "64KiB" })
      assert.strictEqual(weather.settings.maxBytes, 64 * 1024)
      const error = yield* Effect.flip(weather.get(lisbon))
      assert.strictEqual(error.source, "weather")
      assert.strictEqual(error.reason, "failed")
      assert.strictEqual(error.kind, "too-large")
      assert.strictEqual(error.attempts, 1)
      assert.include(error.message, "weather: failed (too-large")
      assert.include(error.message, "64 KiB cap")
      assert.include(error.message, "HYBRID_WEATHER_MAX_BYTES")
      assert.strictEqual(server.count(), 1)
    }))

  it.effect("the cap is read from Config: sizes with units or bytes, 8 MiB by default; anything else names the variable", () =>
    Effect.gen(function*() {
      const read = (value: string | undefined) =>
        Effect.exit(Source.config("weather").pipe(Effect.provide(config({
          HYBRID_WEATHER_URL: "http://127.0.0.1:1",
          ...(value === undefined ? {} : { HYBRID_WEATHER_MAX_BYTES: value })
        }))))
      const bytes = (exit: Exit.Exit<Source.Settings, unknown>) => (Exit.isSuccess(exit) ? exit.value.maxBytes : undefined)
      assert.strictEqual(bytes(yield* read(undefined)), 8 * MiB)
      assert.strictEqual(bytes(yield* read("2MiB")), 2 * MiB)
      assert.strictEqual(bytes(yield* read("512 KiB")), 512 * 1024)
      assert.strictEqual(bytes(yield* read("1.5 MB")), 1_500_000)
      assert.strictEqual(bytes(yield* read("1000")), 1000)
      for (const bad of ["banana", "0", "-5", "0B"]) {
        const exit = yield* read(bad)
        assert.isTrue(Exit.isFailure(exit), bad)
        assert.include(Exit.isFailure(exit) ? String(exit.cause) : "", "HYBRID_WEATHER_MAX_BYTES")
      }
    }))
})

describe("Upstream: a body broken off is a transport failure, a whole body that does not decode is not", () => {
  live("a connection reset mid-body is kind connection (TransportError), with the bytes read before it", () =>
    Effect.gen(function*() {
      const server = yield* hostile((_req, res) => {
        res.writeHead(200, { "content-type": "application/json" })
        res.write(`{"city":"Lis`, () => setTimeout(() => res.socket?.resetAndDestroy(), 20))
      })
      const http = yield* client
      const error = upstreamFailure(yield* Effect.exit(Upstream.json(http, HttpClientRequest.get(server.url), City)))
      assert.strictEqual(error.kind, "connection")
      assert.strictEqual(error.cause, "TransportError")
      assert.include(error.detail, "the body broke off after")
    }))

  live("a close before the declared Content-Length is kind connection too", () =>
    Effect.gen(function*() {
      const server = yield* hostile((_req, res) => {
        res.writeHead(200, { "content-type": "application/json", "content-length": "1000" })
        res.write(`{"city":"Lisbon"`, () => setTimeout(() => res.socket?.end(), 20))
      })
      const http = yield* client
      const error = upstreamFailure(yield* Effect.exit(Upstream.json(http, HttpClientRequest.get(server.url), City)))
      assert.strictEqual(error.kind, "connection")
    }))

  live("a source reset mid-body is retried, and the next attempt is ok", () =>
    Effect.gen(function*() {
      const whole = JSON.stringify(FixtureData.weather(1, "Lisbon"))
      const server = yield* hostile((_req, res, n) => {
        res.writeHead(200, { "content-type": "application/json" })
        if (n === 0) res.write(whole.slice(0, 40), () => setTimeout(() => res.socket?.resetAndDestroy(), 20))
        else res.end(whole)
      })
      const weather = yield* weatherAt(server.url, { HYBRID_WEATHER_RETRIES: "2" })
      const body = yield* weather.get(lisbon)
      assert.strictEqual(body.city, "Lisbon")
      assert.strictEqual(server.count(), 2)
    }))

  live("a malformed JSON body that arrived whole is kind decode, one attempt, never retried", () =>
    Effect.gen(function*() {
      const server = yield* hostile((_req, res) => {
        res.writeHead(200, { "content-type": "application/json" })
        res.end(`{"city": "Lisbon", "temperature": 16,,}`)
      })
      const weather = yield* weatherAt(server.url, { HYBRID_WEATHER_RETRIES: "2" })
      const error = yield* Effect.flip(weather.get(lisbon))
      assert.strictEqual(error.kind, "decode")
      assert.strictEqual(error.reason, "failed")
      assert.strictEqual(error.attempts, 1)
      assert.strictEqual(server.count(), 1)
    }))
})

// --- scrubbed at construction ----------------------------------------------------------

const key = "sk-hostile-0123456789abcdefghijKLMNOP"
const password = "pw-Secret-98765xyz"

/** Parts of `key` and `password` long enough to matter (8 characters, anywhere). */
const leaks = (text: string): Array<string> => {
  const found: Array<string> = []
  for (const secret of [key, password]) {
    for (let i = 0; i + 8 <= secret.length; i++) if (text.includes(secret.slice(i, i + 8))) found.push(secret.slice(i, i + 8))
  }
  return found
}

/** Echoes every request header, in the answer's message, as status `status`. */
const echoing = (status: number, as: "json" | "text") => (req: IncomingMessage, res: ServerResponse) => {
  const headers = Object.entries(req.headers).map(([k, v]) => `${k}: ${String(v)}`).join("; ")
  const message = `rejected ${req.method} ${req.url} with headers ${headers} (api-key=${key}, ${key})`
  if (as === "json") {
    res.writeHead(status, { "content-type": "application/json" })
    res.end(JSON.stringify({ error: { message, type: "invalid_request_error" } }))
  } else {
    res.writeHead(status, { "content-type": "text/plain" })
    res.end(message)
  }
}

describe("Upstream: errors hold provider text scrubbed at construction", () => {
  live("a 403 echoing the request's x-api-key and Authorization headers, and a URL's password: nothing of them in the error", () =>
    Effect.gen(function*() {
      const server = yield* hostile(echoing(403, "text"))
      const http = yield* client
      const url = server.url.replace("http://", `http://user:${password}@`)
      const request = HttpClientRequest.get(`${url}/weather?api_key=${key}`).pipe(
        HttpClientRequest.setHeader("x-api-key", key),
        HttpClientRequest.bearerToken(key)
      )
      const error = upstreamFailure(yield* Effect.exit(Upstream.json(http, request, City)))
      assert.strictEqual(error.kind, "status")
      assert.strictEqual(error.status, 403)
      assert.include(error.serverMessage ?? "", "rejected GET")
      assert.isAtMost((error.serverMessage ?? "").length, 200)
      assert.deepStrictEqual(leaks(printed(error)), [])
      assert.notInclude(error.url, "user:")
    }))

  live("a 200 body that echoes the key and fails the schema: the decode error holds none of it", () =>
    Effect.gen(function*() {
      const server = yield* hostile((req, res) => {
        res.writeHead(200, { "content-type": "application/json" })
        res.end(JSON.stringify({ city: 42, note: `you sent ${req.headers.authorization}` }))
      })
      const http = yield* client
      const strict = Schema.Struct({ city: Schema.String, note: Schema.Number })
      const error = upstreamFailure(yield* Effect.exit(Upstream.json(http, HttpClientRequest.get(server.url).pipe(HttpClientRequest.bearerToken(key)), strict)))
      assert.strictEqual(error.kind, "decode")
      assert.deepStrictEqual(leaks(printed(error)), [])
    }))

  live("the LLM: a proxy whose 401 echoes Authorization, behind a base URL with a password — the AiError holds neither", () =>
    Effect.gen(function*() {
      const server = yield* hostile(echoing(401, "json"))
      const openai = yield* Effect.gen(function*() {
      return yield* OpenAi.Client
    }).pipe(
        Effect.provide(OpenAi.Client.layer.pipe(Layer.provide(config({
          OPENAI_BASE_URL: `${server.url.replace("http://", `http://me:${password}@`)}/v1`,
          OPENAI_API_KEY: key,
          HYBRID_LLM_RETRIES: "0"
        }))))
      )
      const error = yield* Effect.flip(openai.chat([{ role: "user", content: "hello" }]))
      assert.strictEqual(error.reason._tag, "AuthenticationError")
      assert.include(printed(error), "rejected POST")
      assert.deepStrictEqual(leaks(printed(error)), [])
    }))
})

describe("Upstream: the LLM's answers are capped (HYBRID_LLM_MAX_BYTES, 1 MiB by default)", () => {
  const llmAt = (url: string, env: Env = {}) =>
    Effect.gen(function*() {
      return yield* OpenAi.Client
    }).pipe(
      Effect.provide(OpenAi.Client.layer.pipe(Layer.provide(config({ OPENAI_BASE_URL: `${url}/v1`, HYBRID_LLM_RETRIES: "2", ...env }))))
    )

  live("a 10 MB completion is InvalidResponseError naming the cap, read no further, not retried", () =>
    Effect.gen(function*() {
      const sent = { bytes: 0, closed: false }
      const server = yield* hostile((_req, res) => {
        res.writeHead(200, { "content-type": "application/json" })
        res.write(`{"id":"x","model":"m","choices":[{"message":{"content":"`)
        pump(res, Buffer.alloc(64 * 1024, "z"), sent, 10 * MiB)
      })
      const openai = yield* llmAt(server.url)
      assert.strictEqual(openai.settings.maxBytes, MiB)
      const error: AiError.AiError = yield* Effect.flip(openai.chat([{ role: "user", content: "hello" }]))
      assert.strictEqual(error.reason._tag, "InvalidResponseError")
      assert.include(error.message, "1 MiB cap")
      assert.include(error.message, "HYBRID_LLM_MAX_BYTES")
      assert.strictEqual(server.count(), 1)
      yield* Effect.promise(() => waitFor(() => sent.closed))
      assert.isBelow(sent.bytes, 8 * MiB)
    }))

  live("an endless streamed completion stops at the cap: the deltas seen stay under it", () =>
    Effect.gen(function*() {
      const sent = { bytes: 0, closed: false }
      const server = yield* hostile((_req, res) => {
        res.writeHead(200, { "content-type": "text/event-stream" })
        const event = { id: "x", model: "m", choices: [{ delta: { content: "more " }, finish_reason: null }] }
        pump(res, Buffer.from(`data: ${JSON.stringify(event)}\n\n`.repeat(100)), sent)
      })
      const openai = yield* llmAt(server.url, { HYBRID_LLM_MAX_BYTES: "256KiB" })
      let text = 0
      const error = yield* Effect.flip(openai.chatStream([{ role: "user", content: "hello" }], (delta) =>
        Effect.sync(() => {
          text += delta.length
        })))
      assert.strictEqual(error.reason._tag, "InvalidResponseError")
      assert.include(error.message, "256 KiB cap")
      assert.isAbove(text, 0)
      assert.isBelow(text, 256 * 1024)
      assert.strictEqual(server.count(), 1)
    }))
})

// --- memory stays bounded: the whole agent in a child process ---------------------------

const child = fileURLToPath(new URL("./fixtures/hostile-upstream-child.ts", import.meta.url))

interface ChildResult {
  readonly rssBefore: number
  readonly rssPeak: number
  readonly ms: number
  readonly sources: ReadonlyArray<{ readonly name: string; readonly status: string; readonly error?: string }>
  readonly synthesis: string
  readonly textLength: number
}

/** Runs the child agent with `env`; its one JSON line. */
const runChild = (env: Env) =>
  Effect.callback<ChildResult, Error>((resume) => {
    const proc = execFile(process.execPath, ["--expose-gc", child], { env: { ...process.env, ...env }, timeout: 120_000 }, (error, stdout, stderr) => {
      if (error !== null) return resume(Effect.fail(new Error(`child failed (${error.message}): ${stderr.slice(0, 2000)}`)))
      resume(Effect.try({ try: () => JSON.parse(stdout.trim().split("\n").pop() ?? "") as ChildResult, catch: () => new Error(`child printed: ${stdout.slice(0, 2000)}`) }))
    })
    return Effect.sync(() => proc.kill("SIGKILL"))
  })

/**
 * Answers a request about Lisbon (the child's warm-up) with `normal`, one about Oslo with up
 * to 200 MB of `chunk` after `head`; `sent` counts the hostile answers' bytes.
 */
const osloEndless = (normal: (res: ServerResponse) => void, type: string, head: string, chunk: Buffer, sent: { bytes: number; closed: boolean; hostile: number }): Handler =>
(req, res) => {
  const parts: Array<Buffer> = []
  req.on("data", (part: Buffer) => parts.push(part))
  req.on("end", () => {
    if (!`${req.url} ${Buffer.concat(parts).toString("utf8")}`.includes("Oslo")) return normal(res)
    sent.hostile++
    res.writeHead(200, { "content-type": type })
    res.write(head)
    pump(res, chunk, sent, 200 * MiB)
  })
}

describe("Upstream: memory stays bounded against a 200 MB upstream (the agent in a child process)", () => {
  live("a source sending 200 MB: failed with too-large, RSS grows < 50 MB, the 3 s budget holds", () =>
    Effect.gen(function*() {
      const sent = { bytes: 0, closed: false, hostile: 0 }
      const server = yield* hostile(osloEndless(
        (res) => {
          res.writeHead(200, { "content-type": "application/json" })
          res.end(JSON.stringify(FixtureData.weather(1, "Lisbon")))
        },
        "application/json",
        `{"city":"`,
        Buffer.alloc(64 * 1024, "a"),
        sent
      ))
      const result = yield* runChild({ HYBRID_WEATHER_URL: server.url, HYBRID_WEATHER_TIMEOUT: "5 seconds" })
      assert.strictEqual(sent.hostile, 1) // the Oslo answer was asked for, once: too-large is not retried
      assert.isTrue(sent.closed)
      const weather = result.sources.find((s) => s.name === "weather")
      assert.strictEqual(weather?.status, "failed")
      assert.include(weather?.error ?? "", "too-large")
      assert.include(weather?.error ?? "", "8 MiB cap")
      assert.isBelow(result.rssPeak - result.rssBefore, 50 * MiB)
      assert.isBelow(result.ms, 4_500) // the 3 s budget, with room for a loaded machine
      assert.isBelow(sent.bytes, 64 * MiB)
    }), 150_000)

  live("the LLM streaming without end: stopped at the 1 MiB cap, an extractive answer, RSS grows < 50 MB", () =>
    Effect.gen(function*() {
      const sent = { bytes: 0, closed: false, hostile: 0 }
      const event = (content: string, finish: string | null) =>
        `data: ${JSON.stringify({ id: "x", model: "m", choices: [{ delta: { content }, finish_reason: finish }] })}\n\n`
      const server = yield* hostile(osloEndless(
        (res) => {
          res.writeHead(200, { "content-type": "text/event-stream" })
          res.end(`${event("It may rain in Lisbon.", "stop")}data: [DONE]\n\n`)
        },
        "text/event-stream",
        "",
        Buffer.from(event("more ", null).repeat(200)),
        sent
      ))
      const result = yield* runChild({ OPENAI_BASE_URL: `${server.url}/v1`, HYBRID_LLM_TIMEOUT: "5 seconds" })
      assert.strictEqual(sent.hostile, 1) // the Oslo answer was asked for, once: too-large is not retried
      assert.isTrue(sent.closed)
      assert.isAtLeast(sent.bytes, MiB) // cut off by the cap, not by a timeout before it
      assert.strictEqual(result.synthesis, "extractive")
      assert.isBelow(result.textLength, 64 * 1024)
      assert.isBelow(result.rssPeak - result.rssBefore, 50 * MiB)
      assert.isBelow(sent.bytes, 64 * MiB)
    }), 150_000)
})

/** Resolves once `done()` holds (polling every 10 ms, at most 10 s). */
const waitFor = (done: () => boolean) =>
  new Promise<void>((resolve, reject) => {
    const started = Date.now()
    const check = () => {
      if (done()) resolve()
      else if (Date.now() - started > 10_000) reject(new Error("condition not reached within 10 s"))
      else setTimeout(check, 10)
    }
    check()
  })
