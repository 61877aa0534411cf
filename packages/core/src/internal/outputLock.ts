/**
 * `Batch`'s ownership of its output: an exclusive lock file per run, taken atomically.
 *
 * The lock is `<path>.lock`, a JSON record `{ pid, host, startedAt, token }`. It is taken
 * by writing the record to a private temporary file and hard-linking that to the lock
 * path: `link` fails if the lock exists, so exactly one process wins, and the lock is
 * never seen half-written. It is removed when the run's scope closes (success, failure,
 * Ctrl-C), and only if it is still ours (same `token`).
 *
 * A lock whose holder is gone (SIGKILL, power loss) is *stale*: when the holder is on
 * this host and its pid no longer exists, the lock is broken (renamed aside, checked,
 * removed) and the run goes on, reporting what it removed. A holder on another host
 * cannot be checked: the run fails with `OutputLocked` naming it, and the user removes
 * the file if that host is really gone.
 *
 * Why by hand rather than `proper-lockfile`: that package decides staleness by mtime,
 * which needs a timer refreshing the lock for the whole run and a threshold to tune, and
 * it does not say who holds the lock; a pid + host record answers "who?" exactly and
 * needs no refresh. `flock(2)` is not reachable from Node without a native addon.
 *
 * Gotchas:
 * - A pid reused by an unrelated process makes a stale lock look live (safe side: the run
 *   refuses, naming the pid and start time, so the user can tell).
 * - Two processes breaking the same stale lock at the same moment: the break renames the
 *   lock to a name private to the breaker and removes it only if it is still the stale
 *   record it read; otherwise it puts it back.
 */
import { Effect, FileSystem, Option, Schema, Scope } from "effect"
import { randomUUID } from "node:crypto"
import * as os from "node:os"
import type { PlatformError } from "effect/PlatformError"

/** Who holds a lock. */
export const Holder = Schema.Struct({
  pid: Schema.Int,
  host: Schema.String,
  startedAt: Schema.String,
  token: Schema.String
})
export type Holder = typeof Holder.Type

const decodeHolder = Schema.decodeUnknownOption(Schema.fromJsonString(Holder))

/**
 * Another run holds the output: `holder` says which process, on which host, since when.
 */
export class OutputLocked extends Schema.TaggedError<OutputLocked>()("OutputLocked", {
  path: Schema.String,
  lock: Schema.String,
  pid: Schema.Int,
  host: Schema.String,
  startedAt: Schema.String
}) {
  override get message(): string {
    const where = this.host === os.hostname() ? "" : ` on host ${this.host}`
    return `batch output ${this.path} is in use by pid ${this.pid}${where} (running since ${this.startedAt}); ` +
      `wait for that run to finish or choose another output (lock: ${this.lock})`
  }
}

/** The lock could not be created or read for another reason than a holder. */
export class LockFailed extends Schema.TaggedError<LockFailed>()("LockFailed", {
  lock: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `cannot take the batch lock ${this.lock}: ${this.reason}`
  }
}

/** A stale lock this run removed. */
export interface Broken {
  readonly lock: string
  readonly holder: Holder
}

/** Whether `pid` is a running process on this host (EPERM: it exists, not ours). */
export const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM"
  }
}

const isTag = (tag: string) => (e: PlatformError) => e.reason._tag === tag

/** Fails with `OutputLocked` when a live run holds `<path>.lock` now (reads only: no lock is taken or broken). */
export const check = (fs: FileSystem.FileSystem, path: string): Effect.Effect<void, OutputLocked> => {
  const lock = `${path}.lock`
  return fs.readFileString(lock).pipe(
    Effect.map((raw) => decodeHolder(raw)),
    Effect.orElseSucceed(() => Option.none<Holder>()),
    Effect.flatMap((holder) =>
      holder._tag === "Some" && (holder.value.host !== os.hostname() || isAlive(holder.value.pid))
        ? Effect.fail(new OutputLocked({ path, lock, pid: holder.value.pid, host: holder.value.host, startedAt: holder.value.startedAt }))
        : Effect.void
    )
  )
}

/**
 * Takes `<path>.lock` for the life of the current scope. Fails with `OutputLocked` when
 * a live run holds it; breaks (and returns) a stale one.
 */
export const acquire = (
  fs: FileSystem.FileSystem,
  path: string,
  now: () => Date
): Effect.Effect<ReadonlyArray<Broken>, OutputLocked | LockFailed, Scope.Scope> => {
  const lock = `${path}.lock`
  const me: Holder = { pid: process.pid, host: os.hostname(), startedAt: now().toISOString(), token: randomUUID() }
  const failed = (e: { readonly message: string }) => new LockFailed({ lock, reason: e.message })
  const tmp = `${lock}.${me.token}`

  /** One try: `true` when taken, else the holder's record (`undefined` if it vanished). */
  const tryTake: Effect.Effect<true | { readonly raw: string; readonly holder: Holder | undefined } | undefined, LockFailed> =
    fs.link(tmp, lock).pipe(
      Effect.as(true as const),
      Effect.catchIf(isTag("AlreadyExists"), () =>
        fs.readFileString(lock).pipe(
          Effect.map((raw) => ({ raw, holder: decodeHolder(raw).pipe((o) => (o._tag === "Some" ? o.value : undefined)) })),
          Effect.catchIf(isTag("NotFound"), () => Effect.succeed(undefined))
        )),
      Effect.mapError(failed)
    )

  /** Breaks a stale lock whose content is `raw`: rename aside, check, remove (or put back). */
  const breakStale = (raw: string) => {
    const aside = `${lock}.stale-${me.token}`
    return fs.rename(lock, aside).pipe(
      Effect.andThen(fs.readFileString(aside)),
      Effect.flatMap((seen) =>
        seen === raw
          ? fs.remove(aside)
          // someone else's lock replaced the stale one meanwhile: put it back
          : fs.link(aside, lock).pipe(Effect.ignore, Effect.andThen(fs.remove(aside)))
      ),
      Effect.catchIf(isTag("NotFound"), () => Effect.void),
      Effect.mapError(failed)
    )
  }

  const rounds = Effect.gen(function*() {
    const broken: Array<Broken> = []
    for (let round = 0; round < 5; round++) {
      const result = yield* tryTake
      if (result === true) return broken
      if (result === undefined) continue // released meanwhile: try again
      const holder = result.holder
      if (holder === undefined) {
        return yield* new LockFailed({ lock, reason: "it exists but is not a Batch lock record; remove it if no run is using the output" })
      }
      if (holder.host === me.host && !isAlive(holder.pid)) {
        yield* breakStale(result.raw)
        broken.push({ lock, holder })
        continue
      }
      return yield* new OutputLocked({ path, lock, pid: holder.pid, host: holder.host, startedAt: holder.startedAt })
    }
    return yield* new LockFailed({ lock, reason: "contended: gave up after 5 tries" })
  })

  const take = fs.writeFileString(tmp, JSON.stringify(me) + "\n").pipe(
    Effect.mapError(failed),
    Effect.andThen(rounds.pipe(Effect.ensuring(Effect.ignore(fs.remove(tmp)))))
  )

  const release = fs.readFileString(lock).pipe(
    Effect.flatMap((raw) => (decodeHolder(raw).pipe((o) => o._tag === "Some" && o.value.token === me.token) ? fs.remove(lock) : Effect.void)),
    Effect.ignore
  )

  return Effect.acquireRelease(take, () => release)
}
