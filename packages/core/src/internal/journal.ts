/**
 * `Batch`'s journal and output files: an append-only JSONL journal, fsynced per finished
 * line before the line counts as done, and the JSONL output, which is always rebuildable
 * from the journal.
 *
 * Crash safety, by write order: a result goes to the journal (append + fsync) first, then
 * to the output. A crash between the two leaves a journal record the output lacks; a crash
 * mid-write leaves a torn last line. `load` tolerates torn lines, and a resume rewrites both
 * files from the journal (write to a temporary file, fsync, rename), so the output ends up
 * with every finished line exactly once.
 */
import { Effect, FileSystem, Schema, Scope } from "effect"
import type { PlatformError } from "effect/PlatformError"

/**
 * The input file does not exist (or cannot be read).
 */
export class InputNotFound extends Schema.TaggedError<InputNotFound>()("InputNotFound", {
  path: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `batch input ${this.path} cannot be read: ${this.reason}`
  }
}

/**
 * The output or the journal cannot be written.
 */
export class OutputNotWritable extends Schema.TaggedError<OutputNotWritable>()("OutputNotWritable", {
  path: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `batch output ${this.path} cannot be written: ${this.reason}`
  }
}

/** One finished line, as the journal keeps it. The output line is the same minus `key`. */
export const Entry = Schema.Struct({
  key: Schema.String,
  line: Schema.Int,
  ok: Schema.Boolean,
  value: Schema.optionalKey(Schema.Unknown),
  error: Schema.optionalKey(Schema.Unknown),
  attempts: Schema.Int,
  ms: Schema.Finite
})
export type Entry = typeof Entry.Type

const decodeEntry = Schema.decodeUnknownExit(Schema.fromJsonString(Entry))

const reason = (e: PlatformError): string => e.message

/** The output line of an entry. */
export const outputLine = (entry: Entry): string => {
  const { key: _key, ...rest } = entry
  return JSON.stringify(rest) + "\n"
}

/** The journal line of an entry. */
export const journalLine = (entry: Entry): string => JSON.stringify(entry) + "\n"

/** Reads a journal, skipping torn or foreign lines; the last record of a key wins. */
export const load = (fs: FileSystem.FileSystem, path: string): Effect.Effect<Map<string, Entry>, OutputNotWritable> =>
  Effect.gen(function*() {
    const entries = new Map<string, Entry>()
    if (!(yield* fs.exists(path).pipe(Effect.orElseSucceed(() => false)))) return entries
    const text = yield* fs.readFileString(path).pipe(
      Effect.mapError((e) => new OutputNotWritable({ path, reason: reason(e) }))
    )
    for (const line of text.split("\n")) {
      if (line.trim() === "") continue
      const exit = decodeEntry(line)
      if (exit._tag === "Success") entries.set(exit.value.key, exit.value)
    }
    return entries
  })

const encoder = new TextEncoder()

/** Replaces `path` with `text` atomically and durably: temporary file, fsync, rename. */
export const replace = (fs: FileSystem.FileSystem, path: string, text: string): Effect.Effect<void, OutputNotWritable> => {
  const tmp = `${path}.tmp-${process.pid}`
  return Effect.scoped(Effect.gen(function*() {
    const file = yield* fs.open(tmp, { flag: "w" })
    yield* file.writeAll(encoder.encode(text))
    yield* file.sync
  })).pipe(
    Effect.andThen(fs.rename(tmp, path)),
    Effect.mapError((e) => new OutputNotWritable({ path, reason: reason(e) }))
  )
}

/** Appends finished entries: journal (write + fsync), then output. */
export interface Appender {
  readonly append: (entry: Entry) => Effect.Effect<void, OutputNotWritable>
}

/** Opens the journal and the output for appending, for the life of the scope. */
export const appender = (
  fs: FileSystem.FileSystem,
  journalPath: string,
  outputPath: string
): Effect.Effect<Appender, OutputNotWritable, Scope.Scope> =>
  Effect.gen(function*() {
    const journal = yield* fs.open(journalPath, { flag: "a" }).pipe(
      Effect.mapError((e) => new OutputNotWritable({ path: journalPath, reason: reason(e) }))
    )
    const output = yield* fs.open(outputPath, { flag: "a" }).pipe(
      Effect.mapError((e) => new OutputNotWritable({ path: outputPath, reason: reason(e) }))
    )
    return {
      append: (entry) =>
        Effect.gen(function*() {
          yield* journal.writeAll(encoder.encode(journalLine(entry))).pipe(
            Effect.andThen(journal.sync),
            Effect.mapError((e) => new OutputNotWritable({ path: journalPath, reason: reason(e) }))
          )
          yield* output.writeAll(encoder.encode(outputLine(entry))).pipe(
            Effect.mapError((e) => new OutputNotWritable({ path: outputPath, reason: reason(e) }))
          )
        })
    }
  })
