/**
 * `Batch`'s progress display: a live line on a TTY, plain periodic lines otherwise, and a
 * summary at the end. Rendering is pure; printing goes to a `Writer` (stderr by default).
 */
import { Effect, Schedule } from "effect"

/** @internal */
export interface Counters {
  total: number
  skipped: number
  ok: number
  failed: number
  inFlight: number
}

/** @internal */
export interface Writer {
  readonly isTTY: boolean
  readonly write: (text: string) => void
}

/** @internal */
export const stderr: Writer = {
  get isTTY() {
    return process.stderr.isTTY === true
  },
  write: (text) => void process.stderr.write(text)
}

const duration = (ms: number): string => {
  if (!Number.isFinite(ms)) return "?"
  const s = Math.round(ms / 1000)
  if (s < 60) return `${s}s`
  const m = Math.floor(s / 60)
  if (m < 60) return `${m}m${String(s % 60).padStart(2, "0")}s`
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, "0")}m`
}

/** `done 120/1000 · failed 3 · in flight 8 · 4.2/s · ETA 3m20s` */
export const render = (c: Counters, elapsedMs: number): string => {
  const finished = c.ok + c.failed
  const todo = c.total - c.skipped
  const rate = elapsedMs > 0 ? finished / (elapsedMs / 1000) : 0
  const eta = rate > 0 ? ((todo - finished) / rate) * 1000 : Number.POSITIVE_INFINITY
  const skipped = c.skipped > 0 ? ` (+${c.skipped} skipped)` : ""
  return `done ${finished}/${todo}${skipped} · failed ${c.failed} · in flight ${c.inFlight} · ${rate.toFixed(1)}/s · ETA ${
    finished >= todo ? "0s" : duration(eta)
  }`
}

/** The end-of-run summary line. */
export const summary = (c: Counters, elapsedMs: number, tokens: { reserved: number; used: number }): string =>
  `batch: ${c.ok} ok, ${c.failed} failed, ${c.skipped} skipped of ${c.total} lines in ${duration(elapsedMs)}` +
  (tokens.reserved > 0 ? ` · tokens reserved ${tokens.reserved}, used ${tokens.used}` : "")

/** Prints the progress every `every` ms until interrupted: `\r`-rewritten on a TTY, one line each otherwise. */
export const display = (
  writer: Writer,
  counters: Counters,
  elapsed: Effect.Effect<number>,
  every: number
): Effect.Effect<void> => {
  const tty = writer.isTTY
  const tick = Effect.flatMap(elapsed, (ms) =>
    Effect.sync(() => writer.write(tty ? `\r\x1b[2K${render(counters, ms)}` : `${render(counters, ms)}\n`)))
  return Effect.repeat(tick, Schedule.spaced(tty ? Math.min(every, 250) : every)).pipe(
    Effect.asVoid,
    Effect.ensuring(tty ? Effect.sync(() => writer.write("\r\x1b[2K")) : Effect.void)
  )
}
