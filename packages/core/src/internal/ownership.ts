/**
 * What `Batch` checks before it touches its output: that the input is not the output
 * (nor the journal) under another name, and that a fresh run would not silently throw
 * away an earlier run's results — plus the `overwrite` that keeps them as `.bak`.
 */
import { Effect, FileSystem, Option, Schema } from "effect"
import * as nodePath from "node:path"

/**
 * The input and the output (or the journal) are one file: writing would destroy the
 * input. `reason` says how they were found to be the same.
 */
export class InputIsOutput extends Schema.TaggedError<InputIsOutput>()("InputIsOutput", {
  input: Schema.String,
  output: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `batch input ${this.input} and output ${this.output} are the same file (${this.reason}); ` +
      `write the results somewhere else`
  }
}

/**
 * A fresh run (neither `resume` nor `retryFailed`) found an earlier run's results in
 * `path`. Nothing was changed.
 */
export class OutputExists extends Schema.TaggedError<OutputExists>()("OutputExists", {
  path: Schema.String,
  bytes: Schema.Number
}) {
  override get message(): string {
    return `batch output ${this.path} already holds ${this.bytes} bytes from an earlier run, and nothing was changed: ` +
      `resume it (--resume) to skip the lines done, retry its failures (--retry-failed), ` +
      `or start afresh with --overwrite (the old files are kept as .bak)`
  }
}

/** The real path of `path`, or of its directory joined with its name when it does not exist yet. */
const realish = (fs: FileSystem.FileSystem, path: string): Effect.Effect<string> => {
  const absolute = nodePath.resolve(path)
  return fs.realPath(absolute).pipe(
    Effect.catch(() =>
      fs.realPath(nodePath.dirname(absolute)).pipe(
        Effect.map((dir) => nodePath.join(dir, nodePath.basename(absolute))),
        Effect.orElseSucceed(() => absolute)
      )
    )
  )
}

const identity = (fs: FileSystem.FileSystem, path: string) =>
  fs.stat(path).pipe(
    Effect.map((info) => Option.map(info.ino, (ino) => ({ dev: info.dev, ino }))),
    Effect.orElseSucceed(() => Option.none<{ readonly dev: bigint; readonly ino: bigint }>())
  )

/** Fails with `InputIsOutput` when `input` and `target` are one file: same real path (symlinks resolved), or hard links (same device and inode). */
export const checkDistinct = (
  fs: FileSystem.FileSystem,
  input: string,
  target: string
): Effect.Effect<void, InputIsOutput> =>
  Effect.gen(function*() {
    const a = yield* realish(fs, input)
    const b = yield* realish(fs, target)
    if (a === b) {
      return yield* new InputIsOutput({ input, output: target, reason: a === nodePath.resolve(input) && a === nodePath.resolve(target) ? "the same path" : `both resolve to ${a}` })
    }
    const ia = yield* identity(fs, input)
    const ib = yield* identity(fs, target)
    if (Option.isSome(ia) && Option.isSome(ib) && ia.value.dev === ib.value.dev && ia.value.ino === ib.value.ino) {
      return yield* new InputIsOutput({ input, output: target, reason: `hard links to one file (device ${ia.value.dev}, inode ${ia.value.ino})` })
    }
  })

const sizeOf = (fs: FileSystem.FileSystem, path: string): Effect.Effect<number> =>
  fs.stat(path).pipe(Effect.map((info) => Number(info.size)), Effect.orElseSucceed(() => 0))

/** Fails with `OutputExists` when any of `paths` exists and is not empty. */
export const checkFresh = (fs: FileSystem.FileSystem, paths: ReadonlyArray<string>): Effect.Effect<void, OutputExists> =>
  Effect.forEach(paths, (path) =>
    Effect.flatMap(sizeOf(fs, path), (bytes) => (bytes > 0 ? Effect.fail(new OutputExists({ path, bytes })) : Effect.void)), { discard: true })

/** Moves every non-empty file of `paths` to `<path>.bak` (replacing an older `.bak`); returns the backups made. */
export const backup = <E>(
  fs: FileSystem.FileSystem,
  paths: ReadonlyArray<string>,
  onError: (path: string, reason: string) => E
): Effect.Effect<ReadonlyArray<string>, E> =>
  Effect.forEach(paths, (path) =>
    Effect.flatMap(sizeOf(fs, path), (bytes) =>
      bytes === 0
        ? Effect.succeed([])
        : fs.rename(path, `${path}.bak`).pipe(
          Effect.as([`${path}.bak`]),
          Effect.mapError((e) => onError(path, e.message))
        ))).pipe(Effect.map((lists) => lists.flat()))
