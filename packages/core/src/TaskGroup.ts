/**
 * Structured concurrency — asyncio's `TaskGroup` and `ExceptionGroup` as an Effect value.
 *
 * `TaskGroup.run((group) => body)` runs `body`; inside it `group.spawn(effect)` starts a
 * child fiber and returns it. The group:
 *
 * - ends when the body **and** every child have ended, and succeeds with the body's value;
 * - on the first failure (of a child or of the body) interrupts the body and every other
 *   child, waits for them to stop, and fails with `TaskGroupError { failures }` holding
 *   **every** failure that happened before the cancellation — not only the first;
 * - interrupts all children when the group itself is interrupted;
 * - never lets a child outlive it: children live in a `Scope` the group closes.
 *
 * A child that is interrupted (by itself, or by someone holding its fiber) does not fail
 * the group, as in asyncio. Defects in children cancel the group too and are kept as
 * defects beside the `TaskGroupError`. `spawn` after the group has closed is a bug and
 * dies with `TaskGroupClosed`.
 *
 * Underneath: `Scope` + `Effect.forkIn` (what `FiberSet` uses); written by hand is the
 * collection of *every* failure, which `FiberSet.join` (first failure only) lacks.
 *
 * Gotcha: the error type of the children must be part of the body's error type `E`
 * (annotate `TaskGroup.run<A, E>(…)` when the body itself cannot fail).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { TaskGroup } from "@hybrid/core"
 *
 * const program = TaskGroup.run<string, string>((group) =>
 *   Effect.gen(function*() {
 *     yield* group.spawn(Effect.sleep("1 second"))        // interrupted when "b" fails
 *     yield* group.spawn(Effect.fail("b"))
 *     yield* group.spawn(Effect.fail("c"))
 *     return "body done"
 *   })
 * )
 * // fails with TaskGroupError { failures: ["b", "c"] }
 * ```
 *
 * @since 0.1.0
 */
import { Cause, Deferred, Effect, Exit, Fiber, Schema, Scope } from "effect"

/**
 * One or more members of the group failed. `failures` lists every failure that happened
 * before the group cancelled the rest, in the order they happened.
 *
 * @since 0.1.0
 * @category errors
 */
export class TaskGroupError<E = unknown> extends Schema.TaggedError<TaskGroupError<any>>()("TaskGroupError", {
  failures: Schema.Array(Schema.Unknown)
}) {
  declare readonly failures: ReadonlyArray<E>
  override get message(): string {
    return `${this.failures.length} task(s) in the group failed`
  }
}

/**
 * `spawn` was called after the group had ended (a programming error: a defect).
 *
 * @since 0.1.0
 * @category errors
 */
export class TaskGroupClosed extends Schema.TaggedError<TaskGroupClosed>()("TaskGroupClosed", {}) {
  override get message(): string {
    return "TaskGroup.spawn called after the group had ended"
  }
}

/**
 * The handle `body` receives.
 *
 * @since 0.1.0
 * @category models
 */
export interface TaskGroup<E, R> {
  /** Starts `effect` as a child of the group and returns its fiber. */
  readonly spawn: <A>(effect: Effect.Effect<A, E, R>) => Effect.Effect<Fiber.Fiber<A, E>, never, R>
}

/**
 * Runs `body` with a task group; see the module doc for the semantics.
 *
 * @since 0.1.0
 * @category constructors
 */
export const run = <A, E = never, R = never>(
  body: (group: TaskGroup<E, R>) => Effect.Effect<A, E, R>
): Effect.Effect<A, TaskGroupError<E>, R> =>
  Effect.acquireUseRelease(
    Scope.make(),
    (scope) =>
      Effect.gen(function*() {
        const failures: Array<E> = []
        const defects: Array<unknown> = []
        let active = 0
        let bodyDone = false
        let cancelling = false
        let closed = false
        let bodyValue: A | undefined
        const settled = yield* Deferred.make<void>()

        // Records how a member ended; returns whether the group is now settled.
        const record = (exit: Exit.Exit<unknown, E>): boolean => {
          if (Exit.isFailure(exit) && !cancelling) {
            for (const reason of exit.cause.reasons) {
              if (Cause.isFailReason(reason)) failures.push(reason.error)
              else if (Cause.isDieReason(reason)) defects.push(reason.defect)
            }
          }
          return failures.length > 0 || defects.length > 0 || (bodyDone && active === 0)
        }
        const settleIf = (done: boolean) => done ? Deferred.succeed(settled, undefined) : Effect.void

        const group: TaskGroup<E, R> = {
          spawn: (effect) =>
            Effect.suspend(() => {
              if (closed) return Effect.die(new TaskGroupClosed())
              active++
              const child = Effect.onExit(effect, (exit) =>
                Effect.suspend(() => {
                  active--
                  return settleIf(record(exit))
                }))
              return Effect.forkIn(child, scope, { startImmediately: true })
            })
        }

        yield* Effect.forkIn(
          Effect.onExit(Effect.suspend(() => body(group)), (exit) =>
            Effect.suspend(() => {
              bodyDone = true
              if (Exit.isSuccess(exit)) bodyValue = exit.value
              return settleIf(record(exit))
            })),
          scope,
          { startImmediately: true }
        )

        yield* Deferred.await(settled)
        cancelling = true
        yield* Scope.close(scope, Exit.void) // interrupts the body and every child still running
        closed = true

        yield* Effect.annotateCurrentSpan({ "taskgroup.failures": failures.length, "taskgroup.defects": defects.length })
        if (failures.length === 0 && defects.length === 0) return bodyValue as A
        const reasons: Array<Cause.Reason<TaskGroupError<E>>> = defects.map(Cause.makeDieReason)
        if (failures.length > 0) reasons.unshift(Cause.makeFailReason(new TaskGroupError<E>({ failures })))
        return yield* Effect.failCause(Cause.fromReasons(reasons))
      }),
    (scope, exit) => Scope.close(scope, exit)
  ).pipe(Effect.withSpan("TaskGroup.run"))
