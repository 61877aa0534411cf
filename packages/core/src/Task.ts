/**
 * CPU tasks declared once, run anywhere — the "what" of Python's `run_in_executor`.
 *
 * A task is a name plus Schemas for its payload, its success and (optionally) its typed
 * error. Underneath it is an `effect/rpc` `Rpc`, and a group of tasks is an `RpcGroup`, so
 * the same declaration is the contract between the calling thread and a worker thread:
 * payloads and results cross the thread boundary encoded by their Schemas, and typed
 * errors (`Schema.TaggedError`) arrive as typed failures.
 *
 * Where a task runs is chosen by a layer (`Runner.layerInProcess`, `NodeRunner.layer`),
 * never by the calling code; see `Runner`.
 *
 * Gotchas:
 * - Declarations are imported by worker entry files, so a file that declares tasks must be
 *   erasable TypeScript with `.ts` import extensions and must not import the pool.
 * - Values cross the boundary through Schema's JSON codec (then structured clone): an
 *   `ArrayBuffer` / typed array is copied unless its schema is a `Transferable` schema —
 *   use `Task.Transferable.Uint8Array`, or wrap a schema with `Task.Transferable.schema`,
 *   to move it without a copy.
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import { Task } from "@hybrid/core"
 *
 * export class TooBig extends Schema.TaggedError<TooBig>()("TooBig", { n: Schema.Number }) {}
 *
 * export const CountPrimes = Task.make("CountPrimes", {
 *   payload: Schema.Struct({ n: Schema.Int }),
 *   success: Schema.Int,
 *   error: TooBig
 * })
 * export const Tasks = Task.group(CountPrimes)
 * ```
 *
 * @since 0.1.0
 */
import type { Effect } from "effect"
import * as Schema from "effect/Schema"
import * as Rpc from "effect/rpc/Rpc"
import * as RpcGroup from "effect/rpc/RpcGroup"
import * as TransferableModule from "effect/workers/Transferable"
import { InvalidOption } from "./InvalidOption.ts"

const TypeId = "~@hybrid/core/Task" as const

/**
 * A task declaration: a name and the Schemas of its payload, success and error.
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import { Task } from "@hybrid/core"
 *
 * const Resize: Task.Task<"Resize", Schema.Struct<{ width: Schema.Number }>, typeof Schema.String, typeof Schema.Never> =
 *   Task.make("Resize", { payload: Schema.Struct({ width: Schema.Number }), success: Schema.String })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Task<
  Name extends string,
  Payload extends Schema.Top,
  Success extends Schema.Top,
  Error extends Schema.Top
> {
  readonly [TypeId]: typeof TypeId
  readonly name: Name
  readonly payload: Payload
  readonly success: Success
  readonly error: Error
  /** The `effect/rpc` declaration underneath. */
  readonly rpc: Rpc.Rpc<Name, Payload, Success, Error>
}

/**
 * Any task.
 *
 * @example
 * ```ts
 * import { Task } from "@hybrid/core"
 *
 * // a helper over any task: its name for logs
 * const describe = (task: Task.Any): string => `task ${task.name}`
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Any {
  readonly [TypeId]: typeof TypeId
  readonly name: string
  readonly payload: Schema.Top
  readonly success: Schema.Top
  readonly error: Schema.Top
  readonly rpc: Rpc.Any
}

/**
 * The decoded payload type of a task.
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import { Task } from "@hybrid/core"
 *
 * const Resize = Task.make("Resize", { payload: Schema.Struct({ width: Schema.Number }), success: Schema.String })
 * const payload: Task.Payload<typeof Resize> = { width: 640 }
 * ```
 *
 * @since 0.1.0
 * @category type-level
 */
export type Payload<T extends Any> = T["payload"]["Type"]

/**
 * The decoded success type of a task.
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import { Task } from "@hybrid/core"
 *
 * const Resize = Task.make("Resize", { payload: Schema.Struct({ width: Schema.Number }), success: Schema.String })
 * const result: Task.Success<typeof Resize> = "resized.png"
 * ```
 *
 * @since 0.1.0
 * @category type-level
 */
export type Success<T extends Any> = T["success"]["Type"]

/**
 * The typed error of a task (`never` when it declares none).
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import { Task } from "@hybrid/core"
 *
 * class TooLarge extends Schema.TaggedError<TooLarge>()("TooLarge", { width: Schema.Number }) {}
 * const Resize = Task.make("Resize", { payload: Schema.Struct({ width: Schema.Number }), error: TooLarge })
 * const error: Task.Error<typeof Resize> = new TooLarge({ width: 99_999 })
 * ```
 *
 * @since 0.1.0
 * @category type-level
 */
export type Error<T extends Any> = T["error"]["Type"]

/**
 * A handler: an Effect (interruptible wherever it yields), or a plain synchronous
 * function (only stoppable by terminating its worker — see `NodeRunner`'s `cancelGrace`).
 * A thrown exception is a defect of that call only.
 *
 * @example
 * ```ts
 * import { Effect, Schema } from "effect"
 * import { Task } from "@hybrid/core"
 *
 * const Resize = Task.make("Resize", { payload: Schema.Struct({ width: Schema.Number }), success: Schema.String })
 * // a plain function or an Effect, from the payload to the result
 * const resize: Task.Handler<typeof Resize> = ({ width }) => Effect.succeed(`resized to ${width}`)
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type Handler<T extends Any> = (
  payload: Payload<T>
) => Effect.Effect<Success<T>, Error<T>> | Success<T>

/**
 * A set of tasks that run together on one runner (one worker file).
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import { Task } from "@hybrid/core"
 *
 * const Resize = Task.make("Resize", { payload: Schema.Struct({ width: Schema.Number }), success: Schema.String })
 * const Tasks = Task.group(Resize)
 * const names = Tasks.tasks.map((task) => task.name) // ["Resize"]
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Group<T extends Any> {
  readonly tasks: ReadonlyArray<T>
  /** The `effect/rpc` group underneath. */
  readonly rpcs: RpcGroup.RpcGroup<T["rpc"]>
  /** Look a task up by name. */
  readonly byName: ReadonlyMap<string, T>
}

/**
 * One handler per task of a group, keyed by task name.
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import { Task } from "@hybrid/core"
 *
 * const Add = Task.make("Add", { payload: Schema.Struct({ a: Schema.Number, b: Schema.Number }), success: Schema.Number })
 * const Neg = Task.make("Neg", { payload: Schema.Struct({ n: Schema.Number }), success: Schema.Number })
 * const Tasks = Task.group(Add, Neg)
 * // one handler per task name, each typed by its task
 * const handlers: Task.Handlers<Task.Tasks<typeof Tasks>> = { Add: ({ a, b }) => a + b, Neg: ({ n }) => -n }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type Handlers<T extends Any> = {
  readonly [Name in T["name"]]: Handler<Extract<T, { readonly name: Name }>>
}

/**
 * The tasks of a group.
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import { Task } from "@hybrid/core"
 *
 * const Tasks = Task.group(Task.make("Ping", { payload: Schema.Void, success: Schema.String }))
 * type Ping = Task.Tasks<typeof Tasks> // the Ping task's type
 * ```
 *
 * @since 0.1.0
 * @category type-level
 */
export type Tasks<G> = G extends Group<infer T> ? T : never

/**
 * Declares a task. `payload` and `success` are Schemas; `error`, if given, is usually a
 * `Schema.TaggedError` (or a union of them).
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import { Task } from "@hybrid/core"
 *
 * // declared once, imported by the main thread and by the worker file
 * export const CountPrimes = Task.make("CountPrimes", {
 *   payload: Schema.Struct({ n: Schema.Int }),
 *   success: Schema.Int
 * })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <
  const Name extends string,
  Payload extends Schema.Top,
  Success extends Schema.Top = typeof Schema.Void,
  Error extends Schema.Top = typeof Schema.Never
>(name: Name, options: {
  readonly payload: Payload
  readonly success?: Success | undefined
  readonly error?: Error | undefined
}): Task<Name, Payload, Success, Error> => {
  const success = (options.success ?? Schema.Void) as Success
  const error = (options.error ?? Schema.Never) as Error
  const rpc = Rpc.make(name, { payload: options.payload, success, error }) as unknown as Rpc.Rpc<
    Name,
    Payload,
    Success,
    Error
  >
  return { [TypeId]: TypeId, name, payload: options.payload, success, error, rpc }
}

/**
 * Groups tasks that are served by the same worker file.
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import { Task } from "@hybrid/core"
 *
 * const Encode = Task.make("Encode", { payload: Schema.String, success: Schema.String })
 * const Decode = Task.make("Decode", { payload: Schema.String, success: Schema.String })
 * export const Tasks = Task.group(Encode, Decode) // what NodeRunner.layer and serve take
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const group = <const Tasks extends ReadonlyArray<Any>>(...tasks: Tasks): Group<Tasks[number]> => {
  const byName = new Map<string, Tasks[number]>()
  for (const task of tasks) {
    if (byName.has(task.name)) {
      throw new InvalidOption({ where: "Task.group", option: "tasks", value: task.name, expected: "unique task names" })
    }
    byName.set(task.name, task)
  }
  const rpcs = RpcGroup.make(...tasks.map((task) => task.rpc)) as unknown as RpcGroup.RpcGroup<Tasks[number]["rpc"]>
  return { tasks, rpcs, byName }
}

/**
 * Whether a value is a task declaration.
 *
 * @example
 * ```ts
 * import { Task } from "@hybrid/core"
 *
 * const names = (module: Record<string, unknown>) => Object.values(module).filter(Task.isTask).map((t) => t.name)
 * ```
 *
 * @since 0.1.0
 * @category guards
 */
export const isTask = (u: unknown): u is Any => typeof u === "object" && u !== null && TypeId in u

/**
 * `effect/workers` `Transferable`: Schemas whose values are moved to (or from) a worker
 * with `postMessage`'s transfer list instead of being copied, e.g.
 * `Task.Transferable.Uint8Array`, or `Task.Transferable.schema(S, (encoded) => [buffer])`.
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import { Task } from "@hybrid/core"
 *
 * // the pixels are moved to the worker, not copied
 * const Blur = Task.make("Blur", {
 *   payload: Schema.Struct({ pixels: Task.Transferable.Uint8Array }),
 *   success: Task.Transferable.Uint8Array
 * })
 * ```
 *
 * @since 0.1.0
 * @category schemas
 */
export const Transferable = TransferableModule
