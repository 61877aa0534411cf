/**
 * The thin entry for worker files: what a `*.worker.ts` needs — task declarations
 * (`Task`) and `serve` — and nothing of the pool, `Batch`, `Pipeline` or platform HTTP.
 *
 * A worker thread pays for every module its entry file loads, once per worker, before it
 * can answer its first call. Importing `@hybrid/core` (the root) from a worker file loads
 * the pool and every other module too; importing this entry loads `Task`, `Deadline`
 * (the caller's deadline is visible in handlers) and the `effect/rpc` server over
 * `@effect/platform-node`'s worker runner — the server side only.
 *
 * `serve` and `layerServer` are the same functions as `NodeRunner.serve` and
 * `NodeRunner.layerServer`.
 *
 * @example
 * ```ts
 * // primes.worker.ts — the whole worker file
 * import { serve } from "@hybrid/core/worker"
 * import { countPrimes, Tasks } from "./primes.ts"
 *
 * serve(Tasks, { CountPrimes: ({ n }) => countPrimes(n) })
 * ```
 *
 * @since 0.1.0
 */
import type { Layer } from "effect"
import * as Serve from "./internal/runnerServe.ts"
import type * as TaskModule from "./Task.ts"

/**
 * Task declarations (`Task.make`, `Task.group`): the same module as `@hybrid/core/Task`.
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import { Task } from "@hybrid/core/worker"
 *
 * const Double = Task.make("Double", { payload: Schema.Struct({ n: Schema.Number }), success: Schema.Number })
 * export const Tasks = Task.group(Double)
 * ```
 *
 * @since 0.1.0
 */
export * as Task from "./Task.ts"

/**
 * Serves a group of tasks in the current worker thread — the whole body of a worker entry
 * file. Handlers are Effects or plain (synchronous) functions; a thrown exception is a
 * defect of that call only. Runs until the pool closes the worker.
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import { serve, Task } from "@hybrid/core/worker"
 *
 * const Double = Task.make("Double", { payload: Schema.Struct({ n: Schema.Number }), success: Schema.Number })
 * const Tasks = Task.group(Double)
 *
 * serve(Tasks, { Double: ({ n }) => n * 2 })
 * ```
 *
 * @since 0.1.0
 * @category workers
 */
export const serve: <T extends TaskModule.Any>(
  group: TaskModule.Group<T>,
  handlers: NoInfer<TaskModule.Handlers<T>>
) => void = Serve.serve

/**
 * The worker side as a layer (what `serve` launches), to compose with other layers
 * before launching it yourself.
 *
 * @example
 * ```ts
 * import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
 * import { Layer, Schema } from "effect"
 * import { layerServer, Task } from "@hybrid/core/worker"
 *
 * const Double = Task.make("Double", { payload: Schema.Struct({ n: Schema.Number }), success: Schema.Number })
 * const Tasks = Task.group(Double)
 *
 * NodeRuntime.runMain(Layer.launch(layerServer(Tasks, { Double: ({ n }) => n * 2 })))
 * ```
 *
 * @since 0.1.0
 * @category workers
 */
export const layerServer: <T extends TaskModule.Any>(
  group: TaskModule.Group<T>,
  handlers: NoInfer<TaskModule.Handlers<T>>
) => Layer.Layer<never> = Serve.layer
