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
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Schema from "effect/Schema"
import * as RpcServer from "effect/rpc/RpcServer"
import type { FromClientEncoded, FromServerEncoded, ResponseExitEncoded } from "effect/rpc/RpcMessage"
import type * as RpcSerialization from "effect/rpc/RpcSerialization"
import * as WorkerRunner from "effect/workers/WorkerRunner"
import * as WorkerThreads from "node:worker_threads"
import * as Deadline from "../Deadline.ts"
import type * as Task from "../Task.ts"
import * as Core from "./runnerCore.ts"
import * as Frames from "./runnerFrames.ts"

const remainingOf = (headers: Readonly<Record<string, string | undefined>>) => {
  const header = headers[Core.deadlineHeader]
  if (header === undefined) return undefined
  const remaining = Number(header)
  return Number.isFinite(remaining) ? remaining : undefined
}

/** The `Request` / `Interrupt` messages of a pool → worker batch (`runnerFrames.ts`). */
const unpack = (batch: ReadonlyArray<unknown>): Array<FromClientEncoded> => {
  const messages: Array<FromClientEncoded> = []
  for (let i = 0; i < batch.length;) {
    if (batch[i] === Frames.request) {
      const remaining = batch[i + 4] as number
      messages.push({
        _tag: "Request",
        id: batch[i + 1] as string,
        tag: batch[i + 2] as string,
        payload: batch[i + 3],
        headers: remaining === Frames.noDeadline ? [] : [[Core.deadlineHeader, String(remaining)]]
      })
      i += 5
    } else {
      messages.push({ _tag: "Interrupt", requestId: batch[i + 1] as string })
      i += 2
    }
  }
  return messages
}

/**
 * Posts the `Exit` of a call to the pool, packed (`runnerFrames.ts`). One message per
 * answer, at once: an answer never waits behind another call's code, so when the worker
 * dies the pool knows exactly which calls it had finished (Node delivers every message a
 * worker sent before its `exit` event) — a call it had not started is run again elsewhere,
 * never one it had.
 */
const postAnswer = (
  port: WorkerThreads.MessagePort,
  response: ResponseExitEncoded,
  transferables: ReadonlyArray<unknown> | undefined
): void => {
  const exit = response.exit
  const answer = exit._tag === "Success"
    ? [response.requestId, Frames.answerSuccess, exit.value]
    : [response.requestId, Frames.answerExit, exit]
  port.postMessage([1, answer], (transferables ?? []) as Array<WorkerThreads.TransferListItem>)
}

/** The server protocol: effect/rpc's worker protocol, with the pool's batches (`runnerFrames.ts`). */
const protocol = RpcServer.Protocol.make(Effect.fnUntraced(function*(writeRequest) {
  const fiber = Fiber.getCurrent()!
  const runner = yield* WorkerRunner.WorkerRunnerPlatform
  const backing = yield* runner.start<FromServerEncoded | ReadonlyArray<unknown>, FromClientEncoded | ReadonlyArray<unknown>>()
  const clientIds = new Set<number>()
  const disconnects = yield* Queue.make<number>()
  const port = WorkerThreads.parentPort
  yield* backing.run((clientId, message) => {
    clientIds.add(clientId)
    if (!Array.isArray(message)) return writeRequest(clientId, message as FromClientEncoded)
    return Effect.forEach(unpack(message), (m) => writeRequest(clientId, m), { discard: true })
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
    send: (clientId, response, transferables) => {
      if (port !== null && response._tag === "Exit") return Effect.sync(() => postAnswer(port, response, transferables))
      return backing.send(clientId, response, transferables)
    },
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

/** The defect of a result that does not fit its task's success schema (see `runnerFrames.invalidResultName`). */
const invalidResult = (task: Task.Any, value: unknown): Error => {
  const issue = Exit.match(Schema.decodeUnknownExit(Schema.toType(task.success as Schema.Top))(value), {
    onSuccess: () => "it cannot be encoded",
    onFailure: (cause) => String(Cause.squash(cause))
  })
  const error = new Error(`the result of task ${task.name} does not fit its success schema: ${issue}`)
  error.name = Frames.invalidResultName
  return error
}

/** Runs a handler (plain function or Effect) and checks that its result fits the task's success schema. */
const checkedHandler = (
  task: Task.Any,
  codecs: Core.Codecs,
  handler: (payload: any) => unknown,
  payload: unknown
): Effect.Effect<unknown, unknown> =>
  // lazy: the server calls this when the request arrives, and runs it when a slot is free
  Effect.suspend(() => {
    let result: unknown
    try {
      result = handler(payload)
    } catch (defect) {
      return Effect.die(defect)
    }
    if (!Effect.isEffect(result)) {
      return codecs.isSuccess(result) ? Effect.succeed(result) : Effect.die(invalidResult(task, result))
    }
    return Effect.flatMap(
      result as Effect.Effect<unknown, unknown>,
      (value) => codecs.isSuccess(value) ? Effect.succeed(value) : Effect.die(invalidResult(task, value))
    )
  })

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
    const codecs = Core.codecs(task)
    rpcHandlers[task.name] = (payload, { headers }) => {
      const effect = checkedHandler(task, codecs, handler, payload)
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
