/**
 * The worker side of `NodeRunner`: an `effect/rpc` `RpcServer` over the worker protocol,
 * with the task handlers wrapped so that plain functions run as Effects and the caller's
 * remaining `Deadline` (request header) is visible to `Deadline.remaining`.
 *
 * Imported by worker entry files: it must never import the pool.
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as NodeWorkerRunner from "@effect/platform-node/NodeWorkerRunner"
import { Clock, Effect, Layer } from "effect"
import { RpcServer } from "effect/rpc"
import * as Deadline from "../Deadline.ts"
import type * as Task from "../Task.ts"
import * as Core from "./runnerCore.ts"

const withDeadline = (headers: Readonly<Record<string, string | undefined>>) => {
  const header = headers[Core.deadlineHeader]
  if (header === undefined) return undefined
  const remaining = Number(header)
  return Number.isFinite(remaining) ? remaining : undefined
}

/** The `RpcServer` layer of a group, ready to launch in a worker thread. */
export const layer = <T extends Task.Any>(
  group: Task.Group<T>,
  handlers: Task.Handlers<T>
): Layer.Layer<never> => {
  const table = handlers as unknown as Record<string, (payload: unknown) => unknown>
  const rpcHandlers: Record<string, (payload: unknown, options: { readonly headers: any }) => Effect.Effect<unknown, unknown>> = {}
  for (const task of group.tasks) {
    const handler = table[task.name]
    if (handler === undefined) continue
    rpcHandlers[task.name] = (payload, { headers }) => {
      const effect = Core.handlerEffect(handler, payload)
      const remaining = withDeadline(headers)
      if (remaining === undefined) return effect
      // The caller enforces the deadline (its interruption reaches this handler as an
      // Interrupt message); here the handler only needs to see it.
      return Effect.flatMap(
        Clock.currentTimeMillis,
        (now) => Effect.provideService(effect, Deadline.Current, now + remaining)
      )
    }
  }
  return RpcServer.layer(group.rpcs, { disableFatalDefects: true, disableTracing: true }).pipe(
    Layer.provide((group.rpcs as any).toLayer(rpcHandlers) as Layer.Layer<never>),
    Layer.provide(RpcServer.layerProtocolWorkerRunner),
    Layer.provide(NodeWorkerRunner.layer)
  ) as Layer.Layer<never>
}

/** Serves a group in the current worker thread until the pool closes it. */
export const serve = <T extends Task.Any>(group: Task.Group<T>, handlers: NoInfer<Task.Handlers<T>>): void => {
  NodeRuntime.runMain(Layer.launch(layer(group, handlers)), { disableErrorReporting: false })
}
