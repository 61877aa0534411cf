/**
 * Run many effects at once and collect them — asyncio's `gather`, `as_completed` and
 * "first to answer" as Effect values.
 *
 * | asyncio                              | Gather              | result                               |
 * |--------------------------------------|---------------------|--------------------------------------|
 * | `gather(*aws)`                       | `all`               | values in input order; fail-fast     |
 * | `gather(*aws, return_exceptions=True)` | `settle`          | one `Exit` per input, in input order |
 * | `as_completed(aws)`                  | `asCompleted`       | `Stream` of `{ index, exit }`        |
 * | (first completed, cancel the rest)   | `first`             | first success; `AllFailed` otherwise |
 *
 * Concurrency is **unbounded by default**, as in asyncio — Effect's own `Effect.all` /
 * `Effect.forEach` default to *sequential*, a trap for newcomers. Pass
 * `{ concurrency: n }` to bound it (and see `Limit` for limits shared between calls).
 *
 * Underneath: `Effect.all`, `Effect.exit`, `Stream.mapEffect({ unordered: true })` and
 * `Effect.raceAll`. Nothing here is written by hand except the options check and the
 * collection of every error for `first`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Gather } from "@hybrid/core"
 *
 * const fetch = (name: string, ms: number) => Effect.sleep(ms).pipe(Effect.as(name))
 * const program = Effect.gen(function*() {
 *   const [a, b] = yield* Gather.all([fetch("a", 200), fetch("b", 100)]) // ~200 ms, ["a", "b"]
 *   const exits = yield* Gather.settle([fetch("c", 10), Effect.fail("boom")])
 *   return [a, b, exits.map((e) => e._tag)]               // ["a", "b", ["Success", "Failure"]]
 * })
 * ```
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as options from "./internal/options.ts"

/**
 * How many effects run at once: a positive integer, or `"unbounded"` (the default).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Gather } from "@hybrid/core"
 *
 * const concurrency: Gather.Concurrency = 4
 * const pages = Gather.all([1, 2, 3].map((n) => Effect.succeed(n)), { concurrency })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type Concurrency = number | "unbounded"

/**
 * The options of `all`, `settle` and `asCompleted`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Gather } from "@hybrid/core"
 *
 * const bounded: Gather.Options = { concurrency: 8 }
 * const results = Gather.settle(["a", "b"].map((id) => Effect.succeed(id)), bounded)
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly concurrency?: Concurrency | undefined
}

/**
 * Every effect given to `first` failed. `errors` holds each one's error, in input order.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Gather } from "@hybrid/core"
 *
 * const mirrors = Gather.first([Effect.fail("eu down"), Effect.fail("us down")]).pipe(
 *   Effect.catchTag("AllFailed", (e) => Effect.succeed(`no mirror: ${e.errors.join(", ")}`))
 * )
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class AllFailed<E = unknown> extends Schema.TaggedError<AllFailed<any>>()("AllFailed", {
  errors: Schema.Array(Schema.Unknown)
}) {
  declare readonly errors: ReadonlyArray<E>
  override get message(): string {
    return `all ${this.errors.length} attempts failed`
  }
}

/**
 * One completed input of `asCompleted`: its position in the input and how it ended.
 *
 * @example
 * ```ts
 * import { Effect, Exit, Stream } from "effect"
 * import { Gather } from "@hybrid/core"
 *
 * const report = (c: Gather.Completed<string, never>) =>
 *   Exit.isSuccess(c.exit) ? `#${c.index}: ${c.exit.value}` : `#${c.index} failed`
 * const lines = Gather.asCompleted([Effect.succeed("a"), Effect.succeed("b")]).pipe(Stream.map(report))
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Completed<A, E> {
  readonly index: number
  readonly exit: Exit.Exit<A, E>
}

/** @internal */
export const concurrencyOf = (where: string, opts: Options | undefined): Concurrency => {
  const c = opts?.concurrency ?? "unbounded"
  return c === "unbounded" ? c : options.integer(where, "concurrency", c)
}

/**
 * Runs every effect concurrently and succeeds with their values in input order (a tuple,
 * an array or a record, like `Effect.all`). The first failure interrupts the others and
 * is the failure.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Gather } from "@hybrid/core"
 *
 * const user = Effect.succeed({ name: "Ada" })
 * const orders = Effect.succeed([1, 2, 3])
 * // both at once; the record's shape is kept: { user: { name: string }, orders: number[] }
 * const page = Gather.all({ user, orders })
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const all = <const Arg extends Iterable<Effect.Effect<any, any, any>> | Record<string, Effect.Effect<any, any, any>>>(
  effects: Arg,
  opts?: Options
): Effect.All.Return<Arg, { concurrency: Concurrency }> =>
  Effect.all(effects, { concurrency: concurrencyOf("Gather.all", opts) })

/**
 * Runs every effect concurrently and never fails: one `Exit` per input, in input order —
 * asyncio's `gather(return_exceptions=True)`, with interruptions and defects kept apart
 * from failures.
 *
 * @example
 * ```ts
 * import { Effect, Exit } from "effect"
 * import { Gather } from "@hybrid/core"
 *
 * const program = Effect.gen(function*() {
 *   const exits = yield* Gather.settle([Effect.succeed(1), Effect.fail("boom"), Effect.succeed(3)])
 *   return exits.filter(Exit.isSuccess).map((exit) => exit.value) // [1, 3]
 * })
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const settle = <A, E, R>(
  effects: Iterable<Effect.Effect<A, E, R>>,
  opts?: Options
): Effect.Effect<Array<Exit.Exit<A, E>>, never, R> => {
  const concurrency = concurrencyOf("Gather.settle", opts)
  return Effect.forEach(effects, (effect) => Effect.exit(effect), { concurrency })
}

/**
 * Runs every effect concurrently and emits `{ index, exit }` as each one completes, in
 * completion order — asyncio's `as_completed`, but keeping which input each result
 * belongs to. The stream never fails; stopping it early interrupts what is still running.
 *
 * @example
 * ```ts
 * import { Console, Effect, Exit, Stream } from "effect"
 * import { Gather } from "@hybrid/core"
 *
 * const slow = Effect.sleep("200 millis").pipe(Effect.as("slow"))
 * const fast = Effect.sleep("10 millis").pipe(Effect.as("fast"))
 * // prints "1 Success" then "0 Success": completion order, each with its input's index
 * const program = Gather.asCompleted([slow, fast]).pipe(
 *   Stream.runForEach(({ exit, index }) => Console.log(index, Exit.isSuccess(exit) ? "Success" : "Failure"))
 * )
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const asCompleted = <A, E, R>(
  effects: Iterable<Effect.Effect<A, E, R>>,
  opts?: Options
): Stream.Stream<Completed<A, E>, never, R> => {
  const concurrency = concurrencyOf("Gather.asCompleted", opts)
  return Stream.fromIterable(Array.from(effects, (effect, index) => ({ effect, index }))).pipe(
    Stream.mapEffect(
      ({ effect, index }) => Effect.map(Effect.exit(effect), (exit): Completed<A, E> => ({ index, exit })),
      { concurrency, unordered: true }
    )
  )
}

/**
 * Runs every effect concurrently; the first success wins and the others are interrupted.
 * Fails only when all fail, with `AllFailed` holding every error in input order (a defect
 * or an interruption in any of them is kept as such).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Gather } from "@hybrid/core"
 *
 * const fromEu = Effect.sleep("80 millis").pipe(Effect.as("eu"))
 * const fromUs = Effect.sleep("30 millis").pipe(Effect.as("us"))
 * const fastest = Gather.first([fromEu, fromUs]) // "us"; the eu call is interrupted
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const first = <A, E, R>(effects: Iterable<Effect.Effect<A, E, R>>): Effect.Effect<A, AllFailed<E>, R> =>
  Effect.suspend(() => {
    const list = Array.from(effects)
    if (list.length === 0) return Effect.fail(new AllFailed<E>({ errors: [] }))
    const errors: Array<E> = new Array(list.length)
    let failed = 0
    const recorded = list.map((effect, i) =>
      Effect.tapError(effect, (error) =>
        Effect.sync(() => {
          errors[i] = error
          failed++
        }))
    )
    return Effect.raceAll(recorded).pipe(
      Effect.catchCause((cause) =>
        failed === list.length
          ? Effect.fail(new AllFailed<E>({ errors }))
          // some input died or was interrupted: keep those reasons, the errors are typed away
          : Effect.failCause(Cause.fromReasons(cause.reasons.filter((r) => !Cause.isFailReason(r))))
      )
    )
  })
