/**
 * The PostgreSQL connection of a cluster: its URL checked and shown without its password,
 * and a failure to reach it turned into one typed error at start.
 */
import { PgClient } from "@effect/sql-pg"
import { Effect, Layer, Redacted, Schema } from "effect"
import type { SqlClient } from "effect/sql/SqlClient"

/**
 * The cluster's database could not be reached (or its URL is not a PostgreSQL URL).
 * `url` never holds the password.
 *
 * @since 0.1.0
 * @category errors
 */
export class DatabaseUnreachable extends Schema.TaggedError<DatabaseUnreachable>()("DatabaseUnreachable", {
  /** The database URL without its password. */
  url: Schema.String,
  /** What went wrong, from the driver (at most 200 characters). */
  reason: Schema.String
}) {
  override get message(): string {
    return `cannot reach the cluster database ${this.url}: ${this.reason}`
  }
}

/** `url` without its password (and without anything past 200 characters). */
export const displayUrl = (url: string): string => {
  try {
    const parsed = new URL(url)
    if (parsed.password !== "") parsed.password = "***"
    return parsed.toString().slice(0, 200)
  } catch {
    return "(not a URL)"
  }
}

/** Checks that `url` is a `postgres://` / `postgresql://` URL. */
export const checkUrl = (url: string): Effect.Effect<string, DatabaseUnreachable> => {
  let protocol: string
  try {
    protocol = new URL(url).protocol
  } catch {
    return Effect.fail(new DatabaseUnreachable({ url: displayUrl(url), reason: "not a URL" }))
  }
  return protocol === "postgres:" || protocol === "postgresql:"
    ? Effect.succeed(url)
    : Effect.fail(
      new DatabaseUnreachable({ url: displayUrl(url), reason: `expected postgres:// or postgresql://, got ${protocol}` })
    )
}

/**
 * The `SqlClient` of the cluster: a small pool (the cluster's own queries are few and
 * short), checked with one query at start so that a wrong URL fails here, named.
 */
export const layer = (
  url: string | Redacted.Redacted<string>,
  options?: { readonly maxConnections?: number | undefined }
): Layer.Layer<SqlClient, DatabaseUnreachable> => {
  const plain = Redacted.isRedacted(url) ? Redacted.value(url) : url
  const fail = (cause: unknown) =>
    new DatabaseUnreachable({
      url: displayUrl(plain),
      reason: String((cause as { message?: unknown })?.message ?? cause).replaceAll(plain, displayUrl(plain)).slice(0, 200)
    })
  return Layer.unwrap(Effect.map(checkUrl(plain), () =>
    PgClient.layerFrom(
      PgClient.make({
        url: Redacted.make(plain),
        maxConnections: options?.maxConnections ?? 4,
        connectTimeout: "5 seconds"
      }).pipe(
        Effect.tap((client) => client`SELECT 1`),
        Effect.mapError(fail)
      )
    )
  ))
}
