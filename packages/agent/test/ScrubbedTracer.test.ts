import { assert, describe, it } from "@effect/vitest"
import { Cause, Effect, Exit, Layer, Option, Tracer } from "effect"
import { Scrub, ScrubbedTracer } from "@hybrid/agent"

const key = "sk-tracer-test-abcdefghijklmnop"

/** A tracer that keeps what it is given. */
const recording = () => {
  const ended: Array<{ name: string; exit: Exit.Exit<unknown, unknown>; attributes: Map<string, unknown> }> = []
  const tracer = Tracer.make({
    span: (options) => {
      const attributes = new Map<string, unknown>()
      const span: Tracer.Span = {
        _tag: "Span",
        name: options.name,
        spanId: "s",
        traceId: "t",
        parent: options.parent,
        annotations: options.annotations,
        status: { _tag: "Started", startTime: options.startTime },
        attributes,
        links: options.links,
        sampled: options.sampled,
        kind: options.kind,
        end: (_endTime, exit) => void ended.push({ name: options.name, exit, attributes }),
        attribute: (k, v) => void attributes.set(k, v),
        event: () => undefined,
        addLinks: () => undefined
      }
      return span
    }
  })
  return { tracer, ended }
}

describe("ScrubbedTracer", () => {
  it.effect("a failed span ends with the tag and scrubbed message only: no stack, no path; string attributes scrubbed, paths shortened", () =>
    Effect.gen(function*() {
      const { ended, tracer } = recording()
      const safe = ScrubbedTracer.make(tracer, Scrub.make({ secrets: [key] }))
      yield* Effect.fail(new Error(`401 from proxy: Authorization: Bearer ${key} at /home/me/app/src/llm.ts`)).pipe(
        Effect.withSpan("llm", { attributes: { url: `http://u:${key}@127.0.0.1/v1`, output: "/tmp/work/out.jsonl", n: 3 } }),
        Effect.exit,
        Effect.provide(Layer.succeed(Tracer.Tracer, safe))
      )
      const span = ended.find((s) => s.name === "llm")!
      assert.isTrue(Exit.isFailure(span.exit))
      const error = Exit.isFailure(span.exit) ? Option.getOrUndefined(Cause.findErrorOption(span.exit.cause)) as Error : undefined
      assert.strictEqual(error?.name, "Error")
      assert.strictEqual(error?.message, "401 from proxy: Authorization: Bearer [redacted] at …/llm.ts")
      assert.strictEqual(error?.stack, `Error: ${error?.message}`)
      assert.deepStrictEqual(Object.fromEntries(span.attributes), { url: "http://127.0.0.1/v1", output: "…/out.jsonl", n: 3 })
    }))

  it.effect("debug: spans pass through as they are", () =>
    Effect.gen(function*() {
      const { ended, tracer } = recording()
      const safe = ScrubbedTracer.make(tracer, Scrub.patterns, { debug: true })
      assert.strictEqual(safe, tracer)
      yield* Effect.void.pipe(Effect.withSpan("x", { attributes: { path: "/a/b/c" } }), Effect.provide(Layer.succeed(Tracer.Tracer, safe)))
      assert.strictEqual(ended[0]!.attributes.get("path"), "/a/b/c")
    }))

  it.effect("over Effect's NativeSpan (ids made on first read): a child's parent is the span the tracer made, in its trace", () =>
    Effect.gen(function*() {
      const made: Array<Tracer.Span> = []
      const native = Tracer.make({
        span: (options) => {
          const span = Tracer.nativeTracer.span(options)
          made.push(span)
          return span
        }
      })
      const safe = ScrubbedTracer.make(native, Scrub.patterns)
      yield* Effect.void.pipe(
        Effect.withSpan("child"),
        Effect.withSpan("root"),
        Effect.provide(Layer.succeed(Tracer.Tracer, safe))
      )
      const [root, child] = [made.find((s) => s.name === "root")!, made.find((s) => s.name === "child")!]
      const parent = Option.getOrThrow(child.parent)
      assert.strictEqual(parent.spanId, root.spanId)
      assert.strictEqual(child.traceId, root.traceId)
    }))
})
