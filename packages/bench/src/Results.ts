/**
 * The JSON document a bench run writes (`bench-results/bench.json`), as an Effect Schema:
 * the run facts, then per scenario its figures — each with every repetition's raw sample
 * and the statistics computed from them — its table rows and its notes.
 *
 * The same schema decodes a baseline (`--baseline old.json`): a file that is not such a
 * document is a `BaselineUnreadable` naming the path and the first problem, never a cast.
 * `bench.schema.json` beside `package.json` is the JSON Schema generated from it
 * (`pnpm --filter @hybrid/bench run schema`; a test keeps the two in step).
 *
 * Format history: `format: 2` (this one) adds raw samples, spreads and run facts; the
 * unversioned documents before it had medians only and are not read as baselines.
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import * as Results from "./Results.ts"
 *
 * const fig = Schema.decodeUnknownSync(Results.Figure)({
 *   unit: "ms", samples: [1, 2, 3], n: 3, median: 2, min: 1, max: 3, low: 1, high: 3
 * })
 * console.log(fig.median) // 2
 * ```
 *
 * @since 0.1.0
 */
import { Schema } from "effect"

/**
 * The version of the document's shape.
 *
 * @since 0.1.0
 * @category models
 */
export const FORMAT = 2

const Num = Schema.Number.annotate({ description: "a number; NaN, Infinity and -Infinity are written as strings" })

/**
 * Median, min, max and the 95 % bootstrap interval of the median over `n` repetitions.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Summary = Schema.Struct({
  n: Schema.Int.annotate({ description: "number of samples (repetitions)" }),
  median: Num,
  min: Num,
  max: Num,
  low: Num.annotate({ description: "lower end of the 95 % bootstrap interval of the median" }),
  high: Num.annotate({ description: "upper end of the 95 % bootstrap interval of the median" })
}).annotate({ identifier: "Summary", description: "the spread of one figure over its repetitions" })

/**
 * One figure: its unit, every repetition's raw sample (in the order they ran) and its
 * summary.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Figure = Schema.Struct({
  unit: Schema.String.annotate({ description: "ms, µs/task, B/task, ×, tasks/s, %, cores, …" }),
  samples: Schema.Array(Num).annotate({ description: "one raw sample per repetition, in the order the repetitions ran" }),
  ...Summary.fields,
  better: Schema.optional(Schema.Literals(["lower", "higher"])).annotate({ description: "which direction is an improvement" }),
  parallel: Schema.optional(Schema.Boolean).annotate({
    description: "a figure that depends on the machine delivering several cores at once (read it beside the control)"
  }),
  flag: Schema.optional(Schema.String).annotate({
    description: "why the figure is not to be read as measured (e.g. below page granularity); charts leave it out"
  })
}).annotate({ identifier: "Figure", description: "a measured figure with its raw samples and spread" })

/**
 * A figure as a table cell: its summary without the raw samples (those are under
 * `figures`).
 *
 * @since 0.1.0
 * @category schemas
 */
export const SummaryCell = Schema.Struct({
  unit: Schema.String,
  ...Summary.fields,
  parallel: Schema.optional(Schema.Boolean),
  flag: Schema.optional(Schema.String)
}).annotate({ identifier: "SummaryCell" })

/**
 * A table cell: a label, a plain number (a size, a setting) or a measured figure.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Cell = Schema.Union([Schema.String, Num, SummaryCell])

/**
 * `os.loadavg()`: the 1, 5 and 15 minute load averages.
 *
 * @since 0.1.0
 * @category schemas
 */
export const LoadAverage = Schema.Tuple([Num, Num, Num]).annotate({ description: "1, 5 and 15 minute load averages" })

/**
 * What the run was: the machine, the software, the commit.
 *
 * @since 0.1.0
 * @category schemas
 */
export const RunFacts = Schema.Struct({
  date: Schema.String.annotate({ description: "ISO 8601, when the run started" }),
  quick: Schema.Boolean,
  repetitions: Schema.Int.annotate({ description: "interleaved repetitions per figure (a scenario may take more)" }),
  cpu: Schema.String,
  cores: Schema.Int.annotate({ description: "os.availableParallelism()" }),
  memoryGiB: Num,
  platform: Schema.String,
  node: Schema.String,
  python: Schema.optional(Schema.String),
  packages: Schema.Record(Schema.String, Schema.String).annotate({
    description: "installed version of effect and every peer the bench measures or uses"
  }),
  git: Schema.optional(Schema.Struct({ commit: Schema.String, dirty: Schema.Boolean })),
  loadBefore: LoadAverage,
  loadAfter: LoadAverage
}).annotate({ identifier: "RunFacts" })

/**
 * One scenario's part of the document.
 *
 * @since 0.1.0
 * @category schemas
 */
export const ScenarioResult = Schema.Struct({
  scenario: Schema.String,
  description: Schema.String,
  durationMs: Num,
  loadBefore: LoadAverage,
  loadAfter: LoadAverage,
  figures: Schema.Record(Schema.String, Figure),
  rows: Schema.Array(Schema.Record(Schema.String, Cell)),
  notes: Schema.Array(Schema.String),
  control: Schema.optional(Figure).annotate({
    description: "cores the raw worker_threads control delivered during this scenario (parallel scenarios)"
  }),
  machineLimited: Schema.optional(Schema.Boolean).annotate({
    description: "the control delivered fewer than 1.5 cores: the parallel figures measure the machine"
  })
}).annotate({ identifier: "ScenarioResult" })

/**
 * The whole document.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Results = Schema.Struct({
  format: Schema.Literal(FORMAT),
  facts: RunFacts,
  durationMs: Num,
  reports: Schema.Array(ScenarioResult),
  pending: Schema.optional(Schema.Array(Schema.String)).annotate({
    description: "scenarios chosen for the run but not finished when this document was written: the run was still " +
      "going (the document is rewritten after every scenario) or was stopped; absent when the run completed"
  }),
  failed: Schema.optional(Schema.Array(Schema.Struct({ scenario: Schema.String, error: Schema.String }))).annotate({
    description: "scenarios that failed, each with the first line of its error; the run went on with the next one"
  }),
  baseline: Schema.optional(Schema.Struct({ path: Schema.String, date: Schema.String, commit: Schema.optional(Schema.String) }))
}).annotate({ identifier: "Results", title: "Hybrid bench results", description: "one run of @hybrid/bench" })

/** @since 0.1.0 @category models */
export type Summary = typeof Summary.Type
/** @since 0.1.0 @category models */
export type Figure = typeof Figure.Type
/** @since 0.1.0 @category models */
export type SummaryCell = typeof SummaryCell.Type
/** @since 0.1.0 @category models */
export type Cell = typeof Cell.Type
/** @since 0.1.0 @category models */
export type RunFacts = typeof RunFacts.Type
/** @since 0.1.0 @category models */
export type ScenarioResult = typeof ScenarioResult.Type
/** @since 0.1.0 @category models */
export type Results = typeof Results.Type

/**
 * The codec between a `Results` value and its JSON (non-finite numbers as strings).
 *
 * @since 0.1.0
 * @category codecs
 */
export const ResultsJson = Schema.fromJsonString(Schema.toCodecJson(Results))

/**
 * The JSON Schema (draft 2020-12) of the document, generated from `Results`.
 *
 * @example
 * ```ts
 * import * as Results from "./Results.ts"
 *
 * console.log(Results.jsonSchema().title) // "Hybrid bench results"
 * ```
 *
 * @since 0.1.0
 * @category codecs
 */
export const jsonSchema = (): Record<string, unknown> => {
  const document = Schema.toJsonSchemaDocument(Results)
  return {
    $schema: "https://json-schema.org/draft/2020-12/schema",
    ...document.schema,
    $defs: document.definitions
  }
}
