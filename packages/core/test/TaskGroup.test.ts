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
const defectsOf = (exit: Exit.Exit<unknown, unknown>): ReadonlyArray<unknown> =>
  Exit.isFailure(exit) ? exit.cause.reasons.filter(Cause.isDieReason).map((r) => r.defect) : []
const interrupted = (exit: Exit.Exit<unknown, unknown>): boolean => Exit.isFailure(exit) && Cause.hasInterrupts(exit.cause)

/** Runs `effect` in a fiber, interrupts it after `after` ms of virtual time, and returns its Exit. */
const interruptAfter = <A, E>(effect: Effect.Effect<A, E>, after: number) =>
  Effect.gen(function*() {
    const fiber = yield* Effect.forkChild(effect, { startImmediately: true })
    yield* TestClock.adjust(after)
    assert.isUndefined(fiber.pollUnsafe(), "the group ended before it was interrupted")
    const interrupter = yield* Effect.forkChild(Fiber.interrupt(fiber), { startImmediately: true })
    yield* TestClock.adjust(3_600_000)
    yield* Fiber.join(interrupter)
    return yield* Fiber.await(fiber)
  })

const onCancel = (log: Array<string>, name: string) => Effect.onInterrupt(() => Effect.sync(() => log.push(name)))
const crashAfter = <E>(ms: number, error: E) => Effect.sleep(ms).pipe(Effect.andThen(Effect.fail(error)))

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

  // ---------------------------------------------------------------------------------
  // CPython's Lib/test/test_asyncio/test_taskgroups.py, case by case, under TestClock.
  // `1 / 0` is `Effect.fail("ZeroDivisionError")`; a `BaseException` that is not an
  // `Exception` (and an exception raised in a `finally`, which Effect models as a
  // finalizer that dies) is a defect. A task's `cancel()` is `Fiber.interrupt`.
  // ---------------------------------------------------------------------------------

  it.effect("test_taskgroup_01: every child keeps its value, the last one too", () =>
    Effect.gen(function*() {
      let t1: Fiber.Fiber<number> | undefined
      let t2: Fiber.Fiber<number> | undefined
      const exit = yield* runVirtual(TaskGroup.run((g) =>
        Effect.gen(function*() {
          t1 = yield* g.spawn(Effect.sleep(100).pipe(Effect.as(42)))
          t2 = yield* g.spawn(Effect.sleep(200).pipe(Effect.as(11)))
        })
      ))
      assert.isTrue(Exit.isSuccess(exit))
      assert.deepStrictEqual(t1!.pollUnsafe(), Exit.succeed(42))
      assert.deepStrictEqual(t2!.pollUnsafe(), Exit.succeed(11))
    }))

  it.effect("test_taskgroup_02: a child spawned after the first finished keeps its value", () =>
    Effect.gen(function*() {
      let t1: Fiber.Fiber<number> | undefined
      let t2: Fiber.Fiber<number> | undefined
      yield* runVirtual(TaskGroup.run((g) =>
        Effect.gen(function*() {
          t1 = yield* g.spawn(Effect.sleep(100).pipe(Effect.as(42)))
          yield* Effect.sleep(150)
          t2 = yield* g.spawn(Effect.sleep(200).pipe(Effect.as(11)))
        })
      ))
      assert.deepStrictEqual(t1!.pollUnsafe(), Exit.succeed(42))
      assert.deepStrictEqual(t2!.pollUnsafe(), Exit.succeed(11))
    }))

  it.effect("test_taskgroup_03: a child interrupted by the body does not fail the group", () =>
    Effect.gen(function*() {
      let t1: Fiber.Fiber<number> | undefined
      let t2: Fiber.Fiber<number> | undefined
      const exit = yield* runVirtual(TaskGroup.run((g) =>
        Effect.gen(function*() {
          t1 = yield* g.spawn(Effect.sleep(1000).pipe(Effect.as(42)))
          yield* Effect.sleep(150)
          yield* Fiber.interrupt(t1)
          t2 = yield* g.spawn(Effect.sleep(200).pipe(Effect.as(11)))
          return "ok"
        })
      ))
      assert.deepStrictEqual(exit, Exit.succeed("ok"))
      assert.isTrue(interrupted(t1!.pollUnsafe()!))
      assert.deepStrictEqual(t2!.pollUnsafe(), Exit.succeed(11))
    }))

  it.effect("test_taskgroup_04: a failing child cancels its sibling and the code after the group", () =>
    Effect.gen(function*() {
      let num = 0
      let t2Cancelled = false
      let t2: Fiber.Fiber<void, string> | undefined
      const exit = yield* runVirtual(Effect.gen(function*() {
        yield* TaskGroup.run<void, string>((g) =>
          Effect.gen(function*() {
            yield* g.spawn(crashAfter(100, "ZeroDivisionError"))
            t2 = yield* g.spawn(Effect.sleep(1000).pipe(
              Effect.andThen(Effect.sync(() => { num += 1 })),
              Effect.onInterrupt(() => Effect.sync(() => { t2Cancelled = true }))
            ))
          })
        )
        num += 10
      }))
      assert.deepStrictEqual(failuresOf(exit as Exit.Exit<void, TaskGroup.TaskGroupError<string>>), ["ZeroDivisionError"])
      assert.strictEqual(num, 0)
      assert.isTrue(t2Cancelled)
      assert.isTrue(interrupted(t2!.pollUnsafe()!))
    }))

  it.effect("test_cancel_children_on_child_error: the failures are gathered, the other child and the body cancelled", () =>
    Effect.gen(function*() {
      const log: Array<string> = []
      let happened = 0
      const exit = yield* runVirtual(TaskGroup.run<void, string>((g) =>
        Effect.gen(function*() {
          for (let i = 0; i < 3; i++) {
            yield* g.spawn(Effect.sleep(100).pipe(Effect.andThen(Effect.sync(() => happened++)), Effect.andThen(Effect.fail("ZeroDivisionError"))))
          }
          yield* g.spawn(Effect.sleep(5000).pipe(onCancel(log, "t2")))
          yield* Effect.sleep(10_000).pipe(onCancel(log, "runner"))
        })
      ))
      // as upstream notes, the three failures due at once race with the cancellation; under
      // TestClock too, the sleepers of one instant wake one by one. Every failure that
      // happened is reported.
      assert.isAtLeast(happened, 1)
      assert.deepStrictEqual(failuresOf(exit), Array(happened).fill("ZeroDivisionError"))
      assert.deepStrictEqual(log.sort(), ["runner", "t2"])
    }))

  it.effect("test_cancellation: interrupting the group interrupts every child", () =>
    Effect.gen(function*() {
      let num = 0
      const exit = yield* interruptAfter(
        TaskGroup.run((g) =>
          Effect.gen(function*() {
            for (let i = 0; i < 5; i++) {
              yield* g.spawn(Effect.sleep(5000).pipe(Effect.onInterrupt(() => Effect.sync(() => { num += 1 }))))
            }
          })
        ),
        100
      )
      assert.isTrue(Exit.isFailure(exit) && Cause.hasInterruptsOnly(exit.cause))
      assert.strictEqual(num, 5)
    }))

  it.effect("test_taskgroup_07: interrupting the group interrupts the children and the body", () =>
    Effect.gen(function*() {
      let num = 0
      const exit = yield* interruptAfter(
        TaskGroup.run((g) =>
          Effect.gen(function*() {
            for (let i = 0; i < 5; i++) {
              yield* g.spawn(Effect.sleep(5000).pipe(Effect.onInterrupt(() => Effect.sync(() => { num += 1 }))))
            }
            yield* Effect.sleep(10_000).pipe(Effect.onInterrupt(() => Effect.sync(() => { num += 10 })))
          })
        ),
        100
      )
      assert.isTrue(Exit.isFailure(exit) && Cause.hasInterruptsOnly(exit.cause))
      assert.strictEqual(num, 15)
    }))

  it.effect("test_cancellation_in_body: children failing at the instant the group is interrupted", () =>
    Effect.gen(function*() {
      // asyncio delivers the outside cancel before the children's failures are processed
      // and ends with CancelledError alone. Here the first child fails within the same
      // TestClock step, before the interruption arrives: the failures that happened are
      // reported, and nothing is lost either way.
      let happened = 0
      const fiber = yield* Effect.forkChild(
        TaskGroup.run<void, string>((g) =>
          Effect.gen(function*() {
            for (let i = 0; i < 5; i++) {
              yield* g.spawn(Effect.sleep(100).pipe(Effect.andThen(Effect.sync(() => happened++)), Effect.andThen(Effect.fail("ZeroDivisionError"))))
            }
            yield* Effect.sleep(10_000)
          })
        ),
        { startImmediately: true }
      )
      yield* TestClock.adjust(100)
      yield* Fiber.interrupt(fiber)
      const exit = yield* Fiber.await(fiber)
      assert.isAtLeast(happened, 1)
      assert.deepStrictEqual(failuresOf(exit), Array(happened).fill("ZeroDivisionError"))
    }))

  it.effect("test_taskgroup_08: cleanup that dies while the group is interrupted is kept beside the interruption", () =>
    Effect.gen(function*() {
      // asyncio turns the outside cancel into ExceptionGroup[ZeroDivisionError × 5]. Effect
      // cannot turn an outside interruption into a failure: the Cause is the interruption
      // plus the five defects.
      const exit = yield* interruptAfter(
        TaskGroup.run((g) =>
          Effect.gen(function*() {
            for (let i = 0; i < 5; i++) yield* g.spawn(Effect.sleep(10_000).pipe(Effect.ensuring(Effect.die("ZeroDivisionError"))))
            yield* Effect.sleep(10_000)
          })
        ),
        100
      )
      assert.isTrue(interrupted(exit))
      assert.deepStrictEqual(defectsOf(exit), Array(5).fill("ZeroDivisionError"))
    }))

  it.effect("test_taskgroup_09: the body's failure cancels the children", () =>
    Effect.gen(function*() {
      const fibers: Array<Fiber.Fiber<number, string>> = []
      const exit = yield* runVirtual(TaskGroup.run<void, string>((g) =>
        Effect.gen(function*() {
          fibers.push(yield* g.spawn(Effect.sleep(1000).pipe(Effect.as(42))))
          fibers.push(yield* g.spawn(Effect.sleep(2000).pipe(Effect.as(11))))
          yield* Effect.sleep(100)
          return yield* Effect.fail("ZeroDivisionError")
        })
      ))
      assert.deepStrictEqual(failuresOf(exit), ["ZeroDivisionError"])
      for (const fiber of fibers) assert.isTrue(interrupted(fiber.pollUnsafe()!))
    }))

  it.effect("test_taskgroup_10: the body failing at once cancels the children", () =>
    Effect.gen(function*() {
      const fibers: Array<Fiber.Fiber<number, string>> = []
      const exit = yield* runVirtual(TaskGroup.run<void, string>((g) =>
        Effect.gen(function*() {
          fibers.push(yield* g.spawn(Effect.sleep(1000).pipe(Effect.as(42))))
          fibers.push(yield* g.spawn(Effect.sleep(2000).pipe(Effect.as(11))))
          return yield* Effect.fail("ZeroDivisionError")
        })
      ))
      assert.deepStrictEqual(failuresOf(exit), ["ZeroDivisionError"])
      for (const fiber of fibers) assert.isTrue(interrupted(fiber.pollUnsafe()!))
    }))

  it.effect("test_taskgroup_11: nested groups interrupted from outside keep the inner children's cleanup defects", () =>
    Effect.gen(function*() {
      // asyncio: ExceptionGroup[ExceptionGroup[ZeroDivisionError × 5]]. Defects are not
      // nested inside a TaskGroupError: the outer Cause holds them beside the interruption.
      const exit = yield* interruptAfter(
        TaskGroup.run(() =>
          TaskGroup.run((g2) =>
            Effect.gen(function*() {
              for (let i = 0; i < 5; i++) yield* g2.spawn(Effect.sleep(10_000).pipe(Effect.ensuring(Effect.die("ZeroDivisionError"))))
              yield* Effect.sleep(10_000)
            })
          )
        ),
        100
      )
      assert.isTrue(interrupted(exit))
      assert.deepStrictEqual(defectsOf(exit), Array(5).fill("ZeroDivisionError"))
    }))

  it.effect("test_taskgroup_12: the same with a sleeping child in the outer group", () =>
    Effect.gen(function*() {
      const exit = yield* interruptAfter(
        TaskGroup.run<void, TaskGroup.TaskGroupError<never>>((g1) =>
          Effect.gen(function*() {
            yield* g1.spawn(Effect.sleep(10_000))
            yield* TaskGroup.run((g2) =>
              Effect.gen(function*() {
                for (let i = 0; i < 5; i++) yield* g2.spawn(Effect.sleep(10_000).pipe(Effect.ensuring(Effect.die("ZeroDivisionError"))))
                yield* Effect.sleep(10_000)
              })
            )
          })
        ),
        100
      )
      assert.isTrue(interrupted(exit))
      assert.deepStrictEqual(defectsOf(exit), Array(5).fill("ZeroDivisionError"))
    }))

  it.effect("test_taskgroup_13: an outer child's failure cancels the inner group, whose cancellation is not a failure", () =>
    Effect.gen(function*() {
      const exit = yield* runVirtual(TaskGroup.run<void, string | TaskGroup.TaskGroupError<string>>((g1) =>
        Effect.gen(function*() {
          yield* g1.spawn(crashAfter(100, "ValueError(0.1)"))
          yield* TaskGroup.run<void, string>((g2) => g2.spawn(crashAfter(10_000, "ValueError(10)")))
        })
      ))
      assert.deepStrictEqual(failuresOf(exit), ["ValueError(0.1)"])
      assert.deepStrictEqual(defectsOf(exit), [])
    }))

  it.effect("test_taskgroup_14: an inner failure fails the outer group as a nested TaskGroupError", () =>
    Effect.gen(function*() {
      const log: Array<string> = []
      const exit = yield* runVirtual(TaskGroup.run<void, TaskGroup.TaskGroupError<string> | string>((g1) =>
        Effect.gen(function*() {
          yield* g1.spawn(crashAfter(10_000, "ValueError(10)").pipe(onCancel(log, "outer child")))
          yield* TaskGroup.run<void, string>((g2) => g2.spawn(crashAfter(100, "ValueError(0.1)")))
        })
      ))
      const failures = failuresOf(exit)!
      assert.strictEqual(failures.length, 1)
      const inner = failures[0] as TaskGroup.TaskGroupError<string>
      assert.strictEqual(inner._tag, "TaskGroupError")
      assert.deepStrictEqual(inner.failures, ["ValueError(0.1)"])
      assert.deepStrictEqual(log, ["outer child"])
    }))

  it.effect("test_taskgroup_15: interrupting the group interrupts the children at once, while the body cleans up", () =>
    Effect.gen(function*() {
      // asyncio cancels only the body first; the child, cancelled later in __aexit__, has
      // crashed at 0.3 s by then, so asyncio reports ExceptionGroup[ZeroDivisionError].
      // Effect interrupts the body and the children together: the child is interrupted at
      // 0.1 s before it crashes, and the result is the interruption alone.
      const log: Array<string> = []
      const exit = yield* interruptAfter(
        TaskGroup.run<void, string>((g1) =>
          Effect.gen(function*() {
            yield* g1.spawn(crashAfter(300, "ZeroDivisionError").pipe(onCancel(log, "child")))
            yield* Effect.sleep(10_000).pipe(
              Effect.onInterrupt(() => Effect.sleep(500).pipe(Effect.andThen(Effect.sync(() => log.push("body cleaned up")))))
            )
          })
        ),
        100
      )
      assert.isTrue(Exit.isFailure(exit) && Cause.hasInterruptsOnly(exit.cause))
      assert.deepStrictEqual(log.sort(), ["body cleaned up", "child"])
    }))

  it.effect("test_taskgroup_16: the same with the group in a fiber of its own", () =>
    Effect.gen(function*() {
      const log: Array<string> = []
      const nested = TaskGroup.run<void, string>((g1) =>
        Effect.gen(function*() {
          yield* g1.spawn(crashAfter(300, "ZeroDivisionError").pipe(onCancel(log, "child")))
          yield* Effect.sleep(10_000).pipe(
            Effect.onInterrupt(() => Effect.sleep(500).pipe(Effect.andThen(Effect.sync(() => log.push("body cleaned up")))))
          )
        })
      )
      const exit = yield* interruptAfter(
        Effect.forkChild(nested, { startImmediately: true }).pipe(Effect.flatMap(Fiber.join)),
        100
      )
      assert.isTrue(interrupted(exit))
      assert.deepStrictEqual(log.sort(), ["body cleaned up", "child"])
    }))

  it.effect("test_taskgroup_17: an interrupted group without children interrupts the body", () =>
    Effect.gen(function*() {
      let num = 0
      const exit = yield* interruptAfter(
        TaskGroup.run(() => Effect.sleep(10_000).pipe(Effect.onInterrupt(() => Effect.sync(() => { num += 10 })))),
        100
      )
      assert.isTrue(Exit.isFailure(exit) && Cause.hasInterruptsOnly(exit.cause))
      assert.strictEqual(num, 10)
    }))

  it.effect("test_taskgroup_18: a body whose cleanup fails while interrupted reports the failure beside the interruption", () =>
    Effect.gen(function*() {
      // asyncio: ExceptionGroup[MyExc]. Effect keeps the outside interruption and puts
      // the failure beside it.
      let num = 0
      const exit = yield* interruptAfter(
        TaskGroup.run<void, string>(() =>
          Effect.sleep(10_000).pipe(
            Effect.onExit((exit) =>
              Exit.isFailure(exit) && Cause.hasInterrupts(exit.cause)
                ? Effect.sync(() => { num += 10 }).pipe(Effect.andThen(Effect.fail("MyExc")))
                : Effect.void
            )
          )
        ),
        100
      )
      assert.deepStrictEqual(failuresOf(exit), ["MyExc"])
      assert.isTrue(interrupted(exit))
      assert.strictEqual(num, 10)
    }))

  it.effect("test_taskgroup_19: a failure in the body's cleanup while cancelled joins the child's failure", () =>
    Effect.gen(function*() {
      const exit = yield* runVirtual(TaskGroup.run<void, string>((g) =>
        Effect.gen(function*() {
          yield* g.spawn(crashAfter(100, "ZeroDivisionError"))
          yield* Effect.sleep(10_000).pipe(Effect.onExit(() => Effect.fail("MyExc")))
        })
      ))
      assert.deepStrictEqual(failuresOf(exit), ["ZeroDivisionError", "MyExc"])
      assert.isFalse(interrupted(exit))
    }))

  it.effect("test_taskgroup_20: a defect in the body's cleanup while cancelled is kept beside the failure", () =>
    Effect.gen(function*() {
      // asyncio lets KeyboardInterrupt escape alone. Effect has no error that escapes the
      // group: the defect and the child's failure are both in the Cause.
      const exit = yield* runVirtual(TaskGroup.run<void, string>((g) =>
        Effect.gen(function*() {
          yield* g.spawn(crashAfter(100, "ZeroDivisionError"))
          yield* Effect.sleep(10_000).pipe(Effect.ensuring(Effect.die("KeyboardInterrupt")))
        })
      ))
      assert.deepStrictEqual(failuresOf(exit), ["ZeroDivisionError"])
      assert.deepStrictEqual(defectsOf(exit), ["KeyboardInterrupt"])
    }))

  it.effect("test_taskgroup_20a: a defect in the body's cleanup while cancelled joins the child's failure", () =>
    Effect.gen(function*() {
      const exit = yield* runVirtual(TaskGroup.run<void, string>((g) =>
        Effect.gen(function*() {
          yield* g.spawn(crashAfter(100, "ZeroDivisionError"))
          yield* Effect.sleep(10_000).pipe(Effect.ensuring(Effect.die("MyBaseExc")))
        })
      ))
      assert.deepStrictEqual(failuresOf(exit), ["ZeroDivisionError"])
      assert.deepStrictEqual(defectsOf(exit), ["MyBaseExc"])
      const pretty = Exit.isFailure(exit) ? Cause.pretty(exit.cause) : ""
      assert.include(pretty, "TaskGroupError")
      assert.include(pretty, "MyBaseExc")
    }))

  // _test_taskgroup_21 is disabled upstream (asyncio cannot propagate KeyboardInterrupt
  // from a child); test_taskgroup_21a covers the same ground.

  it.effect("test_taskgroup_21a: a child's defect and a defect in the body's cleanup are both kept", () =>
    Effect.gen(function*() {
      const exit = yield* runVirtual(TaskGroup.run((g) =>
        Effect.gen(function*() {
          yield* g.spawn(Effect.sleep(100).pipe(Effect.andThen(Effect.die("MyBaseExc"))))
          yield* Effect.sleep(10_000).pipe(Effect.ensuring(Effect.die("TypeError")))
        })
      ))
      assert.deepStrictEqual(defectsOf(exit), ["MyBaseExc", "TypeError"])
    }))

  it.effect("test_taskgroup_22: interrupting a group of sleeping children", () =>
    Effect.gen(function*() {
      const fibers: Array<Fiber.Fiber<number>> = []
      const exit = yield* interruptAfter(
        TaskGroup.run((g) =>
          Effect.gen(function*() {
            fibers.push(yield* g.spawn(Effect.sleep(1000).pipe(Effect.as(42))))
            fibers.push(yield* g.spawn(Effect.sleep(2000).pipe(Effect.as(11))))
          })
        ),
        50
      )
      assert.isTrue(Exit.isFailure(exit) && Cause.hasInterruptsOnly(exit.cause))
      for (const fiber of fibers) assert.isTrue(interrupted(fiber.pollUnsafe()!))
    }))

  it.effect("test_taskgroup_23: finished children leave the group", () =>
    Effect.gen(function*() {
      // `g._tasks` is private in asyncio; the live children are those whose fiber has no exit yet
      const fibers: Array<Fiber.Fiber<void>> = []
      const live = () => fibers.filter((f) => f.pollUnsafe() === undefined).length
      const counts: Array<number> = []
      const exit = yield* runVirtual(TaskGroup.run((g) =>
        Effect.gen(function*() {
          for (let count = 0; count < 10; count++) {
            yield* Effect.sleep(100)
            fibers.push(yield* g.spawn(Effect.sleep(300)))
            if (count === 5) counts.push(live())
          }
          yield* Effect.sleep(1350)
          counts.push(live())
        })
      ))
      assert.isTrue(Exit.isSuccess(exit))
      assert.isBelow(counts[0]!, 5)
      assert.strictEqual(counts[1], 0)
    }))

  it.effect("test_taskgroup_24: the group waits for children spawned by a child after the body ended", () =>
    Effect.gen(function*() {
      const log: Array<string> = []
      const exit = yield* runVirtual(TaskGroup.run((g) =>
        Effect.gen(function*() {
          yield* g.spawn(Effect.gen(function*() {
            yield* Effect.sleep(100)
            yield* g.spawn(Effect.sleep(100).pipe(Effect.andThen(Effect.sync(() => log.push("coro1(0.1)")))))
            yield* g.spawn(Effect.sleep(200).pipe(Effect.andThen(Effect.sync(() => log.push("coro1(0.2)")))))
          }))
          return "body"
        })
      ))
      assert.deepStrictEqual(exit, Exit.succeed("body"))
      assert.deepStrictEqual(log, ["coro1(0.1)", "coro1(0.2)"])
    }))

  it.effect("test_taskgroup_25: a failure stops children that keep spawning children", () =>
    Effect.gen(function*() {
      let hydras = 0
      const hydra = (g: TaskGroup.TaskGroup<string, never>): Effect.Effect<void> =>
        Effect.gen(function*() {
          hydras += 1
          yield* Effect.sleep(10)
          yield* g.spawn(hydra(g))
          yield* g.spawn(hydra(g))
        })
      const hercules = Effect.gen(function*() {
        while (hydras < 10) yield* Effect.sleep(15)
        return yield* Effect.fail("ZeroDivisionError")
      })
      const exit = yield* runVirtual(TaskGroup.run<void, string>((g) =>
        Effect.gen(function*() {
          yield* g.spawn(hydra(g))
          yield* g.spawn(hercules)
        })
      ))
      assert.deepStrictEqual(failuresOf(exit), ["ZeroDivisionError"])
      assert.deepStrictEqual(defectsOf(exit), [])
      assert.isAtLeast(hydras, 10)
    }))

  // test_taskgroup_task_name, test_name: fibers have no names in Effect (name the work
  // with Effect.withSpan instead). test_taskgroup_task_context: a child cannot be given a
  // mutable context to write into; Effect's Context is immutable and children inherit the
  // spawner's.

  it.effect("test_taskgroup_no_create_task_after_failure: spawn while the group shuts down is a TaskGroupClosed defect", () =>
    Effect.gen(function*() {
      const spawned: Array<Exit.Exit<unknown>> = []
      let ran = false
      const exit = yield* runVirtual(TaskGroup.run<void, string>((g) =>
        Effect.gen(function*() {
          yield* g.spawn(crashAfter(1, "ZeroDivisionError"))
          yield* g.spawn(Effect.sleep(1000).pipe(Effect.onInterrupt(() =>
            Effect.exit(g.spawn(Effect.sync(() => { ran = true }))).pipe(Effect.map((e) => spawned.push(e)))
          )))
        })
      ))
      assert.deepStrictEqual(failuresOf(exit), ["ZeroDivisionError"])
      assert.strictEqual(spawned.length, 1)
      const defect = defectsOf(spawned[0]!)[0]
      assert.instanceOf(defect, TaskGroup.TaskGroupClosed)
      assert.strictEqual((defect as TaskGroup.TaskGroupClosed).state, "shutting-down")
      assert.isFalse(ran)
    }))

  it.effect("test_taskgroup_context_manager_exit_raises: a resource's cleanup failure in the body joins the child's", () =>
    Effect.gen(function*() {
      const database = <A, E>(use: Effect.Effect<A, E>) =>
        Effect.acquireUseRelease(Effect.void, () => use, () => Effect.void).pipe(Effect.onExit(() => Effect.fail("CustomException")))
      const exit = yield* runVirtual(Effect.gen(function*() {
        const group = yield* Effect.exit(TaskGroup.run<void, string>((tg) =>
          database(Effect.gen(function*() {
            yield* tg.spawn(Effect.fail("CustomException"))
            yield* Effect.sleep(1000)
          }))
        ))
        yield* Effect.sleep(10) // the caller is not left interrupted
        return group
      }))
      assert.isTrue(Exit.isSuccess(exit))
      const group = Exit.isSuccess(exit) ? exit.value : exit
      assert.deepStrictEqual(failuresOf(group), ["CustomException", "CustomException"])
    }))

  // test_taskgroup_already_entered, test_taskgroup_double_enter, test_taskgroup_not_entered,
  // test_taskgroup_without_parent_task: `TaskGroup.run` is a value, not a context manager
  // to enter; there is no handle before the group runs.

  it.effect("test_taskgroup_finished / test_coro_closed_when_tg_closed: spawn after the end is a TaskGroupClosed defect and never runs", () =>
    Effect.gen(function*() {
      let saved: TaskGroup.TaskGroup<never, never> | undefined
      let ran = false
      yield* TaskGroup.run((group) => Effect.sync(() => { saved = group }))
      const exit = yield* Effect.exit(saved!.spawn(Effect.sync(() => { ran = true })))
      const defect = defectsOf(exit)[0]
      assert.instanceOf(defect, TaskGroup.TaskGroupClosed)
      assert.strictEqual((defect as TaskGroup.TaskGroupClosed).state, "ended")
      assert.isFalse(ran)
    }))

  it.effect("test_cancelling_level_preserved: a failed group leaves its caller running", () =>
    Effect.gen(function*() {
      const exit = yield* runVirtual(Effect.gen(function*() {
        const group = yield* Effect.exit(TaskGroup.run<void, string>((tg) => tg.spawn(crashAfter(0, "RuntimeError"))))
        assert.deepStrictEqual(failuresOf(group), ["RuntimeError"])
        yield* Effect.sleep(100)
        return "after"
      }))
      assert.deepStrictEqual(exit, Exit.succeed("after"))
    }))

  it.effect("test_nested_groups_both_cancelled: an inner failure caught in the body, an outer failure reported", () =>
    Effect.gen(function*() {
      let caught: ReadonlyArray<string> | undefined
      const exit = yield* runVirtual(TaskGroup.run<void, string>((outer) =>
        TaskGroup.run<void, string>((inner) =>
          Effect.gen(function*() {
            yield* inner.spawn(crashAfter(0, "RuntimeError"))
            yield* outer.spawn(crashAfter(0, "ValueError"))
          })
        ).pipe(Effect.catchTag("TaskGroupError", (e) => Effect.sync(() => { caught = e.failures })))
      ))
      assert.deepStrictEqual(caught, ["RuntimeError"])
      assert.deepStrictEqual(failuresOf(exit), ["ValueError"])
    }))

  it.effect("test_error_and_cancel: after catching the group's failure, the interrupted caller stays interrupted", () =>
    Effect.gen(function*() {
      // asyncio's cancel of `t` only reaches the body's await, and the child raises in
      // the meantime. In Effect the interruption reaches the children too, so the child
      // fails at the instant `t` is interrupted.
      let caught = false
      let after = false
      const inner = Effect.gen(function*() {
        yield* TaskGroup.run<void, string>((tg) =>
          Effect.gen(function*() {
            yield* tg.spawn(crashAfter(100, "RuntimeError"))
            yield* Effect.sleep(1000)
          })
        ).pipe(Effect.catchTag("TaskGroupError", () => Effect.sync(() => { caught = true })))
        yield* Effect.sleep(1000)
        after = true
      })
      const t = yield* Effect.forkChild(inner, { startImmediately: true })
      yield* TestClock.adjust(100)
      yield* Fiber.interrupt(t)
      const exit = yield* Fiber.await(t)
      assert.isTrue(caught)
      assert.isTrue(interrupted(exit))
      assert.isFalse(after)
    }))

  // test_exception_refcycles_*: about CPython's garbage collector; no meaning here.

  it.effect("test_cancels_task_if_created_during_creation: a child failing as it starts cancels its spawner", () =>
    Effect.gen(function*() {
      let ran = false
      const exit = yield* runVirtual(TaskGroup.run<void, string>((tg) =>
        tg.spawn(Effect.gen(function*() {
          yield* tg.spawn(Effect.fail("third task failed"))
          // asyncio's `await asyncio.sleep(0)`: a yield to the scheduler, where the
          // cancellation arrives
          yield* Effect.yieldNow.pipe(Effect.andThen(Effect.yieldNow), Effect.andThen(Effect.never), Effect.onInterrupt(() => Effect.sync(() => { ran = true })))
        }))
      ))
      assert.isTrue(ran)
      assert.deepStrictEqual(failuresOf(exit), ["third task failed"])
    }))

  it.effect("test_cancellation_does_not_leak_out_of_tg: the caller is not interrupted by a failed group", () =>
    Effect.gen(function*() {
      const group = yield* Effect.exit(TaskGroup.run<void, string>((tg) => tg.spawn(Effect.fail("MyError"))))
      assert.deepStrictEqual(failuresOf(group), ["MyError"])
      yield* Effect.yieldNow
      assert.isTrue(true)
    }))

  // Hybrid's own cases

  it.effect("a defect in a child cancels the group and stays a defect", () =>
    Effect.gen(function*() {
      const exit = yield* runVirtual(TaskGroup.run((group) =>
        Effect.gen(function*() {
          yield* group.spawn(Effect.never)
          yield* group.spawn(Effect.die("bug"))
        })
      ))
      assert.deepStrictEqual(defectsOf(exit), ["bug"])
    }))

  it.effect("a body that interrupts itself cancels the children and ends the group interrupted", () =>
    Effect.gen(function*() {
      const log: Array<string> = []
      const exit = yield* runVirtual(TaskGroup.run((group) =>
        Effect.gen(function*() {
          yield* group.spawn(Effect.never.pipe(onCancel(log, "child")))
          yield* Effect.sleep(100)
          return yield* Effect.interrupt
        })
      ))
      assert.isTrue(Exit.isFailure(exit) && Cause.hasInterruptsOnly(exit.cause))
      assert.deepStrictEqual(log, ["child"])
    }))
})
