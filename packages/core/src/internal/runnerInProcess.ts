/**
 * `Runner.layerInProcess`: every call runs on the calling fiber, after the same Schema
 * round trip a worker call makes (payload encoded + decoded, `Exit` encoded + decoded), so
 * results and typed errors are identical to `NodeRunner`'s.
 */
import { Clock, Effect, Exit, Metric } from "effect"
import type * as Task from "../Task.ts"
import * as Core from "./runnerCore.ts"

export const make = <T extends Task.Any>(
  group: Task.Group<T>,
  handlers: Task.Handlers<T>,
  options: { readonly taskTimeout: number | undefined }
): Core.RunnerShape => {
  const byName = group.byName
  const table = handlers as unknown as Record<string, (payload: unknown) => unknown>
  const run = Effect.fn("Runner.run")(function*(task: Task.Any, payload: unknown) {
    yield* Effect.annotateCurrentSpan({ task: task.name, queueWaitMs: 0 })
    const handler = table[task.name]
    if (byName.get(task.name) !== task || handler === undefined) return yield* Core.unknownTask(task)
    const codecs = Core.codecs(task)
    const encoded = yield* Effect.mapError(codecs.encodePayload(payload), (e) => Core.invalidPayload(task, e))
    const decoded = yield* Effect.mapError(codecs.decodePayload(encoded), (e) => Core.invalidPayload(task, e))
    const start = yield* Clock.currentTimeMillis
    let body: Effect.Effect<unknown, unknown> = Core.handlerEffect(handler, decoded)
    if (options.taskTimeout !== undefined) {
      const timeout = options.taskTimeout
      body = Effect.timeoutOrElse(body, {
        duration: timeout,
        orElse: () => Effect.fail(new Core.TaskTimeout({ task: task.name, timeout }))
      })
    }
    const exit = yield* Effect.exit(body)
    const runMs = (yield* Clock.currentTimeMillis) - start
    yield* Effect.annotateCurrentSpan({ runMs })
    yield* Metric.update(Core.runTime, runMs)
    if (Exit.isFailure(exit) && exit.cause.reasons.some((r) => r._tag === "Fail" && r.error instanceof Core.TaskTimeout)) {
      return yield* exit
    }
    const wire = yield* Effect.mapError(codecs.encodeExit(exit), (e) => Core.invalidResult(task, e))
    const back: Exit.Exit<unknown, unknown> = yield* Effect.mapError(
      codecs.decodeExit(wire),
      (e) => Core.invalidResult(task, e)
    )
    return yield* back
  })
  return {
    run: run as Core.RunnerShape["run"],
    capacity: "unbounded",
    maxQueue: undefined
  }
}
