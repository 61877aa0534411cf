/**
 * `hybrid runner [--database-url url] [--host 127.0.0.1] [--port 34431] [--workers n]` —
 * a runner process of a cluster: hosts the agent's processing tasks (`ClusterRunner.serve`)
 * on a local pool of worker threads and serves them until SIGTERM / SIGINT.
 * `hybrid batch --cluster` and `hybrid serve --cluster` then send their CPU work to the
 * cluster's runners, found through the same database.
 *
 * The database comes from `--database-url`, else `HYBRID_DATABASE_URL`; table prefix,
 * lanes and persisted tasks from `HYBRID_CLUSTER_*` (see `ClusterRunner.config`), shard
 * lease and the rest of Effect's `ShardingConfig` from its own variables
 * (`SHARD_LOCK_EXPIRATION`, …). An unreachable database is reported naming the URL without
 * its password; a port in use names host and port; both exit 1.
 *
 * @since 0.1.0
 */
import { Console, Effect, Layer, Option, Redacted } from "effect"
import { Command, Flag } from "effect/cli"
import * as os from "node:os"
import * as Processing from "../processing/Processing.ts"
import { Tasks } from "../processing/tasks.ts"
import { InvalidInput, loadClusterRunner, port, positiveInt, reported } from "./shared.ts"

/**
 * @since 0.1.0
 * @category commands
 */
export const runner = Command.make(
  "runner",
  {
    databaseUrl: Flag.String("database-url").pipe(
      Flag.withDescription("PostgreSQL URL of the cluster (default: HYBRID_DATABASE_URL)"),
      Flag.optional
    ),
    host: Flag.String("host").pipe(Flag.withDescription("address other runners and callers reach this one at"), Flag.withDefault("127.0.0.1")),
    port: port(1).pipe(Flag.withDescription("port of this runner's socket server"), Flag.withDefault(34_431)),
    workers: positiveInt("workers").pipe(Flag.withDescription("worker threads of this runner (default: the machine's cores)"), Flag.optional)
  },
  Effect.fn("hybrid.runner")(function*(flags) {
    const ClusterRunner = yield* loadClusterRunner
    // without HYBRID_DATABASE_URL the flag must give the database
    const configured = yield* ClusterRunner.config.pipe(Effect.orElseSucceed(() => undefined))
    const database = Option.isSome(flags.databaseUrl) ? Redacted.make(flags.databaseUrl.value) : configured?.database
    if (database === undefined) {
      return yield* new InvalidInput({
        flag: "--database-url",
        value: "",
        reason: "hybrid runner needs a database: pass --database-url or set HYBRID_DATABASE_URL"
      })
    }
    const size = Option.getOrElse(flags.workers, () => os.availableParallelism())
    const served = ClusterRunner.serve(Tasks, {
      ...configured,
      database,
      host: flags.host,
      port: flags.port,
      worker: Processing.worker,
      size
    })
    yield* Console.log(`hybrid runner: serving the processing tasks on ${flags.host}:${flags.port} with ${size} workers`)
    return yield* Layer.launch(served)
  }, reported("runner"))
)
