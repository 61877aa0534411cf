/**
 * How a group of core `Task`s becomes one `effect/cluster` entity: each task is an RPC of
 * the entity whose payload wraps the task's own payload with the call's idempotency key
 * (the RPC's primary key, so storage suppresses a duplicate) and the caller's remaining
 * deadline. The task's Schemas are reused as they are: the same declaration is the
 * contract between the caller and the remote runner, as it is between a thread and a
 * worker in `NodeRunner`.
 */
import * as Runner from "@hybrid/core/Runner"
import type * as Task from "@hybrid/core/Task"
import { Schema } from "effect"
import { ClusterSchema, Entity } from "effect/cluster"
import { Rpc } from "effect/rpc"

/** The errors a remote runner can send back besides the task's own. */
export const RunErrorSchema = Schema.Union([
  Runner.RunnerError,
  Runner.RunnerQueueFull,
  Runner.WorkerCrashed,
  Runner.TaskTimeout
])

/** The payload of a task's entity RPC: the task's payload plus the call's envelope. */
export const envelopeFields = <P extends Schema.Top>(payload: P) => ({
  /** The idempotency key: the same key is the same call (storage keeps one). */
  key: Schema.String,
  /** The task's own payload. */
  input: payload,
  /** The caller's remaining deadline when the call was sent, in milliseconds. */
  remainingMs: Schema.optional(Schema.Number)
})

/** The entity RPC of one task. */
export const rpcOf = (task: Task.Any, persisted: boolean): Rpc.Any => {
  const rpc = Rpc.make(task.name, {
    payload: envelopeFields(task.payload),
    success: task.success,
    error: Schema.Union([task.error, RunErrorSchema]),
    primaryKey: ({ key }: { readonly key: string }) => key
  })
  return persisted ? rpc.annotate(ClusterSchema.Persisted, true) : rpc
}

/** Which tasks of a group are persisted. */
export type Persisted = "all" | "none" | ReadonlyArray<string>

/** Whether `task` is persisted under `persisted`. */
export const isPersisted = (persisted: Persisted, task: Task.Any): boolean =>
  persisted === "all" ? true : persisted === "none" ? false : persisted.includes(task.name)

/** The entity serving `group`: one RPC per task. */
export const entityOf = (type: string, group: Task.Group<Task.Any>, persisted: Persisted) =>
  Entity.make(type, group.tasks.map((task) => rpcOf(task, isPersisted(persisted, task))))

/** The wire payload of one call. */
export interface Envelope {
  readonly key: string
  readonly input: unknown
  readonly remainingMs?: number | undefined
}
