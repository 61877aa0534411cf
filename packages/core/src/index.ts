/**
 * @hybrid/core — asyncio's concurrency and resilience concepts, and multi-core
 * parallelism, as Effect 4 values. One namespace per concept.
 *
 * @since 0.1.0
 */
export * as Batch from "./Batch.ts"
export * as Deadline from "./Deadline.ts"
export * as Gather from "./Gather.ts"
export * as Hedge from "./Hedge.ts"
export { InvalidOption } from "./InvalidOption.ts"
export * as Limit from "./Limit.ts"
export * as Options from "./Options.ts"
export * as Pipeline from "./Pipeline.ts"
export * as Retry from "./Retry.ts"
export * as TaskGroup from "./TaskGroup.ts"
export * as Task from "./Task.ts"
export * as Runner from "./Runner.ts"
export * as NodeRunner from "./NodeRunner.ts"
export * as RedisLimit from "./RedisLimit.ts"
