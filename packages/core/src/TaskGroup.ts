/**
 * Structured concurrency — asyncio's `TaskGroup` and `ExceptionGroup` as an Effect value.
 *
 * `TaskGroup.run((group) => body)` runs `body`; inside it `group.spawn(effect)` starts a
 * child fiber and returns it. The group:
 *
 * - ends when the body **and** every child have ended, and succeeds with the body's value;
 *   a child that finished keeps its own `Success`, also when it is the last one;
 * - on the first failure (of a child or of the body) interrupts the body and every other
 *   child, waits for them to stop, and fails with `TaskGroupError { failures }` holding
 *   **every** failure, in the order they happened — the ones before the cancellation and
 *   the ones raised while it ran (a finalizer that fails, a member that fails in an
 *   uninterruptible region);
 * - keeps every defect (of a member, or of a finalizer run while the group cancels) as a
 *   defect beside the `TaskGroupError`, in the same `Cause`, so `Cause.pretty` shows all;
 * - when the group itself is interrupted, interrupts every member and waits for them; its
 *   `Cause` is then the interruption plus whatever the members' cleanup failed or died
 *   with (Effect cannot turn an outside interruption into a failure, as asyncio's
 *   `ExceptionGroup` does, so the failures ride beside the interruption);
 * - never lets a child outlive it: children live in a `Scope` the group closes.
 *
 * A child that is interrupted (by itself, or by someone holding its fiber) does not fail
 * the group, as in asyncio. A body that interrupts itself (`Effect.interrupt`) ends the
 * group as an interruption, as it would if it ran without a group.
 *
 * `spawn` once the group is shutting down (it has begun cancelling after a failure, or
 * because it was interrupted) or after it has ended is a bug and dies with
 * `TaskGroupClosed { state }` — asyncio's `RuntimeError` from `create_task`. The defect goes
 * to the caller of `spawn`: when that is the body or a child (a cleanup that spawns, say),
 * it lands in the group's `Cause` like any other defect. A child spawned in the same step
 * as a failure, before the group has reacted to it, is started and cancelled with the
 * rest, as asyncio does with tasks created before its done-callback runs.
 *
 * Underneath: `Scope` + `Effect.forkIn` (what `FiberSet` uses) and `Fiber.addObserver`;
 * written by hand is the collection of *every* failure, which `FiberSet.join` (first
 * failure only) lacks.
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
 * One or more members of the group failed. `failures` lists every failure, in the order
 * they happened: those that made the group cancel, and those raised while it cancelled.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { TaskGroup } from "@hybrid/core"
 *
 * const program = TaskGroup.run((group: TaskGroup.TaskGroup<string, never>) =>
 *   Effect.gen(function*() {
 *     yield* group.spawn(Effect.fail("disk full"))
 *     yield* group.spawn(Effect.never)
 *   })
 * ).pipe(Effect.catchTag("TaskGroupError", (e) => Effect.succeed(`failed: ${e.failures.join(", ")}`)))
 * ```
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
 * `spawn` was called when the group no longer takes children (a programming error: a
 * defect). `state` says why: `"shutting-down"` — the group was cancelling its members
 * after a failure or because it was interrupted; `"ended"` — the group had returned.
 *
 * @example
 * ```ts
 * import { Effect, Fiber } from "effect"
 * import { TaskGroup } from "@hybrid/core"
 *
 * // a child may spawn siblings while the group runs; after it ended, spawn dies with TaskGroupClosed
 * const program = TaskGroup.run((group) =>
 *   Effect.gen(function*() {
 *     const child = yield* group.spawn(Effect.succeed(1))
 *     return yield* Fiber.join(child)
 *   })
 * )
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class TaskGroupClosed extends Schema.TaggedError<TaskGroupClosed>()("TaskGroupClosed", {
  state: Schema.Literals(["shutting-down", "ended"])
}) {
  override get message(): string {
    return this.state === "ended"
      ? "TaskGroup.spawn called after the group had ended"
      : "TaskGroup.spawn called while the group was shutting down"
  }
}

/**
 * The handle `body` receives.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { TaskGroup } from "@hybrid/core"
 *
 * const crawl = (group: TaskGroup.TaskGroup<never, never>, url: string) =>
 *   group.spawn(Effect.log(`fetching ${url}`))
 * const program = TaskGroup.run((group) => Effect.forEach(["/a", "/b"], (url) => crawl(group, url)))
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface TaskGroup<E, R> {
  /**
   * Starts `effect` as a child of the group and returns its fiber. Dies with
   * `TaskGroupClosed` once the group is shutting down or has ended.
   */
  readonly spawn: <A>(effect: Effect.Effect<A, E, R>) => Effect.Effect<Fiber.Fiber<A, E>, never, R>
}

type Phase = "running" | TaskGroupClosed["state"]

/**
 * The members of one group (the body and the children) and what they ended with. Exits
 * are read by fiber observers, i.e. after a member has fully ended, so recording never
 * disturbs the member itself.
 */
class Members<A, E> {
  phase: Phase = "running"
  /** Members not yet ended, the body included. */
  readonly live = new Set<Fiber.Fiber<unknown, E>>()
  readonly failures: Array<E> = []
  readonly defects: Array<unknown> = []
  bodyExit: Exit.Exit<A, E> | undefined = undefined
  /** The body interrupted itself while the group was running. */
  selfInterrupt: Cause.Cause<never> | undefined = undefined
  /** Completed when the group must stop waiting: a failure, or everyone has ended. */
  readonly settled = Deferred.makeUnsafe<void>()
  private pending = 0

  /** Call before forking, so a member that ends at once is counted. */
  reserve(): void {
    this.pending++
  }

  watch(fiber: Fiber.Fiber<unknown, E>, isBody: boolean): void {
    this.live.add(fiber)
    fiber.addObserver((exit) => this.ended(fiber, exit, isBody))
  }

  private ended(fiber: Fiber.Fiber<unknown, E>, exit: Exit.Exit<unknown, E>, isBody: boolean): void {
    this.live.delete(fiber)
    this.pending--
    if (isBody) this.bodyExit = exit as Exit.Exit<A, E>
    let cancels = false
    if (Exit.isFailure(exit)) {
      for (const reason of exit.cause.reasons) {
        if (Cause.isFailReason(reason)) this.failures.push(reason.error)
        else if (Cause.isDieReason(reason)) this.defects.push(reason.defect)
      }
      if (isBody && this.phase === "running" && Cause.hasInterrupts(exit.cause)) {
        this.selfInterrupt = Cause.fromReasons(exit.cause.reasons.filter(Cause.isInterruptReason))
      }
      cancels = this.failures.length > 0 || this.defects.length > 0 || this.selfInterrupt !== undefined
    }
    if (cancels || this.pending === 0) Deferred.doneUnsafe(this.settled, Effect.void)
  }
}

const outcome = <A, E>(members: Members<A, E>, waited: Exit.Exit<void>): Exit.Exit<A, TaskGroupError<E>> => {
  const reasons: Array<Cause.Reason<TaskGroupError<E>>> = []
  if (members.failures.length > 0) {
    reasons.push(Cause.makeFailReason(new TaskGroupError<E>({ failures: members.failures })))
  }
  for (const defect of members.defects) reasons.push(Cause.makeDieReason(defect))
  // the group was interrupted from outside, or the body interrupted itself
  const interruption = Exit.isFailure(waited) ? waited.cause : members.selfInterrupt
  if (interruption !== undefined) reasons.push(...interruption.reasons.filter(Cause.isInterruptReason))
  if (reasons.length > 0) return Exit.failCause(Cause.fromReasons(reasons))
  return members.bodyExit as Exit.Exit<A, never>
}

/**
 * Runs `body` with a task group; see the module doc for the semantics.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { TaskGroup } from "@hybrid/core"
 *
 * // both children finish: the group succeeds with the body's value
 * const program = TaskGroup.run((group) =>
 *   Effect.gen(function*() {
 *     const a = yield* group.spawn(Effect.succeed(42).pipe(Effect.delay("100 millis")))
 *     const b = yield* group.spawn(Effect.succeed(11).pipe(Effect.delay("200 millis")))
 *     return [a, b] as const
 *   })
 * )
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const run = <A, E = never, R = never>(
  body: (group: TaskGroup<E, R>) => Effect.Effect<A, E, R>
): Effect.Effect<A, TaskGroupError<E>, R> =>
  Effect.uninterruptibleMask((restore) =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const members = new Members<A, E>()
      const fork = <X>(effect: Effect.Effect<X, E, R>, isBody: boolean) =>
        Effect.suspend(() => {
          members.reserve()
          return Effect.map(Effect.forkIn(effect, scope, { startImmediately: true }), (fiber) => {
            members.watch(fiber, isBody)
            return fiber
          })
        })

      const group: TaskGroup<E, R> = {
        spawn: (effect) =>
          Effect.suspend(() =>
            members.phase === "running"
              ? fork(effect, false)
              : Effect.die(new TaskGroupClosed({ state: members.phase }))
          )
      }

      yield* fork(Effect.suspend(() => body(group)), true)
      const waited = yield* Effect.exit(restore(Deferred.await(members.settled)))
      if (members.phase === "running") members.phase = "shutting-down"
      // interrupts the body and every child still running, and waits for them to stop;
      // no new child can join now, so `live` only shrinks
      if (members.live.size > 0) yield* Fiber.interruptAll(Array.from(members.live))
      members.phase = "ended"
      yield* Scope.close(scope, Exit.void)

      yield* Effect.annotateCurrentSpan({
        "taskgroup.failures": members.failures.length,
        "taskgroup.defects": members.defects.length
      })
      return yield* outcome(members, waited)
    })
  ).pipe(Effect.withSpan("TaskGroup.run"))
