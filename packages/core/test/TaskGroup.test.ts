import { assert, describe, it } from "@effect/vitest"
import { Cause, Effect, Exit, Fiber } from "effect"
import { TestClock } from "effect/testing"
import { TaskGroup } from "@hybrid/core"
import { Jobs, Millis, runs, runVirtual } from "./support.ts"

const failuresOf = <A, E>(exit: Exit.Exit<A, TaskGroup.TaskGroupError<E>>): ReadonlyArray<E> | undefined => {
  if (Exit.isSuccess(exit)) return undefined
  const reason = exit.cause.reasons.find(Cause.isFailReason)
  return reason?.error.failures
}

describe("TaskGroup", () => {
  it.effect.prop(
    "fails iff some child failed, reports every failure that happened, and leaves no child alive",
    [Jobs, Millis],
    ([jobs, bodyMs]) =>
      Effect.gen(function*() {
        const happened: Array<number> = []
        const fibers: Array<Fiber.Fiber<unknown, number>> = []
        const exit = yield* runVirtual(TaskGroup.run<string, number>((group) =>
          Effect.gen(function*() {
            for (const [i, job] of jobs.entries()) {
              fibers.push(
                yield* group.spawn(Effect.sleep(job.ms).pipe(
                  Effect.andThen(job.fail ? Effect.sync(() => happened.push(i)).pipe(Effect.andThen(Effect.fail(i))) : Effect.void)
                ))
              )
            }
            yield* Effect.sleep(bodyMs)
            return "body"
          })
        ))
        assert.strictEqual(Exit.isFailure(exit), happened.length > 0)
        if (happened.length === 0) assert.deepStrictEqual(exit, Exit.succeed("body"))
        else assert.deepStrictEqual([...failuresOf(exit)!].sort(), [...happened].sort())
        for (const fiber of fibers) assert.isDefined(fiber.pollUnsafe(), "a child outlived its group")
        // the first failure cancelled everything due later
        if (happened.length > 0) {
          const firstFailure = Math.min(...happened.map((i) => jobs[i]!.ms))
          for (const i of happened) assert.strictEqual(jobs[i]!.ms, firstFailure)
        }
      }),
    runs
  )

  // Behavioural cases ported from CPython's Lib/test/test_asyncio/test_taskgroups.py

  it.effect("children are cancelled when one fails (test_taskgroup_03)", () =>
    Effect.gen(function*() {
      const log: Array<string> = []
      const exit = yield* runVirtual(TaskGroup.run<void, string>((group) =>
        Effect.gen(function*() {
          yield* group.spawn(Effect.sleep("10 seconds").pipe(Effect.onInterrupt(() => Effect.sync(() => log.push("t1 cancelled")))))
          yield* group.spawn(Effect.sleep("1 second").pipe(Effect.andThen(Effect.fail("ZeroDivisionError"))))
        })
      ))
      assert.deepStrictEqual(failuresOf(exit), ["ZeroDivisionError"])
      assert.deepStrictEqual(log, ["t1 cancelled"])
    }))

  it.effect("errors that happen together are aggregated (test_taskgroup_07, ExceptionGroup)", () =>
    Effect.gen(function*() {
      const exit = yield* runVirtual(TaskGroup.run<void, string>((group) =>
        Effect.gen(function*() {
          yield* group.spawn(Effect.fail("ValueError"))
          yield* group.spawn(Effect.fail("TypeError"))
        })
      ))
      assert.deepStrictEqual(failuresOf(exit), ["ValueError", "TypeError"])
    }))

  it.effect("the body's own error cancels the children and is reported (test_taskgroup_09)", () =>
    Effect.gen(function*() {
      const log: Array<string> = []
      const exit = yield* runVirtual(TaskGroup.run<void, string>((group) =>
        Effect.gen(function*() {
          yield* group.spawn(Effect.sleep("10 seconds").pipe(Effect.onInterrupt(() => Effect.sync(() => log.push("child cancelled")))))
          yield* Effect.sleep("1 second")
          return yield* Effect.fail("body failed")
        })
      ))
      assert.deepStrictEqual(failuresOf(exit), ["body failed"])
      assert.deepStrictEqual(log, ["child cancelled"])
    }))

  it.effect("cancelling the parent cancels every child (test_taskgroup_11)", () =>
    Effect.gen(function*() {
      const log: Array<string> = []
      const child = (name: string) => Effect.never.pipe(Effect.onInterrupt(() => Effect.sync(() => log.push(name))))
      const fiber = yield* Effect.forkChild(
        TaskGroup.run((group) =>
          Effect.gen(function*() {
            yield* group.spawn(child("a"))
            yield* group.spawn(child("b"))
            yield* Effect.never
          })
        ),
        { startImmediately: true }
      )
      yield* TestClock.adjust("1 second")
      yield* Fiber.interrupt(fiber)
      const exit = yield* Fiber.await(fiber)
      assert.isTrue(Exit.isFailure(exit) && Cause.hasInterruptsOnly(exit.cause))
      assert.deepStrictEqual(log.sort(), ["a", "b"])
    }))

  it.effect("nested groups: an inner failure fails the outer group (test_taskgroup_14)", () =>
    Effect.gen(function*() {
      const log: Array<string> = []
      const exit = yield* runVirtual(TaskGroup.run<void, TaskGroup.TaskGroupError<string> | string>((outer) =>
        Effect.gen(function*() {
          yield* outer.spawn(Effect.sleep("10 seconds").pipe(Effect.onInterrupt(() => Effect.sync(() => log.push("outer child")))))
          yield* outer.spawn(TaskGroup.run<void, string>((inner) =>
            Effect.gen(function*() {
              yield* inner.spawn(Effect.sleep("10 seconds").pipe(Effect.onInterrupt(() => Effect.sync(() => log.push("inner child")))))
              yield* inner.spawn(Effect.sleep("1 second").pipe(Effect.andThen(Effect.fail("inner boom"))))
            })
          ))
        })
      ))
      const failures = failuresOf(exit)!
      assert.strictEqual(failures.length, 1)
      const inner = failures[0] as TaskGroup.TaskGroupError<string>
      assert.strictEqual(inner._tag, "TaskGroupError")
      assert.deepStrictEqual(inner.failures, ["inner boom"])
      assert.deepStrictEqual(log.sort(), ["inner child", "outer child"])
    }))

  it.effect("an interrupted child does not fail the group (test_taskgroup_05)", () =>
    Effect.gen(function*() {
      const exit = yield* runVirtual(TaskGroup.run((group) =>
        Effect.gen(function*() {
          const child = yield* group.spawn(Effect.never)
          yield* Effect.sleep("1 second")
          yield* Fiber.interrupt(child)
          return "ok"
        })
      ))
      assert.deepStrictEqual(exit, Exit.succeed("ok"))
    }))

  it.effect("the group waits for every child, including children spawned by children", () =>
    Effect.gen(function*() {
      const log: Array<string> = []
      const exit = yield* runVirtual(TaskGroup.run((group) =>
        Effect.gen(function*() {
          yield* group.spawn(Effect.gen(function*() {
            yield* Effect.sleep("1 second")
            yield* group.spawn(Effect.sleep("5 seconds").pipe(Effect.andThen(Effect.sync(() => log.push("grandchild")))))
            log.push("child")
          }))
          return "body"
        })
      ), 10_000)
      assert.deepStrictEqual(exit, Exit.succeed("body"))
      assert.deepStrictEqual(log, ["child", "grandchild"])
    }))

  it.effect("spawn after the group ended is an error (test_taskgroup_21)", () =>
    Effect.gen(function*() {
      let saved: TaskGroup.TaskGroup<never, never> | undefined
      yield* TaskGroup.run((group) => Effect.sync(() => { saved = group }))
      const exit = yield* Effect.exit(saved!.spawn(Effect.void))
      assert.isTrue(Exit.isFailure(exit) && Cause.hasDies(exit.cause))
      const defect = Exit.isFailure(exit) ? exit.cause.reasons.find(Cause.isDieReason)?.defect : undefined
      assert.instanceOf(defect, TaskGroup.TaskGroupClosed)
    }))

  it.effect("a defect in a child cancels the group and stays a defect", () =>
    Effect.gen(function*() {
      const exit = yield* runVirtual(TaskGroup.run((group) =>
        Effect.gen(function*() {
          yield* group.spawn(Effect.never)
          yield* group.spawn(Effect.die("bug"))
        })
      ))
      assert.isTrue(Exit.isFailure(exit) && Cause.hasDies(exit.cause))
    }))
})
