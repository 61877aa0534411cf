/**
 * `cluster` — core's `Runner` on `effect/cluster` (`@hybrid/cluster`), on loopback with
 * PostgreSQL, against a local `NodeRunner` in the same run:
 *
 * - **overhead**: sequential tiny calls (`Inc`), µs per call — local `NodeRunner`, then
 *   `ClusterRunner` volatile and persisted (stored in PostgreSQL before delivery);
 * - **scaling**: one batch of I/O-bound calls (`Wait`, 200 ms) on clusters of 1, 2 and 4
 *   runner processes, each runner bounded to 8 calls at once — throughput, and its ratio
 *   to N × the one-runner throughput (target ≥ 0.9); CPU-bound scaling is not measured
 *   past the machine's 2 cores;
 * - **recovery**: SIGKILL one of four runners; the time until every entity it served
 *   answers again from a survivor, against `SHARD_LOCK_EXPIRATION` (the engine's own
 *   lease, set to 5 s here; Effect's default is 35 s).
 *
 * Without PostgreSQL (`HYBRID_DATABASE_URL`, default the local one) the scenario says so
 * and measures nothing.
 *
 * @since 0.1.0
 */
import { ClusterRunner } from "@hybrid/cluster"
import { NodeRunner, Runner } from "@hybrid/core"
import { Effect, Exit, Layer, Scope } from "effect"
import { type ChildProcess, spawn } from "node:child_process"
import * as net from "node:net"
import { fileURLToPath } from "node:url"
import { ClusterTasks, Inc, Wait } from "../peers/cluster-tasks.ts"
import * as Scenario from "../Scenario.ts"

const database = process.env.HYBRID_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test"
const lockExpiration = "5 seconds"
const waitMs = 200
const perRunner = 8

const reachable = (url: string) =>
  Effect.promise(() =>
    new Promise<boolean>((resolve) => {
      const { hostname, port } = new URL(url)
      const socket = net.connect({ host: hostname, port: Number(port || 5432) })
      socket.setTimeout(2_000)
      socket.once("connect", () => (socket.destroy(), resolve(true)))
      socket.once("timeout", () => (socket.destroy(), resolve(false)))
      socket.once("error", () => resolve(false))
    })
  )

const freePort = Effect.promise(() =>
  new Promise<number>((resolve, reject) => {
    const server = net.createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as net.AddressInfo).port
      server.close(() => resolve(port))
    })
  })
)

/** A runner process, started and waited for; SIGTERM (then SIGKILL) when the scope closes. */
const startRunner = (name: string, prefix: string, persisted: "all" | "none", port?: number) =>
  Effect.gen(function*() {
    const listen = port ?? (yield* freePort)
    const script = fileURLToPath(new URL("../peers/cluster-runner.ts", import.meta.url))
    const child = yield* Effect.acquireRelease(
      Effect.callback<ChildProcess>((resume) => {
        const child = spawn(process.execPath, [script, name, String(listen), prefix, persisted], {
          env: { ...process.env, SHARD_LOCK_EXPIRATION: lockExpiration, HYBRID_DATABASE_URL: database },
          stdio: ["ignore", "pipe", "pipe"]
        })
        let err = ""
        child.stderr!.on("data", (c: Buffer) => (err += c.toString()).length > 4_000 && (err = err.slice(-4_000)))
        child.stdout!.on("data", (c: Buffer) => c.toString().includes(`ready ${name}`) && resume(Effect.succeed(child)))
        child.once("exit", (code) => resume(Effect.die(new Error(`${name} exited (${code}) before serving: ${err}`))))
      }),
      (child) =>
        Effect.promise(() =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null || child.signalCode !== null) return resolve()
            const timer = setTimeout(() => child.kill("SIGKILL"), 5_000)
            child.once("exit", () => (clearTimeout(timer), resolve()))
            child.kill("SIGTERM")
          })
        )
    )
    return { name, port: listen, child }
  })

const freshPrefix = (what: string) => `hb_${what}_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 6)}`

/** A caller's Runner on `prefix`, built in `scope`, with one call done (the runners own their shards). */
const caller = (prefix: string, scope: Scope.Scope, persisted: "all" | "none") =>
  Effect.gen(function*() {
    const context = yield* Layer.buildWithScope(ClusterRunner.layer(ClusterTasks, {
      database,
      prefix,
      persisted,
      // the caller waits for a moved shard as long as the runners' lease: both sides must agree
      sharding: { shardLockExpiration: lockExpiration }
    }), scope)
    const run = <A, E>(effect: Effect.Effect<A, E, Runner.Runner>) => Effect.provide(effect, context)
    yield* run(Runner.forEach(Inc, Array.from({ length: 64 }, (_, i) => i)))
    return run
  })

const sequentialMicros = <E>(calls: number, run: (n: number) => Effect.Effect<unknown, E>) =>
  Effect.gen(function*() {
    const start = performance.now()
    for (let i = 0; i < calls; i++) yield* run(i)
    return ((performance.now() - start) * 1000) / calls
  })

/**
 * @since 0.1.0
 * @category scenarios
 */
export const cluster: Scenario.Scenario = {
  name: "cluster",
  description: "ClusterRunner on effect/cluster + PostgreSQL: per-call overhead, I/O scaling over 1/2/4 runners, recovery",
  run: (options) =>
    Effect.gen(function*() {
      const progress = options.progress ?? Scenario.silent
      if (!(yield* reachable(database))) {
        return {
          scenario: "cluster",
          figures: {},
          rows: [],
          notes: [`skipped: no PostgreSQL answers at ${new URL(database).host} (set HYBRID_DATABASE_URL)`]
        }
      }
      const reps = Scenario.repetitions(options)
      const calls = options.quick ? 100 : 300
      const batchPerRunner = options.quick ? 4 : 8
      const sizes = [1, 2, 4] as const
      progress.total(reps * (3 + sizes.length) + reps + 3)
      const scope = yield* Scope.make()
      const prefixes: Array<string> = []
      const fresh = (what: string) => {
        const prefix = freshPrefix(what)
        prefixes.push(prefix)
        return prefix
      }

      // --- start every cluster: one for overhead (volatile and persisted), one per size
      const local = yield* Layer.buildWithScope(
        NodeRunner.layer(ClusterTasks, {
          worker: new URL("../peers/cluster.worker.ts", import.meta.url),
          size: 1,
          concurrencyPerWorker: perRunner
        }),
        scope
      )
      const overheadPrefix = fresh("ovh")
      yield* startRunner("ovh-1", overheadPrefix, "all").pipe(Scope.provide(scope))
      const volatile = yield* caller(overheadPrefix, scope, "none")
      const persisted = yield* caller(overheadPrefix, scope, "all")
      progress.tick()
      const clusters = new Map<number, (e: Effect.Effect<unknown, unknown, Runner.Runner>) => Effect.Effect<unknown, unknown>>()
      for (const size of sizes) {
        const prefix = fresh(`n${size}`)
        yield* Effect.all(
          Array.from({ length: size }, (_, i) => startRunner(`n${size}-${i + 1}`, prefix, "none")),
          { concurrency: "unbounded" }
        ).pipe(Scope.provide(scope))
        clusters.set(size, yield* caller(prefix, scope, "none"))
      }
      progress.tick()

      // --- overhead and scaling, interleaved by repetition
      const balance = new Map<number, number>()
      const variants = ["local", "volatile", "persisted", ...sizes.map((n) => `io-${n}`)]
      const samples = yield* Scenario.interleave({ repetitions: reps, variants, progress }, (variant) => {
        if (variant === "local") {
          return sequentialMicros(calls, (n) => Effect.provide(Runner.run(Inc, n), local))
        }
        if (variant === "volatile") return sequentialMicros(calls, (n) => volatile(Runner.run(Inc, n)))
        if (variant === "persisted") return sequentialMicros(calls, (n) => persisted(Runner.run(Inc, n)))
        const size = Number(variant.slice(3))
        const total = batchPerRunner * perRunner * size
        const run = clusters.get(size)!
        return Effect.gen(function*() {
          const start = performance.now()
          const owners = (yield* run(Runner.forEach(Wait, Array.from({ length: total }, () => ({ ms: waitMs }))))) as Array<string>
          const per = new Map<string, number>()
          for (const owner of owners) per.set(owner, (per.get(owner) ?? 0) + 1)
          balance.set(size, Math.max(...per.values()) / (total / size))
          return total / ((performance.now() - start) / 1000)
        })
      })
      const micros = (v: string) => Scenario.figure("µs/call", samples[v]!, { better: "lower" })
      const throughput = (n: number) => Scenario.figure("calls/s", samples[`io-${n}`]!, { better: "higher" })
      const ideal = (n: number) => (perRunner * n * 1000) / waitMs

      // --- recovery: SIGKILL one of four runners (a fresh cluster each repetition), until every
      // entity it held answers again from a survivor
      const names = ["rec-1", "rec-2", "rec-3", "rec-4"]
      const keys = Array.from({ length: 64 }, (_, i) => `probe-${i}`)
      const probe = (call: (e: Effect.Effect<unknown, unknown, Runner.Runner>) => Effect.Effect<unknown, unknown>, key: string) =>
        call(Runner.run(Wait, { ms: 0 }).pipe(ClusterRunner.withAffinity(key)))
      const recovery: Array<number> = []
      for (let rep = 0; rep < reps; rep++) {
        const recScope = yield* Scope.make()
        const prefix = fresh(`rec${rep}`)
        const runners = yield* Effect.all(names.map((name) => startRunner(name, prefix, "none")), {
          concurrency: "unbounded"
        }).pipe(Scope.provide(recScope))
        const call = yield* caller(prefix, recScope, "none")
        const owners = yield* Effect.forEach(keys, (key) => probe(call, key), { concurrency: "unbounded" })
        const victim = runners[rep % runners.length]!
        const held = keys.filter((_, i) => owners[i] === victim.name)
        const killedAt = performance.now()
        victim.child.kill("SIGKILL")
        yield* Effect.forEach(held, (key) => probe(call, key), { concurrency: "unbounded" })
        recovery.push(performance.now() - killedAt)
        yield* Scope.close(recScope, Exit.void)
        progress.tick()
      }
      yield* Scope.close(scope, Exit.void)
      yield* Effect.forEach(prefixes, (prefix) => ClusterRunner.dropTables({ database, prefix }).pipe(Effect.ignore))
      progress.tick()

      const localF = micros("local")
      const volatileF = micros("volatile")
      const persistedF = micros("persisted")
      const one = throughput(1)
      const scaling = (n: number) =>
        Scenario.mapFigure(Scenario.ratio(throughput(n), one), "× N", (r) => r / n, { better: "higher" })
      const recoveryF = Scenario.figure("ms", recovery, { better: "lower" })
      const figures: Record<string, Scenario.Figure> = {
        "overheadUs.local": localF,
        "overheadUs.volatile": volatileF,
        "overheadUs.persisted": persistedF,
        "overheadVsLocal.volatile": Scenario.ratio(volatileF, localF),
        "overheadVsLocal.persisted": Scenario.ratio(persistedF, localF),
        "recoveryMs": recoveryF
      }
      for (const n of sizes) {
        figures[`ioThroughput.${n}`] = throughput(n)
        if (n > 1) figures[`ioScaling.${n}`] = scaling(n)
      }
      return {
        scenario: "cluster",
        figures,
        rows: [
          { variant: "NodeRunner (local, 1 worker)", "µs/call": localF },
          { variant: "ClusterRunner volatile", "µs/call": volatileF },
          { variant: "ClusterRunner persisted", "µs/call": persistedF },
          ...sizes.map((n) => ({
            variant: `I/O ${waitMs} ms, ${n} runner${n > 1 ? "s" : ""}`,
            "calls/s": throughput(n),
            ideal: ideal(n),
            "scaling / N": n > 1 ? scaling(n) : "—"
          })),
          { variant: `recovery after SIGKILL (lease ${lockExpiration})`, ms: recoveryF }
        ],
        notes: [
          `${calls} sequential Inc calls per repetition; each runner: 1 worker, ${perRunner} calls at once; ` +
          `${batchPerRunner * perRunner} Wait calls per runner per batch; ClusterRunner's lanes spread calls by shard: ` +
          `busiest runner's share vs an even split (last repetition): ` +
          sizes.map((n) => `${n}: ×${(balance.get(n) ?? Number.NaN).toFixed(2)}`).join(", "),
          `recovery: from SIGKILL of one of 4 runners to every entity it held answering from a survivor; ` +
          `bounded below by SHARD_LOCK_EXPIRATION (${lockExpiration}) + the survivors' assignment refresh`
        ]
      }
    })
}
