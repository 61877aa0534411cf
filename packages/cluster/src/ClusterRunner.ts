/**
 * Core's `Runner`, past one machine — Ray's place in the course, on `effect/cluster`.
 *
 * The same `Task` declarations a worker thread serves become the RPCs of one cluster
 * entity. Runner processes (`ClusterRunner.serve`) host that entity and run each call on
 * a local pool (`NodeRunner` for their own cores, or in-process handlers); callers
 * provide `ClusterRunner.layer` where they provided `NodeRunner.layer`, and
 * `Runner.run` / `Runner.forEach` / `Batch` are unchanged.
 *
 * What Effect provides underneath: entities sharded over runner processes, shard
 * ownership and runner membership in PostgreSQL (`SqlRunnerStorage`), persisted messages
 * and replies (`SqlMessageStorage`), sockets between runners
 * (`@effect/platform-node` `NodeClusterSocket`), interruption sent to the remote runner.
 * What Hybrid adds: tasks as entity RPCs (payload + idempotency key + remaining deadline),
 * routing (lanes and affinity), the deadline carried with each call, typed errors that
 * name the runner or the database (without its password).
 *
 * **Routing.** The caller spreads calls round-robin over *lanes*: entity instances chosen
 * to fall on distinct shards, one per shard by default (`lanes` caps the number). Each
 * lane lives on the runner that owns its shard, so a runner's share of the calls is its
 * share of the shards, which the engine keeps even as runners join and leave (it balances
 * shards, not load: a slow runner gets as many calls as a fast one). Each lane runs any
 * number of calls at once; the runner's local pool queues them. For
 * affinity (a cache warm on one runner, calls that must not run concurrently elsewhere)
 * wrap the calls in `ClusterRunner.withAffinity(key)`: they all go to the entity
 * `key-<key>`, so to one runner at a time.
 *
 * **Delivery.** Volatile calls (the default) travel over the socket only: if their
 * runner dies they fail with `RunnerError { reason: "RunnerUnavailable", runner }`.
 * Persisted tasks (`persisted: "all"` or a list of task names, on both sides) are
 * written to PostgreSQL before delivery; if their runner dies, the shard moves to a
 * survivor once its lock expires (`shardLockExpiration`; give callers the same value as
 * runners, through `sharding` or `SHARD_LOCK_EXPIRATION`, since a caller waits that long
 * for a shard to move) and the call runs there:
 * at-least-once. Each call carries an idempotency key, the RPC's primary key: with
 * `idempotencyKey` the caller derives it from the payload, so a repeated call (a retry,
 * a second coordinator) joins the stored one and gets its reply instead of running
 * again; without it every call gets a fresh key. A handler can still run twice when its
 * runner dies after the work but before the reply is stored: make persisted tasks
 * idempotent.
 *
 * **Deadlines and interruption.** The caller's remaining `Deadline` travels with the
 * call; the remote runner stops the call shortly after it (`TaskTimeout`), and the
 * caller's own deadline interrupts it first in the normal case. Interrupting the caller
 * interrupts the call on the remote runner.
 *
 * @example
 * ```ts
 * import { Runner } from "@hybrid/core"
 * import { ClusterRunner } from "@hybrid/cluster"
 * import { Effect } from "effect"
 * import { CountPrimes, Tasks } from "./primes.ts"
 *
 * // caller: the Runner is the cluster
 * const program = Runner.forEach(CountPrimes, [{ n: 1_000_000 }, { n: 2_000_000 }]).pipe(
 *   Effect.provide(ClusterRunner.layer(Tasks, { database: "postgres://postgres@127.0.0.1:5432/test" }))
 * )
 * ```
 *
 * @since 0.1.0
 */
import * as NodeClusterSocket from "@effect/platform-node/NodeClusterSocket"
import * as NodeCrypto from "@effect/platform-node/NodeCrypto"
import type * as Batch from "@hybrid/core/Batch"
import * as Deadline from "@hybrid/core/Deadline"
import { InvalidOption } from "@hybrid/core/InvalidOption"
import * as NodeRunner from "@hybrid/core/NodeRunner"
import * as Runner from "@hybrid/core/Runner"
import type * as Task from "@hybrid/core/Task"
import { Cause, Config, Context, Duration, Effect, Layer, Option, Redacted, Schema } from "effect"
import { SqlClient } from "effect/sql/SqlClient"
import type { Sharding } from "effect/cluster"
import { type Entity, EntityId, RunnerAddress, ShardingConfig, SqlMessageStorage, SqlRunnerStorage } from "effect/cluster"
import * as Database from "./internal/database.ts"
import * as Protocol from "./internal/protocol.ts"

export {
  /**
   * The cluster's database could not be reached; names the URL without its password.
   *
   * @example
   * ```ts
   * import { ClusterRunner } from "@hybrid/cluster"
   *
   * const error = new ClusterRunner.DatabaseUnreachable({ url: "postgres://app:***@db:5432/jobs", reason: "timeout" })
   * console.log(error.message)
   * ```
   * @since 0.1.0
   * @category errors
   */
  DatabaseUnreachable
} from "./internal/database.ts"

/**
 * How to reach the cluster: its database, and the table prefix that keeps this
 * cluster's tables apart from others in the same database.
 *
 * @example
 * ```ts
 * import { Redacted } from "effect"
 * import { ClusterRunner } from "@hybrid/cluster"
 *
 * // callers and runners share these: the same database, prefix and persisted tasks
 * const cluster: ClusterRunner.ClusterOptions = {
 *   database: Redacted.make(process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test"),
 *   prefix: "primes",
 *   persisted: ["CountPrimes"]
 * }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface ClusterOptions {
  /** `postgres://user:password@host:port/database` (a `Redacted` keeps it out of logs). */
  readonly database: string | Redacted.Redacted<string>
  /** Prefix of the cluster's tables (`<prefix>_messages`, …); default `"hybrid_cluster"`. */
  readonly prefix?: string | undefined
  /** Entity type name; default `"HybridRunner"`. Callers and runners must agree. */
  readonly entityType?: string | undefined
  /** Which tasks are persisted (survive a runner crash); default `"none"`. Both sides must agree. */
  readonly persisted?: Protocol.Persisted | undefined
  /** Overrides of Effect's `ShardingConfig` (e.g. `shardLockExpiration`); env vars override too. */
  readonly sharding?: Partial<ShardingConfig.ShardingConfig["Service"]> | undefined
}

/**
 * Options of a caller.
 *
 * @example
 * ```ts
 * import { ClusterRunner } from "@hybrid/cluster"
 * import { Tasks } from "./primes.ts"
 *
 * // the same payload is the same call: a retried CountPrimes({ n }) runs once
 * const options: ClusterRunner.LayerOptions = {
 *   database: "postgres://postgres@127.0.0.1:5432/test",
 *   persisted: "all",
 *   idempotencyKey: (task, payload) => `${task.name}:${JSON.stringify(payload)}`
 * }
 * const runner = ClusterRunner.layer(Tasks, options)
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface LayerOptions extends ClusterOptions {
  /** How many lanes calls are spread over; default one per shard (`shardsPerGroup`, 300). */
  readonly lanes?: number | undefined
  /**
   * The idempotency key of a call, from its payload (`undefined`: a fresh key). Calls with
   * the same key on a persisted task are one call.
   */
  readonly idempotencyKey?: ((task: Task.Any, payload: unknown) => string | undefined) | undefined
}

/**
 * Options of a runner process: where it listens, and its local pool — a `NodeRunner`
 * worker file, or in-process handlers.
 *
 * @example
 * ```ts
 * import { ClusterRunner } from "@hybrid/cluster"
 * import { countPrimes, Tasks } from "./primes.ts"
 *
 * // a runner that computes in its own thread (no worker file), on port 34432
 * const options: ClusterRunner.ServeOptions<typeof Tasks.tasks[number]> = {
 *   database: "postgres://postgres@127.0.0.1:5432/test",
 *   port: 34432,
 *   handlers: { CountPrimes: ({ n }) => countPrimes(n) }
 * }
 * const runner = ClusterRunner.serve(Tasks, options)
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type ServeOptions<T extends Task.Any> =
  & ClusterOptions
  & {
    /** Host other runners and callers reach this one at; default `"127.0.0.1"`. */
    readonly host?: string | undefined
    /** Port of this runner's socket server; default 34431. */
    readonly port?: number | undefined
    /** The remote runner stops a call this long after the caller's deadline; default 250 ms. */
    readonly deadlineGrace?: Duration.Input | undefined
  }
  & (
    | (NodeRunner.Options & { readonly handlers?: undefined })
    | { readonly handlers: Task.Handlers<T>; readonly worker?: undefined }
  )

/**
 * Calls inside go to one entity, `key-<key>`, so to one runner at a time.
 *
 * @example
 * ```ts
 * import { ClusterRunner } from "@hybrid/cluster"
 * import { Effect } from "effect"
 *
 * const key = Effect.gen(function*() {
 *   return yield* ClusterRunner.Affinity // undefined unless inside withAffinity
 * }).pipe(ClusterRunner.withAffinity("tenant-7"))
 * ```
 *
 * @since 0.1.0
 * @category references
 */
export const Affinity = Context.Reference<string | undefined>("@hybrid/cluster/ClusterRunner/Affinity", {
  defaultValue: () => undefined
})

/**
 * Runs `self` with every cluster call inside sent to the entity of `key`.
 *
 * @example
 * ```ts
 * import { Runner } from "@hybrid/core"
 * import { ClusterRunner } from "@hybrid/cluster"
 * import { CountPrimes } from "./primes.ts"
 *
 * // both calls run on the runner that owns "tenant-7"
 * const pinned = Runner.forEach(CountPrimes, [{ n: 10 }, { n: 20 }]).pipe(ClusterRunner.withAffinity("tenant-7"))
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const withAffinity = (key: string) => <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.provideService(self, Affinity, key)

/**
 * The idempotency key of the calls inside, set by `withKey`.
 *
 * @example
 * ```ts
 * import { ClusterRunner } from "@hybrid/cluster"
 * import { Effect } from "effect"
 *
 * const key = Effect.gen(function*() {
 *   return yield* ClusterRunner.CallKey
 * }).pipe(ClusterRunner.withKey("invoice-2026-11"))
 * ```
 *
 * @since 0.1.0
 * @category references
 */
export const CallKey = Context.Reference<string | undefined>("@hybrid/cluster/ClusterRunner/CallKey", {
  defaultValue: () => undefined
})

/**
 * Runs `self` with `key` as the idempotency key of its cluster calls: on a persisted task,
 * a call with a key already stored joins that call (and gets its stored reply) instead of
 * running again. Give each logical call its own key.
 *
 * @example
 * ```ts
 * import { Runner } from "@hybrid/core"
 * import { ClusterRunner } from "@hybrid/cluster"
 * import { CountPrimes } from "./primes.ts"
 *
 * const once = Runner.run(CountPrimes, { n: 1_000_000 }).pipe(ClusterRunner.withKey("invoice-2026-11"))
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const withKey = (key: string) => <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.provideService(self, CallKey, key)

/**
 * A `Batch` handler that runs each line as `task` on the cluster, keyed by the line's
 * journal key and attempt: a coordinator that dies and is resumed (`resume: true`) joins
 * the calls its predecessor left running instead of running them again, and a runner
 * that dies hands its persisted calls to the survivors. Use it with `persisted` including
 * `task`, on both sides.
 *
 * @example
 * ```ts
 * import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
 * import { Batch } from "@hybrid/core"
 * import { ClusterRunner } from "@hybrid/cluster"
 * import { Effect } from "effect"
 * import { CountPrimes, Tasks } from "./primes.ts"
 *
 * const batch = Batch.run({
 *   input: "numbers.jsonl",
 *   output: "counts.jsonl",
 *   handler: ClusterRunner.batchHandler(CountPrimes),
 *   resume: true
 * }).pipe(
 *   Effect.provide(ClusterRunner.layer(Tasks, { database: "postgres://postgres@127.0.0.1:5432/test", persisted: "all" })),
 *   Effect.provide(NodeFileSystem.layer)
 * )
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const batchHandler = <T extends Task.Any>(task: T) =>
(
  request: Task.Payload<T>,
  context: Batch.Context
): Effect.Effect<Task.Success<T>, Task.Error<T> | Runner.RunError, Runner.Runner> =>
  Runner.run(task, request).pipe(withKey(`${context.key}/${context.attempt}`))

/**
 * The cluster's options from configuration: `HYBRID_DATABASE_URL` (required; redacted),
 * `HYBRID_CLUSTER_PREFIX` (default `hybrid_cluster`), `HYBRID_CLUSTER_LANES` (default one per shard)
 * and `HYBRID_CLUSTER_PERSISTED` (`all`, `none` or a comma-separated list of task names;
 * default `none`). Effect's own `ShardingConfig` variables (`SHARD_LOCK_EXPIRATION`, …)
 * apply as well.
 *
 * @example
 * ```ts
 * import { ClusterRunner } from "@hybrid/cluster"
 * import { Effect, Layer } from "effect"
 * import { Tasks } from "./primes.ts"
 *
 * const RunnerLive = Layer.unwrap(Effect.map(ClusterRunner.config, (options) => ClusterRunner.layer(Tasks, options)))
 * ```
 *
 * @since 0.1.0
 * @category config
 */
export const config: Config.Config<LayerOptions & { readonly database: Redacted.Redacted<string> }> = Config.all({
  database: Config.Redacted("HYBRID_DATABASE_URL"),
  prefix: Config.String("HYBRID_CLUSTER_PREFIX").pipe(Config.withDefault("hybrid_cluster")),
  lanes: Config.Int("HYBRID_CLUSTER_LANES").pipe(Config.option, Config.map(Option.getOrUndefined)),
  persisted: Config.String("HYBRID_CLUSTER_PERSISTED").pipe(
    Config.withDefault("none"),
    Config.map((text): Protocol.Persisted =>
      text === "all" || text === "none" ? text : text.split(",").map((name) => name.trim()).filter((name) => name !== "")
    )
  )
})

const defaults = { prefix: "hybrid_cluster", entityType: "HybridRunner", port: 34431 } as const

/** Storage, sharding and the socket layer of a runner (`clientOnly: false`) or a caller. */
const clusterLayer = (options: ClusterOptions, clientOnly: boolean, address?: RunnerAddress.RunnerAddress) => {
  const prefix = options.prefix ?? defaults.prefix
  const sharding: Partial<ShardingConfig.ShardingConfig["Service"]> = {
    ...options.sharding,
    ...(address === undefined ? {} : { runnerAddress: Option.some(address) })
  }
  const storage = Layer.mergeAll(
    SqlMessageStorage.layerWith({ prefix }).pipe(Layer.provide(NodeCrypto.layerDigest)),
    Layer.orDie(SqlRunnerStorage.layerWith({ prefix }))
  )
  return NodeClusterSocket.layer({ storage: "byo", clientOnly, shardingConfig: sharding }).pipe(
    Layer.provideMerge(storage),
    Layer.provideMerge(ShardingConfig.layerFromEnv(sharding)),
    Layer.provide(Database.layer(options.database))
  )
}

const unavailable = (task: string, error: { readonly _tag: string; readonly message?: string }) =>
  new Runner.RunnerError({
    task,
    reason: "RunnerUnavailable",
    message: `cluster: ${error._tag}${error.message ? `: ${error.message.slice(0, 200)}` : ""}`
  })

/** A key no other call has. */
const freshKey = (): string => `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 12)}`

/** A 32-bit FNV-1a hash: the lane of an idempotent call. */
const hash = (text: string): number => {
  let h = 0x811c9dc5
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193)
  return h >>> 0
}

/**
 * The lanes of a caller: entity ids that fall on distinct shards, `count` of them (default
 * one per shard), spread evenly over the shard range. Calls go round-robin over them, so
 * each runner's share of the calls is its share of the shards — which the engine keeps
 * even — rather than the luck of hashing a few ids.
 */
const laneIds = (entity: Entity.Any, count: number | undefined) =>
  Effect.gen(function*() {
    const { shardsPerGroup } = yield* ShardingConfig.ShardingConfig
    const wanted = Math.min(count ?? shardsPerGroup, shardsPerGroup)
    const byShard = new Map<number, string>()
    for (let i = 0; byShard.size < shardsPerGroup && i < shardsPerGroup * 64; i++) {
      const id = `lane-${i}`
      const shard = yield* entity.getShardId(EntityId.make(id))
      if (!byShard.has(shard.id)) byShard.set(shard.id, id)
    }
    const all = [...byShard.entries()].sort((a, b) => a[0] - b[0]).map(([, id]) => id)
    const step = all.length / wanted
    return Array.from({ length: wanted }, (_, i) => all[Math.floor(i * step)]!)
  })

/** The caller's `Runner` over the entity's client. */
const makeRunner = (group: Task.Group<Task.Any>, options: LayerOptions) =>
  Effect.gen(function*() {
    const entity = Protocol.entityOf(options.entityType ?? defaults.entityType, group, options.persisted ?? "none")
    const clientFor = yield* entity.client
    const lanes = yield* laneIds(entity, options.lanes)
    let next = 0
    const entityId = (affinity: string | undefined, key: string | undefined): string =>
      affinity !== undefined
        ? `key-${affinity}`
        : lanes[(key !== undefined ? hash(key) : next++) % lanes.length]!
    const run = (task: Task.Any, payload: unknown) =>
      Effect.gen(function*() {
        const affinity = yield* Affinity
        const key = (yield* CallKey) ?? options.idempotencyKey?.(task, payload)
        const remaining = yield* Deadline.remaining
        const client = clientFor(entityId(affinity, key)) as unknown as Record<
          string,
          (envelope: Protocol.Envelope) => Effect.Effect<unknown, unknown>
        >
        const call = client[task.name]
        if (call === undefined) {
          return yield* new Runner.RunnerError({
            task: task.name,
            reason: "UnknownTask",
            message: `task ${task.name} is not in the cluster's group`
          })
        }
        return yield* call({
          key: key ?? freshKey(),
          input: payload,
          remainingMs: Option.isSome(remaining) ? Math.max(0, Math.round(Duration.toMillis(remaining.value))) : undefined
        }).pipe(Effect.catchIf(isClusterError, (error) => Effect.fail(unavailable(task.name, error))))
      }).pipe(Effect.withSpan("ClusterRunner.run", { attributes: { task: task.name } }))
    return Runner.Runner.of({ run: run as Runner.RunnerShape["run"], capacity: "unbounded", maxQueue: undefined })
  })

const clusterTags = new Set([
  "MailboxFull",
  "AlreadyProcessingMessage",
  "PersistenceError",
  "EntityNotAssignedToRunner",
  "RunnerUnavailable",
  "RunnerNotRegistered",
  "MalformedMessage"
])
const isClusterError = (error: unknown): error is { readonly _tag: string; readonly message?: string } =>
  typeof error === "object" && error !== null && clusterTags.has((error as { _tag?: unknown })._tag as string)

/**
 * The `Runner` service over a cluster: calls go to the runner processes started with
 * `serve` on the same database and prefix. This process runs no tasks itself.
 *
 * @example
 * ```ts
 * import { Runner } from "@hybrid/core"
 * import { ClusterRunner } from "@hybrid/cluster"
 * import { Effect } from "effect"
 * import { CountPrimes, Tasks } from "./primes.ts"
 *
 * const main = Runner.run(CountPrimes, { n: 1_000_000 }).pipe(
 *   Effect.provide(ClusterRunner.layer(Tasks, { database: "postgres://postgres@127.0.0.1:5432/test" }))
 * )
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = <T extends Task.Any>(
  group: Task.Group<T>,
  options: LayerOptions
): Layer.Layer<Runner.Runner, Database.DatabaseUnreachable> => {
  const lanes = options.lanes
  if (lanes !== undefined && (!Number.isInteger(lanes) || lanes < 1)) {
    throw new InvalidOption({
      where: "ClusterRunner.layer",
      option: "lanes",
      value: String(lanes).slice(0, 40),
      expected: "a positive integer"
    })
  }
  return Layer.effect(Runner.Runner, makeRunner(group as unknown as Task.Group<Task.Any>, options)).pipe(
    Layer.provide(clusterLayer(options, true)),
    Layer.catchCause((cause): Layer.Layer<Runner.Runner, Database.DatabaseUnreachable> => failAtStart<Runner.Runner>(cause))
  )
}

/** A cluster layer's start-up failure: the database error as it is, anything else a defect. */
const failAtStart = <A = never>(cause: Cause.Cause<unknown>): Layer.Layer<A, Database.DatabaseUnreachable> => {
  const error = Cause.findErrorOption(cause)
  const failed = Option.isSome(error) && error.value instanceof Database.DatabaseUnreachable
    ? Layer.effectDiscard(Effect.fail(error.value))
    : Layer.effectDiscard(Effect.failCause(cause as Cause.Cause<never>))
  // a layer that never builds provides whatever it is asked to
  return failed as unknown as Layer.Layer<A, Database.DatabaseUnreachable>
}

const handlersFor = <T extends Task.Any>(
  group: Task.Group<T>,
  runner: Runner.RunnerShape,
  graceMs: number
) =>
  Object.fromEntries(group.tasks.map((task) => [
    task.name,
    ({ payload }: { readonly payload: Protocol.Envelope }) => {
      const call = runner.run(task, payload.input)
      if (payload.remainingMs === undefined) return call
      return call.pipe(Effect.timeoutOrElse({
        duration: payload.remainingMs + graceMs,
        orElse: () => Effect.fail(new Runner.TaskTimeout({ task: task.name, timeout: payload.remainingMs ?? 0 }))
      }))
    }
  ]))

/**
 * A runner process: hosts the entity of `group` on this process's cores and keeps
 * serving until interrupted (`Layer.launch` it). Several runners on one host need
 * distinct ports.
 *
 * @example
 * ```ts
 * import { ClusterRunner } from "@hybrid/cluster"
 * import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
 * import { Layer } from "effect"
 * import { Tasks } from "./primes.ts"
 *
 * Layer.launch(ClusterRunner.serve(Tasks, {
 *   database: "postgres://postgres@127.0.0.1:5432/test",
 *   port: 34431,
 *   worker: new URL("./primes.worker.ts", import.meta.url)
 * })).pipe(NodeRuntime.runMain)
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const serve = <T extends Task.Any>(
  group: Task.Group<T>,
  options: ServeOptions<T>
): Layer.Layer<never, Database.DatabaseUnreachable | RunnerPortInUse, never> => {
  const host = options.host ?? "127.0.0.1"
  const port = options.port ?? defaults.port
  const entity = Protocol.entityOf(options.entityType ?? defaults.entityType, group as unknown as Task.Group<Task.Any>, options.persisted ?? "none")
  const graceMs = options.deadlineGrace === undefined ? 250 : Duration.toMillis(Duration.fromInputUnsafe(options.deadlineGrace))
  const local: Layer.Layer<Runner.Runner, unknown> = options.handlers === undefined
    ? NodeRunner.layer(group, poolOptions(options as NodeRunner.Options & ClusterOptions))
    : Runner.layerInProcess(group, options.handlers)
  const entityLayer = entity.toLayer(
    Effect.gen(function*() {
      return handlersFor(group, yield* Runner.Runner, graceMs) as never
    }),
    { concurrency: "unbounded", mailboxCapacity: "unbounded" }
  ) as Layer.Layer<never, never, Runner.Runner | Sharding.Sharding>
  return entityLayer.pipe(
    Layer.provide(local),
    Layer.provide(clusterLayer(options, false, RunnerAddress.make(host, port))),
    Layer.catchCause((cause): Layer.Layer<never, Database.DatabaseUnreachable | RunnerPortInUse> =>
      isPortInUse(Cause.findErrorOption(cause))
        ? Layer.effectDiscard(Effect.fail(new RunnerPortInUse({ host, port })))
        : failAtStart(cause)
    )
  ) as Layer.Layer<never, Database.DatabaseUnreachable | RunnerPortInUse>
}

/** The `NodeRunner` options among a runner's options. */
const poolOptions = (options: NodeRunner.Options & ClusterOptions & { readonly host?: unknown; readonly port?: unknown; readonly deadlineGrace?: unknown }): NodeRunner.Options => {
  const { database: _d, prefix: _p, entityType: _e, persisted: _s, sharding: _h, host: _o, port: _t, deadlineGrace: _g, ...pool } =
    options
  return pool
}

/** A `SocketServerError` whose reason is an `EADDRINUSE` open error. */
const isPortInUse = (error: Option.Option<unknown>): boolean => {
  if (Option.isNone(error)) return false
  const e = error.value as { _tag?: unknown; reason?: { _tag?: unknown; cause?: { code?: unknown } } }
  return e._tag === "SocketServerError" && e.reason?._tag === "SocketServerOpenError" &&
    e.reason.cause?.code === "EADDRINUSE"
}

/**
 * Drops every table of a cluster (`<prefix>_*`): for tests and benchmarks that make a
 * cluster per run, and for retiring one. Run it when no runner or caller uses the prefix.
 *
 * @example
 * ```ts
 * import { ClusterRunner } from "@hybrid/cluster"
 *
 * const cleanUp = ClusterRunner.dropTables({ database: "postgres://postgres@127.0.0.1:5432/test", prefix: "hc_test_1" })
 * ```
 *
 * @since 0.1.0
 * @category utils
 */
export const dropTables = (
  options: Pick<ClusterOptions, "database" | "prefix">
): Effect.Effect<void, Database.DatabaseUnreachable> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient
    const pattern = (options.prefix ?? defaults.prefix).replace(/[\\_%]/g, "\\$&") + "\\_%"
    const rows = yield* sql<{ tablename: string }>`SELECT tablename FROM pg_tables WHERE tablename LIKE ${pattern}`
    for (const { tablename } of rows) yield* sql.unsafe(`DROP TABLE IF EXISTS "${tablename.replaceAll('"', '""')}" CASCADE`)
  }).pipe(
    Effect.catchTag("SqlError", (error) =>
      Effect.fail(new Database.DatabaseUnreachable({ url: Database.displayUrl(plainUrl(options.database)), reason: error.message.slice(0, 200) }))),
    Effect.provide(Database.layer(options.database))
  )

const plainUrl = (url: string | Redacted.Redacted<string>): string => typeof url === "string" ? url : Redacted.value(url)

/**
 * A runner process could not listen on its port.
 *
 * @example
 * ```ts
 * import { ClusterRunner } from "@hybrid/cluster"
 *
 * console.log(new ClusterRunner.RunnerPortInUse({ host: "127.0.0.1", port: 34431 }).message)
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class RunnerPortInUse extends Schema.TaggedError<RunnerPortInUse>()("RunnerPortInUse", {
  host: Schema.String,
  port: Schema.Number
}) {
  override get message(): string {
    return `cannot listen on ${this.host}:${this.port}: the port is in use`
  }
}
