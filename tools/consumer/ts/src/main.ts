// Gather, TaskGroup, Retry, Deadline and NodeRunner from the installed packages; prints one JSON line.
import { Effect, Exit, Fiber, Option } from "effect"
import * as Deadline from "@hybrid/core/Deadline"
import * as Gather from "@hybrid/core/Gather"
import * as NodeRunner from "@hybrid/core/NodeRunner"
import * as Retry from "@hybrid/core/Retry"
import * as Runner from "@hybrid/core/Runner"
import * as TaskGroup from "@hybrid/core/TaskGroup"
import { CountPrimes, Tasks } from "./primes.js"

class Flaky {
  readonly _tag = "Flaky"
}

let attempts = 0
const flaky: Effect.Effect<number, Flaky> = Effect.suspend(() =>
  ++attempts < 3 ? Effect.fail(new Flaky()) : Effect.succeed(attempts)
)

const program = Effect.gen(function*() {
  const primes = yield* Runner.forEach(CountPrimes, [{ n: 1_000 }, { n: 10_000 }, { n: 100_000 }])
  const gathered = yield* Gather.all([Effect.succeed(1), Effect.succeed(2)])
  const settled = yield* Gather.settle([Effect.succeed("ok"), Effect.fail("no")])
  const grouped = yield* TaskGroup.run((group) =>
    Effect.gen(function*() {
      const a = yield* group.spawn(Effect.succeed(1))
      const b = yield* group.spawn(Effect.succeed(2))
      return (yield* Fiber.join(a)) + (yield* Fiber.join(b))
    })
  )
  const groupError = yield* Effect.flip(
    TaskGroup.run((group: TaskGroup.TaskGroup<string, never>) =>
      Effect.andThen(group.spawn(Effect.fail("boom")), Effect.never)
    )
  )
  const retried = yield* flaky.pipe(Retry.retry(Retry.policy({ times: 5, base: "1 millis" })))
  const deadline = yield* Effect.flip(Effect.never.pipe(Deadline.within("20 millis")))
  const remaining = yield* Deadline.remaining.pipe(Deadline.within("1 minute"))
  return {
    primes,
    gathered,
    settled: settled.map((exit) => (Exit.isSuccess(exit) ? "Success" : "Failure")),
    grouped,
    groupError: `${groupError._tag}:${groupError.failures.join(",")}`,
    retried,
    deadline: deadline._tag,
    remaining: Option.isSome(remaining)
  }
})

const result = await Effect.runPromise(
  program.pipe(
    Effect.provide(NodeRunner.layer(Tasks, { worker: new URL("./primes.worker.js", import.meta.url), size: 2 }))
  )
)
console.log(JSON.stringify(result))
