/**
 * The worker side of `NodeRunner`: an `effect/rpc` `RpcServer` over the worker runner
 * platform (`NodeWorkerRunner`), with the task handlers wrapped so that plain functions run
 * as Effects and the caller's remaining `Deadline` (request header) is visible to
 * `Deadline.remaining`.
 *
 * The protocol is effect/rpc's worker protocol with one addition: a message from the pool
 * may be an array of `FromClientEncoded` messages (a burst of calls sent in one
 * `postMessage`), handled in order. The server runs at most `concurrency` calls at once
 * (the pool's `concurrencyPerWorker`, passed in `workerData`); calls beyond it wait in the
 * server, first in first out, which is what lets the pool send calls ahead.
 *
 * Imported by worker entry files: it must never import the pool.
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as NodeWorkerRunner from "@effect/platform-node/NodeWorkerRunner"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Schema from "effect/Schema"
import * as RpcServer from "effect/rpc/RpcServer"
import type { FromClientEncoded, FromServerEncoded } from "effect/rpc/RpcMessage"
import type * as RpcSerialization from "effect/rpc/RpcSerialization"
import * as WorkerRunner from "effect/workers/WorkerRunner"
import * as WorkerThreads from "node:worker_threads"
import * as Deadline from "../Deadline.ts"
import type * as Task from "../Task.ts"
import * as Core from "./runnerCore.ts"

const remainingOf = (headers: Readonly<Record<string, string | undefined>>) => {
  const header = headers[Core.deadlineHeader]
  if (header === undefined) return undefined
  const remaining = Number(header)
  return Number.isFinite(remaining) ? remaining : undefined
}

/** The server protocol: effect/rpc's worker protocol, plus arrays of client messages. */
const protocol = RpcServer.Protocol.make(Effect.fnUntraced(function*(writeRequest) {
  const fiber = Fiber.getCurrent()!
  const runner = yield* WorkerRunner.WorkerRunnerPlatform
  const backing = yield* runner.start<FromServerEncoded, FromClientEncoded | ReadonlyArray<FromClientEncoded>>()
  const clientIds = new Set<number>()
  const disconnects = yield* Queue.make<number>()
  yield* backing.run((clientId, message) => {
    clientIds.add(clientId)
    if (!Array.isArray(message)) return writeRequest(clientId, message as FromClientEncoded)
    return Effect.forEach(message as ReadonlyArray<FromClientEncoded>, (m) => writeRequest(clientId, m), {
      discard: true
    })
  }).pipe(
    Effect.tapCause(Effect.logError),
    Effect.onExit(() =>
      Effect.sync(() => {
        fiber.currentDispatcher.scheduleTask(() => fiber.interruptUnsafe(fiber.id), 0)
      })
    ),
    Effect.forkScoped
  )
  return {
    disconnects,
    send: (clientId, response, transferables) => backing.send(clientId, response, transferables),
    end: () => Effect.void,
    clientIds: Effect.sync(() => clientIds),
    initialMessage: Effect.succeed(Option.none()),
    supportsAck: true,
    supportsTransferables: true,
    supportsSpanPropagation: true,
    supportsNotifications: true,
    // structured clone, like effect's worker protocol
    codecFor: Schema.toCodecJson as RpcSerialization.CodecFor
  }
}))

/** The concurrency the pool asked for (`workerData`), 1 when run outside a pool. */
const concurrency = (): number => {
  const data = WorkerThreads.workerData as Record<string, { readonly concurrency?: unknown } | undefined> | undefined
  const value = data?.[Core.workerDataKey]?.concurrency
  return typeof value === "number" && Number.isInteger(value) && value >= 1 ? value : 1
}

/** The `RpcServer` layer of a group, ready to launch in a worker thread. */
export const layer = <T extends Task.Any>(
  group: Task.Group<T>,
  handlers: Task.Handlers<T>
): Layer.Layer<never> => {
  const table = handlers as unknown as Record<string, (payload: unknown) => unknown>
  const rpcHandlers: Record<
    string,
    (payload: unknown, options: { readonly headers: any }) => Effect.Effect<unknown, unknown>
  > = {}
  for (const task of group.tasks) {
    const handler = table[task.name]
    if (handler === undefined) continue
    rpcHandlers[task.name] = (payload, { headers }) => {
      const effect = Core.handlerEffect(handler, payload)
      const remaining = remainingOf(headers)
      if (remaining === undefined) return effect
      // Called when the request arrives; the handler may wait for a free slot first, so
      // the deadline is fixed now. The caller enforces it (its interruption reaches this
      // handler as an Interrupt message); here the handler only needs to see it.
      const arrived = performance.now()
      return Effect.flatMap(
        Clock.currentTimeMillis,
        (now) => Effect.provideService(effect, Deadline.Current, now + remaining - (performance.now() - arrived))
      )
    }
  }
  return RpcServer.layer(group.rpcs, { disableFatalDefects: true, disableTracing: true, concurrency: concurrency() }).pipe(
    Layer.provide((group.rpcs as any).toLayer(rpcHandlers) as Layer.Layer<never>),
    Layer.provide(Layer.effect(RpcServer.Protocol)(protocol)),
    Layer.provide(NodeWorkerRunner.layer)
  ) as Layer.Layer<never>
}

/** Serves a group in the current worker thread until the pool closes it. */
export const serve = <T extends Task.Any>(group: Task.Group<T>, handlers: NoInfer<Task.Handlers<T>>): void => {
  NodeRuntime.runMain(Layer.launch(layer(group, handlers)), { disableErrorReporting: false })
}
