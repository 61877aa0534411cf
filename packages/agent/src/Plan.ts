/**
 * How an answer spends its time, decided before anything runs: a pure function from the
 * instant the answer starts, its deadline (the budget under any inherited `Deadline`,
 * as `Deadline.within` computes it) and the time kept for the LLM, to the deadline of
 * each stage.
 *
 * ```text
 * start ─────────────── contextEnd ───────────── llmEnd ─ deadline
 *        sources: fetch + process     the LLM          assembly margin
 * ```
 *
 * - **Reserved** (`available ≥ 2 × llmReserve`): the sources are cut at `deadline −
 *   llmReserve`, so the LLM keeps its reserve whatever the sources do.
 * - **Short** (less than that): the budget is too small to split, so the sources may use
 *   it all (up to the assembly margin) and the LLM is asked only if the time left after
 *   them still fits it (`askLlm`) — otherwise the answer is extractive, from what arrived.
 *
 * @example
 * ```ts
 * import { Plan } from "@hybrid/agent"
 *
 * Plan.make({ start: 0, deadline: 10_000, llmReserveMs: 3_000 })
 * // { start: 0, deadline: 10000, contextEnd: 7000, llmEnd: 9990, reserved: true }
 * Plan.make({ start: 0, deadline: 3_000, llmReserveMs: 3_000 })
 * // { start: 0, deadline: 3000, contextEnd: 2990, llmEnd: 2990, reserved: false }
 * ```
 *
 * @since 0.1.0
 */

/**
 * Time kept after the LLM's cut-off to assemble the answer (ms).
 *
 * @example
 * ```ts
 * import { Plan } from "@hybrid/agent"
 *
 * // the LLM is cut this long before the deadline, to leave time to assemble the answer
 * const plan = Plan.make({ start: 0, deadline: 2000, llmReserveMs: 800 })
 * plan.llmEnd === 2000 - Plan.assemblyMarginMs // true
 * ```
 *
 * @since 0.1.0
 * @category constants
 */
export const assemblyMarginMs = 10

/**
 * The deadlines of one answer, instants on Effect's `Clock` (ms).
 *
 * @example
 * ```ts
 * import { Plan } from "@hybrid/agent"
 *
 * const plan: Plan.Plan = Plan.make({ start: 0, deadline: 3000, llmReserveMs: 1000 })
 * // { start: 0, deadline: 3000, contextEnd: 2000, llmEnd: 2990, reserved: true }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Plan {
  readonly start: number
  readonly deadline: number
  /** When the sources (fetch and processing) are cut. */
  readonly contextEnd: number
  /** When the LLM is cut. */
  readonly llmEnd: number
  /** Whether the LLM's reserve was kept out of the sources' time. */
  readonly reserved: boolean
}

/**
 * Plans an answer that starts at `start` and must be done by `deadline`, keeping
 * `llmReserveMs` for the LLM when the budget allows it (see the module comment).
 *
 * @example
 * ```ts
 * import { Plan } from "@hybrid/agent"
 *
 * Plan.make({ start: 1_000, deadline: 1_800, llmReserveMs: 300 }).contextEnd // 1500
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (input: { readonly start: number; readonly deadline: number; readonly llmReserveMs: number }): Plan => {
  const { deadline, llmReserveMs, start } = input
  const reserved = deadline - start >= 2 * llmReserveMs
  const llmEnd = Math.max(start, deadline - assemblyMarginMs)
  return { start, deadline, contextEnd: reserved ? deadline - llmReserveMs : llmEnd, llmEnd, reserved }
}

/**
 * Whether to ask the LLM at `now`, once the sources are done: always when its reserve
 * was kept; else when the time left still fits the reserve; else only when nothing
 * arrived from the sources (the LLM is then the only hope) and some time is left.
 *
 * @example
 * ```ts
 * import { Plan } from "@hybrid/agent"
 *
 * const plan = Plan.make({ start: 0, deadline: 3_000, llmReserveMs: 3_000 })
 * Plan.askLlm(plan, 2_800, 3_000, { arrived: true }) // false: extractive from what arrived
 * Plan.askLlm(plan, 2_800, 3_000, { arrived: false }) // true: nothing else to answer from
 * ```
 *
 * @since 0.1.0
 * @category predicates
 */
export const askLlm = (plan: Plan, now: number, llmReserveMs: number, sources: { readonly arrived: boolean }): boolean =>
  plan.reserved || plan.llmEnd - now >= llmReserveMs || (!sources.arrived && plan.llmEnd > now)
