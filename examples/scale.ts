/**
 * `--scale x` for every lesson: multiplies each simulated latency, so CI can run all the
 * lessons in seconds (`--scale 0.05`) while a learner sees the real timings (`--scale 1`).
 */
import { Duration } from "effect"

const parse = (): number => {
  const at = process.argv.indexOf("--scale")
  if (at < 0) return 1
  const raw = process.argv[at + 1]
  const value = Number(raw)
  if (raw === undefined || !Number.isFinite(value) || value <= 0) {
    console.error(`--scale must be a positive number, got ${raw === undefined ? "nothing" : JSON.stringify(raw)}`)
    process.exit(2)
  }
  return value
}

export const scale = parse()

/** A simulated latency of `ms` milliseconds at scale 1. */
export const ms = (millis: number): Duration.Duration => Duration.millis(millis * scale)

/** Formats a measured duration in seconds at the current scale, e.g. "1.00 s". */
export const seconds = (d: Duration.Duration): string => `${(Duration.toMillis(d) / 1000).toFixed(2)} s`
