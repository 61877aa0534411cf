/**
 * What a benchmark scenario is, and the small API it measures with.
 *
 * A scenario is a name, a description and a `run` that measures Hybrid next to its
 * peers in one process run and returns a `ScenarioReport` — never typed-in numbers.
 * The CLI (`main.ts`) does everything around it: run facts, load averages before and
 * after, the terminal table, the JSON, the HTML charts, the baseline comparison and
 * the machine-limited guard.
 *
 * **How a scenario reports (the whole contract):**
 *
 * 1. Repeat: `repetitions(options)` times (5 in a full run, 3 in `--quick`; more if the
 *    scenario wants), interleaved — repetition 1 of every variant, then repetition 2, …
 *    — so a drift of the machine hits every variant alike. `interleave(...)` does the
 *    loop and ticks the progress bar once per measurement.
 * 2. Keep every raw sample, and turn each measured quantity into a `Figure` with
 *    `figure(unit, samples)`: it carries the samples and their median, min, max and 95 %
 *    bootstrap interval of the median (`Stats.ts`, on simple-statistics). A ratio of
 *    two variants is `ratio(a, b)`: paired per repetition, with its own interval.
 * 3. Put the figures under stable keys in `figures` (a baseline compares by key) and in
 *    the table `rows` (a row cell may be a label, a plain number or a `Figure`; charts
 *    draw a figure's median with its min–max as the error bar).
 * 4. Progress: call `progress.total(n)` once you know the number of steps and
 *    `progress.tick()` after each (every repetition of every variant, at least), so the
 *    bar moves in every scenario.
 * 5. Parallel scenarios (worker threads): set `parallel: true` on the figures that need
 *    several cores, and report `control` — the cores the raw `worker_threads` control
 *    delivered, one sample per control run (`Control.deliveredCores`). Below 1.5 the CLI
 *    marks the scenario machine-limited and draws no conclusion from those figures.
 * 6. A figure that is not to be read as measured (RSS growth below page granularity, …)
 *    gets `flag: "why"`: tables print it with the flag, charts leave it out and say so.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import * as Scenario from "./Scenario.ts"
 *
 * const sleepy: Scenario.Scenario = {
 *   name: "sleepy",
 *   description: "a 10 ms timer vs a 20 ms timer",
 *   run: (options) =>
 *     Effect.gen(function*() {
 *       const reps = Scenario.repetitions(options)
 *       const progress = options.progress ?? Scenario.silent
 *       progress.total(reps * 2)
 *       const wall = yield* Scenario.interleave({ repetitions: reps, variants: ["10", "20"], progress }, (v) =>
 *         Scenario.timed(Effect.sleep(Number(v))))
 *       const fast = Scenario.figure("ms", wall["10"], { better: "lower" })
 *       const slow = Scenario.figure("ms", wall["20"], { better: "lower" })
 *       return {
 *         scenario: "sleepy",
 *         figures: { "wallMs.10": fast, "wallMs.20": slow, "slowVsFast": Scenario.ratio(slow, fast) },
 *         rows: [{ variant: "10 ms", "wall ms": fast }, { variant: "20 ms", "wall ms": slow }],
 *         notes: []
 *       }
 *     })
 * }
 * console.log(sleepy.name)
 * ```
 *
 * @since 0.1.0
 */
import { Effect } from "effect"
import type { Cell, Figure } from "./Results.ts"
import * as Stats from "./Stats.ts"

export type { Cell, Figure } from "./Results.ts"

/**
 * One row of a scenario's table.
 *
 * @since 0.1.0
 * @category models
 */
export type Row = Readonly<Record<string, Cell>>

/**
 * What a scenario returns.
 *
 * @since 0.1.0
 * @category models
 */
export interface ScenarioReport {
  readonly scenario: string
  /** Every figure under a stable key: what the JSON keeps, a baseline compares and a note quotes. */
  readonly figures: Readonly<Record<string, Figure>>
  /** The table printed in the terminal and the HTML, one row per measured variant. */
  readonly rows: ReadonlyArray<Row>
  /** Anything a reader needs to interpret the figures (skipped peers, settings, noise). */
  readonly notes: ReadonlyArray<string>
  /** Cores the raw `worker_threads` control delivered during the run (parallel scenarios). */
  readonly control?: Figure | undefined
}

/**
 * How a scenario says how far it has come: `total(n)` announces (or revises) the number
 * of steps, `tick()` marks one done. Plain synchronous callbacks, so a scenario can call
 * them from Promise code as well as from inside an `Effect.gen`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Progress {
  readonly total: (steps: number) => void
  readonly tick: (steps?: number) => void
}

/**
 * A `Progress` that ignores everything: what a scenario uses when none is given.
 *
 * @example
 * ```ts
 * import * as Scenario from "./Scenario.ts"
 *
 * Scenario.silent.tick()
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const silent: Progress = { total: () => {}, tick: () => {} }

/**
 * @since 0.1.0
 * @category models
 */
export interface RunOptions {
  /** A short run (CI, a first look): fewer sizes, fewer repetitions. */
  readonly quick: boolean
  /** Interleaved repetitions per figure; default 5, or 3 when quick (see `repetitions`). */
  readonly repetitions?: number | undefined
  readonly progress?: Progress | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Scenario {
  readonly name: string
  readonly description: string
  readonly run: (options: RunOptions) => Effect.Effect<ScenarioReport, unknown>
}

/** The fewest repetitions of a full run. */
export const FULL_REPETITIONS = 5
/** The fewest repetitions of a `--quick` run. */
export const QUICK_REPETITIONS = 3

/**
 * The repetitions a scenario runs: `options.repetitions`, else 5 (full) or 3 (quick) —
 * never fewer than 3, so every figure has a spread.
 *
 * @example
 * ```ts
 * import * as Scenario from "./Scenario.ts"
 *
 * console.log(Scenario.repetitions({ quick: true })) // 3
 * ```
 *
 * @since 0.1.0
 * @category utils
 */
export const repetitions = (options: RunOptions): number =>
  Math.max(QUICK_REPETITIONS, options.repetitions ?? (options.quick ? QUICK_REPETITIONS : FULL_REPETITIONS))

/**
 * Options of a figure.
 *
 * @since 0.1.0
 * @category models
 */
export interface FigureOptions {
  readonly better?: "lower" | "higher" | undefined
  readonly parallel?: boolean | undefined
  readonly flag?: string | undefined
}

/**
 * A figure from raw samples (one per repetition, in the order they ran): the samples
 * and their summary (median, min, max, bootstrap interval of the median).
 *
 * @example
 * ```ts
 * import * as Scenario from "./Scenario.ts"
 *
 * const wall = Scenario.figure("ms", [101, 99, 100], { better: "lower" })
 * console.log(wall.median, wall.min, wall.max) // 100 99 101
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const figure = (unit: string, samples: ReadonlyArray<number>, options: FigureOptions = {}): Figure => ({
  unit,
  samples: [...samples],
  ...Stats.summarize(samples),
  ...(options.better === undefined ? {} : { better: options.better }),
  ...(options.parallel === undefined ? {} : { parallel: options.parallel }),
  ...(options.flag === undefined ? {} : { flag: options.flag })
})

/**
 * The same figure with every sample passed through `f` (a unit change, per-task
 * overhead from a wall time, …), summarized again.
 *
 * @example
 * ```ts
 * import * as Scenario from "./Scenario.ts"
 *
 * const wall = Scenario.figure("ms", [1010, 1020, 1015])
 * const overhead = Scenario.mapFigure(wall, "µs/task", (ms) => (ms - 1000) * 1000 / 1000)
 * console.log(overhead.median) // 15
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const mapFigure = (self: Figure, unit: string, f: (sample: number) => number, options: FigureOptions = {}): Figure =>
  figure(unit, self.samples.map(f), {
    better: options.better ?? self.better,
    parallel: options.parallel ?? self.parallel,
    flag: options.flag
  })

/**
 * `a / b` as a figure, paired per repetition (repetition i of `a` over repetition i of
 * `b`, which ran side by side), with its own interval. Unit `×` unless given.
 *
 * @example
 * ```ts
 * import * as Scenario from "./Scenario.ts"
 *
 * const r = Scenario.ratio(Scenario.figure("ms", [20, 22, 21]), Scenario.figure("ms", [10, 11, 10]))
 * console.log(r.median) // 2
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const ratio = (a: Figure, b: Figure, options: FigureOptions & { readonly unit?: string | undefined } = {}): Figure =>
  figure(options.unit ?? "×", Stats.pairedRatios(a.samples, b.samples), {
    better: options.better,
    parallel: options.parallel ?? (a.parallel === true || b.parallel === true ? true : undefined),
    flag: options.flag
  })

/**
 * Runs `measure(variant, repetition)` for every variant in every repetition,
 * repetition-major (interleaved), rotating the order each repetition so no variant
 * always goes first; ticks `progress` after each measurement. Returns the samples per
 * variant, in repetition order.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import * as Scenario from "./Scenario.ts"
 *
 * const program = Scenario.interleave({ repetitions: 3, variants: ["a", "b"] }, (v, rep) => Effect.succeed(rep))
 * console.log(Effect.runSync(program)) // { a: [0, 1, 2], b: [0, 1, 2] }
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const interleave = <const K extends string, A, E, R>(
  options: {
    readonly repetitions: number
    readonly variants: ReadonlyArray<K>
    readonly progress?: Progress | undefined
    /** Rotate the order of the variants each repetition (default true). */
    readonly rotate?: boolean | undefined
  },
  measure: (variant: K, repetition: number) => Effect.Effect<A, E, R>
): Effect.Effect<Record<K, Array<A>>, E, R> =>
  Effect.gen(function*() {
    const out = Object.fromEntries(options.variants.map((v) => [v, [] as Array<A>])) as Record<K, Array<A>>
    const k = options.variants.length
    for (let rep = 0; rep < options.repetitions; rep++) {
      for (let i = 0; i < k; i++) {
        const variant = options.variants[options.rotate === false ? i : (rep + i) % k]!
        out[variant].push(yield* measure(variant, rep))
        options.progress?.tick()
      }
    }
    return out
  })

/**
 * The wall time of an effect, in milliseconds (`performance.now()`).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import * as Scenario from "./Scenario.ts"
 *
 * const ms = Effect.runSync(Scenario.timed(Effect.succeed(1)))
 * console.log(ms >= 0) // true
 * ```
 *
 * @since 0.1.0
 * @category utils
 */
export const timed = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<number, E, R> =>
  Effect.suspend(() => {
    const t0 = performance.now()
    return Effect.map(effect, () => performance.now() - t0)
  })

/**
 * The median of a sample (`NaN` for an empty one) — for quantities inside one
 * repetition; across repetitions, make a `figure`.
 *
 * @since 0.1.0
 * @category utils
 */
export const median = Stats.median
