/**
 * What a source is asked: the query's text, its content words (`terms`, for searches)
 * and the place it names (`city`, for the weather) — read once from the query, so every
 * source definition builds its request from the same facts.
 *
 * Gotchas: the city is the first run of capitalised words after "in", "at", "near" or
 * "around" ("weather in New York today" → "New York"), else the fallback given to `make`
 * ("London" by default); `terms` drops question words and stopwords ("What is new about
 * electric cars?" → "electric cars") and is the query itself when nothing is left.
 *
 * @example
 * ```ts
 * import { Query } from "@hybrid/agent"
 *
 * const q = Query.make("Will it rain in Oslo, and what is new about electric cars?")
 * // { text: "Will it rain in Oslo, …", terms: "rain Oslo electric cars", city: "Oslo" }
 * ```
 *
 * @since 0.1.0
 */

/**
 * A query as the sources read it: the text asked, its content words, and its city.
 *
 * @example
 * ```ts
 * import { Query } from "@hybrid/agent"
 *
 * const query: Query.Query = Query.make("Will it rain in Oslo tomorrow?")
 * // { text: "Will it rain in Oslo tomorrow?", terms: "rain Oslo tomorrow", city: "Oslo" }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Query {
  /** The query as asked. */
  readonly text: string
  /** Its content words (`searchTerms`). */
  readonly terms: string
  /** The place it names (`cityOf`), else the fallback city. */
  readonly city: string
}

const stopwords = new Set(
  ("a about an and any are as at be can could did do does for from give has have how i in is it its me my of on or " +
    "please should tell that the their there these this to was what when where which who why will with would you your " +
    "new latest today now currently").split(" ")
)

/**
 * The place named in a query: the first run of capitalised words after "in", "at",
 * "near" or "around" ("weather in New York today" → "New York").
 *
 * @example
 * ```ts
 * import { Query } from "@hybrid/agent"
 *
 * Query.cityOf("weather near São Paulo") // "São Paulo"
 * ```
 *
 * @since 0.1.0
 * @category utils
 */
export const cityOf = (query: string): string | undefined => {
  const match = /\b(?:in|at|near|around)\s+(\p{Lu}[\p{L}'’-]*(?:\s+\p{Lu}[\p{L}'’-]*){0,3})/u.exec(query)
  return match?.[1]?.replace(/['’-]+$/, "")
}

/**
 * The query's content words ("What is new about electric cars?" → "electric cars"); the
 * query itself when it has none.
 *
 * @example
 * ```ts
 * import { Query } from "@hybrid/agent"
 *
 * Query.searchTerms("How does the asyncio event loop work?") // "asyncio event loop work"
 * ```
 *
 * @since 0.1.0
 * @category utils
 */
export const searchTerms = (query: string): string => {
  const words = query.match(/[\p{L}\p{N}][\p{L}\p{N}'’+#.-]*/gu) ?? []
  const kept = words.map((w) => w.replace(/[.'’-]+$/, "")).filter((w) => w !== "" && !stopwords.has(w.toLowerCase()))
  return kept.length > 0 ? kept.join(" ") : query.trim().replace(/\s+/g, " ")
}

/**
 * Reads a query: its terms, and its city — `options.city` when given, else the place it
 * names, else `options.fallbackCity` (default `"London"`).
 *
 * @example
 * ```ts
 * import { Query } from "@hybrid/agent"
 *
 * Query.make("python performance tips").city // "London"
 * Query.make("python performance tips", { city: "Porto" }).city // "Porto"
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  text: string,
  options: { readonly city?: string | undefined; readonly fallbackCity?: string | undefined } = {}
): Query => ({
  text,
  terms: searchTerms(text),
  city: options.city ?? cityOf(text) ?? options.fallbackCity ?? "London"
})
