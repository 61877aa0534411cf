/**
 * `runnerPool.ts` with an injected spawner (no threads): when the layer is ready.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Balancer from "../src/internal/poolBalancer.ts"
import type * as Spawner from "../src/internal/poolSpawner.ts"
import * as Pool from "../src/internal/runnerPool.ts"
import * as Frames from "../src/internal/runnerFrames.ts"
import { Inc, Tasks } from "./fixtures/tasks.ts"

const options: Pool.Options = {
  size: 2,
  concurrencyPerWorker: 1,
  maxQueue: undefined,
  taskTimeout: undefined,
  cancelGrace: 100,
  sendAhead: 2,
  recycleTasks: undefined,
  recycleHeapBytes: undefined,
  worker: new URL("file:///unused.worker.ts"),
  workerOptions: {},
  balancer: Balancer.leastLoaded
}

/** Worker 0 is ready at once and answers `Inc` (n + 1); the others never get ready. */
const oneReady: Spawner.Spawner = (workerId, events) => {
  if (workerId === 0) setImmediate(() => events.message([0]))
  return {
    threadId: workerId,
    post: (message) => {
      const frames = (message as [0, ReadonlyArray<unknown>])[1]
      const answers: Array<unknown> = []
      for (let i = 0; i < frames.length; i += frames[i] === Frames.request ? 5 : 2) {
        if (frames[i] === Frames.request) answers.push(frames[i + 1], Frames.answerSuccess, (frames[i + 3] as number) + 1)
      }
      setImmediate(() => events.message([1, answers]))
    },
    terminate: () => {
      setImmediate(() => events.exit(1))
      return Promise.resolve()
    },
    heapUsed: () => Promise.resolve(0),
    taken: () => 0
  }
}

describe("runnerPool", () => {
  it.live("the pool serves as soon as one worker is ready; the others join when they are", () =>
    Effect.scoped(Effect.gen(function*() {
      const pool = yield* Pool.make(Tasks, options, oneReady)
      assert.strictEqual(yield* pool.shape.run(Inc, 41), 42)
      assert.deepStrictEqual(pool.stats().workers.map((w) => w.state), ["ready", "starting"])
    })))
})
