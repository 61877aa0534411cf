/**
 * The `cluster` scenario's tasks, declared once for the caller, the runner processes and
 * their worker file: `Inc` (a tiny task: the per-call overhead) and `Wait` (I/O-bound: a
 * timer, then which runner answered).
 *
 * @since 0.1.0
 */
import { Task } from "@hybrid/core"
import { Schema } from "effect"

/** n + 1: nothing to compute, so its wall time is the runner's own cost. */
export const Inc = Task.make("Inc", { payload: Schema.Number, success: Schema.Number })

/** Waits `ms`, then names the runner process that ran it. */
export const Wait = Task.make("Wait", {
  payload: Schema.Struct({ ms: Schema.Int }),
  success: Schema.String
})

/** Both. */
export const ClusterTasks = Task.group(Inc, Wait)
