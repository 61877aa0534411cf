/**
 * `hybrid serve` — the agent as an HTTP service (see `Server` for the routes, `ServeApi`
 * for the contract):
 *
 * ```text
 * hybrid serve [--host 127.0.0.1] [--port 8787] [--scale x] [--faults spec] [--budget 30s] [--cluster]
 *              [--max-body 65536] [--max-in-flight n] [--max-queued n] [--cors origin]
 *              [--grace 5s] [--log-level info]
 * ```
 *
 * The first line on stdout is `listening on http://<host>:<port>` (`--port 0`: any free
 * port); then one log line per request. SIGTERM or SIGINT: stop admitting, answer every
 * request already received, exit 0 (within the longest budget + `--grace`); a second
 * signal exits at once (code 130). A port that cannot be bound is an error naming host
 * and port (exit 1).
 *
 * @since 0.1.0
 */
import { Duration, Effect, Layer, Logger, Option } from "effect"
import { Command, Flag } from "effect/cli"
import * as Server from "../serve/Server.ts"
import * as Shutdown from "../serve/Shutdown.ts"
import { agent, budget, budgetOf, cluster, faults, faultsOf, millisOf, port, positiveInt, reported, scale, scrubber } from "./shared.ts"

/** One logfmt line per log entry (the request log) instead of the multi-line default; other loggers (OTLP) kept. */
const logfmt = Layer.effect(
  Logger.CurrentLoggers,
  Effect.map(Logger.CurrentLoggers, (loggers) =>
    new Set([...loggers].filter((l) => l !== Logger.defaultLogger)).add(Logger.consoleLogFmt))
)

/**
 * The processing workers of a long-running server:
 * - each with a young generation of at most 48 MB (16 MB semi-spaces). V8 sizes it by the
 *   machine's memory otherwise (here 64 MB semi-spaces per isolate), grows it under load
 *   and shrinks it after a major GC, so a server's RSS swung by 200 MB between rounds of
 *   the same load. Measured with the flag on the workers only (load 3.2–3.5, 5 rounds of 200
 *   connections × 6 s after a warm-up, idle RSS): 601–716 MB against 684–900 MB by default,
 *   and no fewer answers per round. The main thread's heap is bounded on the `hybrid`
 *   command line (`main.ts`'s first line, `env -S node <flags>`): `--max-semi-space-size=16`
 *   caps its young generation the same way, and `--max-old-space-size=1536` — below 2 GB, V8
 *   grows an old generation by at most ≈ 1.8× its live size between major GCs instead of 4×
 *   (the workers inherit it). At 200 connections the main thread's heap swung 134–346 MB and
 *   the idle RSS 720–810 MB over 5 rounds; with both flags 122–196 MB and 567–583 MB, as many
 *   answers per round (35–39) and 503 p99s (28–30 ms). Admission control bounds the answers in
 *   flight, and with them the live heap (≈ 100–150 MB here, far below the limit);
 * - at niceness 3 (Linux): under overload the event loop — refusals, health checks, the
 *   sources' I/O — gets the cores before the CPU work of the answers it admitted. Measured
 *   (2 vCPUs, 5 rounds of 200 connections × 8 s, autocannon on the same machine): the 503s'
 *   p99 25–41 ms against 34–56 ms at niceness 0, with 33–36 answers per round against 37–42
 *   (niceness 5: 29–36 ms, 29–35 answers; 10: 26–29 ms but 16–25 answers, and a round with
 *   sources timing out).
 */
const serveWorkers = { resourceLimits: { maxYoungGenerationSizeMb: 48 }, niceness: 3 }

/**
 * @since 0.1.0
 * @category commands
 */
export const serve = Command.make(
  "serve",
  {
    host: Flag.String("host").pipe(
      Flag.withDescription("address to listen on, default 127.0.0.1 (0.0.0.0: every interface)"),
      Flag.withDefault("127.0.0.1")
    ),
    port: port(0).pipe(
      Flag.withDescription("port, default 8787 (0: any free port)"),
      Flag.withDefault(8787)
    ),
    scale,
    faults,
    cluster,
    budget,
    maxBody: positiveInt("max-body").pipe(
      Flag.withDescription("largest request body in bytes, default 65536 (a larger one is a 413)"),
      Flag.withDefault(65_536)
    ),
    maxInFlight: positiveInt("max-in-flight").pipe(
      Flag.withDescription(`answers running at once (default ${Server.defaultMaxInFlight()}: 4 per core)`),
      Flag.optional
    ),
    maxQueued: Flag.Int("max-queued").pipe(
      Flag.withDescription("answers waiting for a slot before 503s (default: --max-in-flight)"),
      Flag.filter((n) => n >= 0, (n) => `--max-queued must be an integer ≥ 0, got ${n}`),
      Flag.optional
    ),
    cors: Flag.String("cors").pipe(Flag.withDescription("allow this origin (or *) by CORS; default: CORS off"), Flag.optional),
    grace: Flag.String("grace").pipe(
      Flag.withDescription("time past the longest budget allowed for the drain at shutdown, default 5s"),
      Flag.optional
    )
  },
  Effect.fn("hybrid.serve")(function*(flags) {
    const faultConfig = yield* faultsOf(flags.faults)
    const defaultBudget = yield* budgetOf(flags.budget, flags.scale)
    // not given: `Server.layer`'s default (5 s)
    const graceMs = Option.isSome(flags.grace) ? yield* millisOf("--grace", flags.grace.value, "5s") : undefined
    const server = Server.layer({
      // the key this process holds never appears in an error body, whole or in part
      scrub: yield* scrubber,
      host: flags.host,
      port: flags.port,
      defaultBudgetMs: Duration.toMillis(defaultBudget),
      maxBodyBytes: flags.maxBody,
      maxInFlight: Option.getOrUndefined(flags.maxInFlight),
      maxQueued: Option.getOrUndefined(flags.maxQueued),
      cors: Option.getOrUndefined(flags.cors),
      graceMs
    })
    return yield* Layer.launch(
      server.pipe(
        Layer.provide(agent({ scale: flags.scale, faults: faultConfig, cluster: flags.cluster, workers: serveWorkers })),
        Layer.provideMerge(Shutdown.layer),
        Layer.provide(logfmt)
      )
    )
  }, reported("serve"))
).pipe(
  Command.withDescription(
    "serve the agent over HTTP: POST /v1/answer { query, budgetMs }, /healthz, /readyz, /metrics, /openapi.json, /docs"
  ),
  Command.withExamples([
    { command: "hybrid serve --port 8787", description: "then: curl -d '{\"query\":\"rain in Oslo?\"}' 127.0.0.1:8787/v1/answer" }
  ])
)
