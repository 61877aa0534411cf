/**
 * Validation of combinator options, shared by every module: each check throws an
 * `InvalidOption` naming the combinator, the option and the value.
 */
import * as Duration from "effect/Duration"
import { InvalidOption } from "../InvalidOption.ts"

const render = (value: unknown): string => {
  if (typeof value === "string") return JSON.stringify(value)
  if (typeof value === "number" || typeof value === "boolean" || value === undefined || value === null) {
    return String(value)
  }
  if (Duration.isDuration(value)) return Duration.format(value)
  try {
    return JSON.stringify(value) ?? String(value)
  } catch {
    return String(value)
  }
}

/** Throws `InvalidOption` for `value` of `option`, rendered for the message. */
export const reject = (where: string, option: string, value: unknown, expected: string): never => {
  throw new InvalidOption({ where, option, value: render(value), expected })
}

/** An integer ≥ `min` (default 1). */
export const integer = (where: string, option: string, value: number, min = 1): number =>
  typeof value === "number" && Number.isInteger(value) && value >= min
    ? value
    : reject(where, option, value, min === 1 ? "a positive integer" : `an integer ≥ ${min}`)

/** A finite number ≥ `min` (default 0). */
export const finite = (where: string, option: string, value: number, min = 0): number =>
  typeof value === "number" && Number.isFinite(value) && value >= min
    ? value
    : reject(where, option, value, `a finite number ≥ ${min}`)

/** A number in [0, 1]. */
export const ratio = (where: string, option: string, value: number): number =>
  typeof value === "number" && value >= 0 && value <= 1
    ? value
    : reject(where, option, value, "a number between 0 and 1")

/** A finite, non-negative duration (positive when `positive` is set), in milliseconds. */
export const duration = (
  where: string,
  option: string,
  value: Duration.Input,
  positive = false
): number => {
 // Duration.fromInput turns NaN into zero: check plain numbers first
  const parsed = typeof value === "number" && Number.isNaN(value) ? undefined : Duration.fromInput(value)
  if (parsed !== undefined && parsed._tag === "Some" && Duration.isFinite(parsed.value)) {
    const millis = Duration.toMillis(parsed.value)
    if (!Number.isNaN(millis) && (positive ? millis > 0 : millis >= 0)) return millis
  }
  return reject(where, option, value, positive ? "a finite positive duration" : "a finite duration ≥ 0")
}

/** One of the listed literals. */
export const oneOf = <const L extends string>(
  where: string,
  option: string,
  value: L,
  allowed: ReadonlyArray<L>
): L => allowed.includes(value) ? value : reject(where, option, value, `one of ${allowed.map((a) => `"${a}"`).join(", ")}`)

/** `min ≤ max`, for options that bound each other. */
export const ordered = (where: string, minName: string, min: number, maxName: string, max: number): void => {
  if (min > max) reject(where, `${minName}`, min, `≤ ${maxName} (${max})`)
}
