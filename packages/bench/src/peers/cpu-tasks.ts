/**
 * The `cpu` scenario's tasks, declared once for `NodeRunner` (imported by its worker file
 * and by the scenario). Erasable TS only.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import * as Task from "@hybrid/core/Task"

/** @since 0.1.0 */
export const CountPrimes = Task.make("CountPrimes", { payload: Schema.Struct({ n: Schema.Int }), success: Schema.Int })

/** @since 0.1.0 */
export const Inc = Task.make("Inc", { payload: Schema.Number, success: Schema.Number })

/**
 * When the worker file had loaded (its body ran, every import evaluated), as an absolute
 * time in ms (`performance.timeOrigin + performance.now()` in the worker).
 *
 * @since 0.1.0
 */
export const LoadedAt = Task.make("LoadedAt", { payload: Schema.Void, success: Schema.Number })

/** @since 0.1.0 */
export const CpuTasks = Task.group(CountPrimes, Inc, LoadedAt)
