/**
 * TaskGroup and Deadline together: random trees of groups, children, deadlines and
 * cleanups that fail, run under TestClock and sometimes interrupted from outside. Nothing
 * that went wrong may be lost or reported twice, and nothing that finished may be
 * reported as interrupted.
 */
import { assert, describe, it } from "@effect/vitest"
import { Cause, Effect, Exit, Fiber, Schema } from "effect"
import { TestClock } from "effect/testing"
import { Deadline, TaskGroup } from "@hybrid/core"
import { runs } from "./support.ts"

// Instants on a 20 ms grid, so that deadlines, ends and failures often fall together
const Tick = Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 5 }))
const MaybeTick = Schema.NullOr(Tick)
/** How a leaf or a body ends when it is left to run: 0–3 ok (so that many children return), 4 fail, 5 die. */
const Ending = Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 5 }))
const endingOf = (n: number): "ok" | "fail" | "die" => n <= 3 ? "ok" : n === 4 ? "fail" : "die"
/** What its cleanup does when it is interrupted. */
const Cleanup = Schema.Literals(["none", "fails", "dies"])

const Leaf = Schema.Struct({
  kind: Schema.Literal("leaf"),
  at: Tick,
  ending: Ending,
  cleanup: Cleanup,
  deadline: MaybeTick
})
const groupOf = <S extends Schema.Top>(child: S) =>
  Schema.Struct({
    kind: Schema.Literal("group"),
    at: Tick,
    ending: Ending,
    cleanup: Cleanup,
    deadline: MaybeTick,
    children: Schema.Array(child).check(Schema.isBetweenLength(0, 3))
  })
const Group1 = groupOf(Leaf)
const Group2 = groupOf(Schema.Union([Leaf, Group1]))
const Root = groupOf(Schema.Union([Leaf, Group1, Group2]))

interface Node {
  readonly kind: "leaf" | "group"
  readonly at: number
  readonly ending: number
  readonly cleanup: "none" | "fails" | "dies"
  readonly deadline: number | null
  readonly children?: ReadonlyArray<Node>
}

/** What happened while a tree ran. */
class Record {
  /** Every failure and defect raised, by id. */
  readonly raised: Array<string> = []
  /** The children whose effect returned. */
  readonly returned: Array<string> = []
  /** Every child's fiber, by id. */
  readonly fibers = new Map<string, Fiber.Fiber<unknown, unknown>>()
  raise(id: string, how: "fail" | "die"): Effect.Effect<never, string> {
    return Effect.suspend(() => {
      this.raised.push(id)
      return how === "fail" ? Effect.fail(id) : Effect.die(id)
    })
  }
}

type Built = Effect.Effect<string, unknown>

const build = (node: Node, id: string, record: Record): Built => {
  const how = endingOf(node.ending)
  const ending: Built = Effect.sleep(node.at * 20).pipe(
    Effect.andThen(how === "ok" ? Effect.succeed(id) : record.raise(id, how))
  )
  const cleaned = <A, E>(effect: Effect.Effect<A, E>) =>
    node.cleanup === "none" ? effect : effect.pipe(Effect.onExit((exit) =>
      Exit.isFailure(exit) && Cause.hasInterrupts(exit.cause)
        ? record.raise(`${id}/cleanup`, node.cleanup === "fails" ? "fail" : "die")
        : Effect.void
    ))
  const run: Built = node.kind === "leaf"
    ? cleaned(ending)
    : TaskGroup.run<string, unknown>((group) =>
      Effect.gen(function*() {
        for (const [i, child] of (node.children ?? []).entries()) {
          const childId = `${id}.${i}`
          // children start at once: one may return before spawn does
          const spawned = build(child, childId, record).pipe(Effect.tap(() => Effect.sync(() => record.returned.push(childId))))
          record.fibers.set(childId, yield* group.spawn(spawned))
        }
        return yield* cleaned(ending)
      })
    )
  return node.deadline === null ? run : run.pipe(Deadline.within(node.deadline * 20))
}

/** Every failure and defect in a Cause, looking into TaskGroupError; DeadlineExceeded is the deadline's own. */
const reported = (cause: Cause.Cause<unknown>): Array<string> => {
  const values = (value: unknown): Array<string> =>
    value instanceof TaskGroup.TaskGroupError ? value.failures.flatMap(values)
    : value instanceof Deadline.DeadlineExceeded ? []
    : [String(value)]
  return cause.reasons.flatMap((reason) =>
    Cause.isFailReason(reason) ? values(reason.error) : Cause.isDieReason(reason) ? values(reason.defect) : []
  )
}

describe("TaskGroup and Deadline trees", () => {
  it.effect.prop(
    "every failure and defect raised appears exactly once in the final Cause; every child that returned reports Success",
    [Root, MaybeTick],
    ([root, interruptAt]) =>
      Effect.gen(function*() {
        const record = new Record()
        const fiber = yield* Effect.forkChild(build(root as Node, "root", record), { startImmediately: true })
        if (interruptAt !== null) {
          yield* TestClock.adjust(interruptAt * 20)
          yield* Effect.forkChild(Fiber.interrupt(fiber), { startImmediately: true })
        }
        yield* TestClock.adjust(10_000)
        const exit = yield* Fiber.await(fiber)

        const seen = Exit.isFailure(exit) ? reported(exit.cause) : []
        assert.deepStrictEqual([...seen].sort(), [...record.raised].sort())
        for (const id of record.returned) {
          assert.deepStrictEqual(record.fibers.get(id)?.pollUnsafe(), Exit.succeed(id), `child ${id} returned but did not end in Success`)
        }
        for (const child of record.fibers.values()) assert.isDefined(child.pollUnsafe(), "a child outlived its group")
      }),
    runs
  )
})
