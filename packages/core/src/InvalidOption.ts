/**
 * The error every Hybrid constructor throws when it is given an option it cannot use.
 *
 * Options are checked when a combinator is *built* (`Retry.policy`, `Limit.bulkhead`, …),
 * not when it first runs, so a typo in a configuration fails at start-up with a message
 * that names the option and the value instead of misbehaving under load.
 *
 * @example
 * ```ts
 * import { InvalidOption, Limit } from "@hybrid/core"
 *
 * try {
 *   Limit.concurrency(-1)
 * } catch (e) {
 *   if (e instanceof InvalidOption) console.log(e.message)
 *   // Limit.concurrency: option "n" must be a positive integer, got -1
 * }
 * ```
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"

/**
 * A Hybrid constructor rejected an option: `where` (the constructor), `option`, the
 * `value` and what it must be (`expected`). Constructors throw it — a defect inside an
 * `Effect` — so a bad setting fails at start-up with a message a person can act on.
 *
 * @example
 * ```ts
 * import { InvalidOption, Retry } from "@hybrid/core"
 *
 * try {
 *   Retry.policy({ times: -1 })
 * } catch (e) {
 *   if (e instanceof InvalidOption) console.error(e.message) // Retry.policy: option "times" must be …
 * }
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidOption extends Schema.TaggedError<InvalidOption>()("InvalidOption", {
  /** The combinator that rejected the option, e.g. `"Retry.policy"`. */
  where: Schema.String,
  /** The option's name, e.g. `"times"`. */
  option: Schema.String,
  /** The rejected value, rendered for the message. */
  value: Schema.String,
  /** What the option must be. */
  expected: Schema.String
}) {
  override get message(): string {
    return `${this.where}: option "${this.option}" must be ${this.expected}, got ${this.value}`
  }
}
