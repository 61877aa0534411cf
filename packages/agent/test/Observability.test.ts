/**
 * The opt-in OTLP exporter, against a fake collector on 127.0.0.1 that records every POST.
 */
import { assert, describe, it } from "@effect/vitest"
import { execFile } from "node:child_process"
import { createServer, type Server } from "node:http"
import type { AddressInfo } from "node:net"
import { fileURLToPath } from "node:url"
import { ConfigProvider, Effect } from "effect"
import { Observability } from "@hybrid/agent"

const main = fileURLToPath(new URL("../src/cli/main.ts", import.meta.url))

interface Collector {
  readonly url: string
  readonly posts: Array<{ readonly path: string; readonly body: string }>
  /** Names of every span received on /v1/traces. */
  readonly spans: () => Array<string>
  readonly close: () => Promise<void>
}

const collector = () =>
  new Promise<Collector>((resolve) => {
    const posts: Array<{ path: string; body: string }> = []
    const server: Server = createServer((request, response) => {
      let body = ""
      request.on("data", (chunk) => (body += chunk))
      request.on("end", () => {
        if (request.method === "POST") posts.push({ path: request.url ?? "", body })
        response.writeHead(200, { "content-type": "application/json" }).end("{}")
      })
    })
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as AddressInfo
      resolve({
        url: `http://127.0.0.1:${port}`,
        posts,
        spans: () =>
          posts.filter((p) => p.path === "/v1/traces").flatMap((p) => {
            const json = JSON.parse(p.body) as {
              resourceSpans: Array<{ scopeSpans: Array<{ spans: Array<{ name: string }> }> }>
            }
            return json.resourceSpans.flatMap((r) => r.scopeSpans.flatMap((s) => s.spans.map((span) => span.name)))
          }),
        close: () =>
          new Promise((done) => {
            server.closeAllConnections()
            server.close(() => done())
          })
      })
    })
  })

const withEnv = (env: Record<string, string>) => ConfigProvider.layer(ConfigProvider.fromUnknown(env))

describe("Observability", () => {
  it("exports spans to OTEL_EXPORTER_OTLP_ENDPOINT/v1/traces when it is set (flushed when the layer closes)", async () => {
    const fake = await collector()
    try {
      await Effect.runPromise(
        Effect.sleep("5 millis").pipe(
          Effect.withSpan("observability.child"),
          Effect.withSpan("observability.test", { attributes: { answer: 42 } }),
          Effect.provide(Observability.layer),
          Effect.provide(withEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: fake.url, OTEL_SERVICE_NAME: "hybrid-test" }))
        )
      )
      assert.includeMembers(fake.spans(), ["observability.test", "observability.child"])
      assert.include(fake.posts.find((p) => p.path === "/v1/traces")?.body ?? "", "hybrid-test")
    } finally {
      await fake.close()
    }
  })

  it("does nothing when the variable is unset; a variable that is not a URL is a ConfigError naming it", async () => {
    const fake = await collector()
    try {
      await Effect.runPromise(Effect.void.pipe(Effect.withSpan("quiet"), Effect.provide(Observability.layer), Effect.provide(withEnv({}))))
      assert.strictEqual(fake.posts.length, 0)
      const error = await Effect.runPromise(
        Effect.void.pipe(Effect.provide(Observability.layer), Effect.provide(withEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: "not a url" })), Effect.flip)
      )
      assert.strictEqual(error._tag, "ConfigError")
      assert.include(String(error), "OTEL_EXPORTER_OTLP_ENDPOINT")
    } finally {
      await fake.close()
    }
  })

  it("every CLI command exports: hybrid ask sends its spans, the agent's included", async () => {
    const fake = await collector()
    try {
      const { code, stderr } = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
        execFile(
          process.execPath,
          [main, "ask", "Will it rain in Oslo?", "--scale", "0.05", "--budget", "5s"],
          { env: { ...process.env, OTEL_EXPORTER_OTLP_ENDPOINT: fake.url }, timeout: 60_000 },
          (error, _stdout, stderr) => resolve({ code: error === null ? 0 : typeof error.code === "number" ? error.code : null, stderr })
        )
      })
      assert.strictEqual(code, 0, stderr)
      const spans = fake.spans()
      assert.includeMembers(spans, ["hybrid.ask", "Agent.answer", "Agent.source", "Agent.fetch", "Agent.process", "Agent.llm"])
    } finally {
      await fake.close()
    }
  }, 60_000)
})
