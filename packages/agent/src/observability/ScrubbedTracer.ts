/**
 * A `Tracer` wrapper that lets nothing an upstream said, and nothing about the machine,
 * leave the process in a span: every failure a span ends with is replaced by its tag and
 * scrubbed message (`Scrub`) — no stack trace, no source path, no span frames — and every
 * string attribute or event attribute is scrubbed and has its absolute paths shortened to
 * `…/file`. With `debug: true` spans pass through untouched (for a developer's own
 * collector).
 *
 * Why a tracer wrapper: Effect's OTLP exporter renders a failed span's `Cause` itself
 * (`Cause.prettyErrors`: the error's message as the span status, its stack — with
 * absolute paths and the spans' call sites — as `exception.stacktrace`), so the only place
 * to clean what it exports, for every span of every module, is between the fibers and
 * the exporter.
 *
 * @since 0.1.0
 */
import { Cause, Exit, Tracer } from "effect"
import type * as Scrub from "../Scrub.ts"

/** A failure as shown in a span: its tag as `name`, its scrubbed message, a stack of one line. */
class ShownError extends Error {
  constructor(name: string, message: string) {
    super(message)
    this.name = name
    this.stack = `${name}: ${message}`
  }
}

/** Absolute POSIX paths (two segments or more) after a start, space, quote, `(` or `=`. */
const absolutePath = /(^|[\s("'=:[,])\/(?:[^/\s"'():,[\]]+\/)+([^/\s"'():,[\]]+)/g

/**
 * `text` with every absolute path shortened to `…/<last segment>`.
 *
 * @example
 * ```ts
 * import { ScrubbedTracer } from "@hybrid/agent"
 *
 * ScrubbedTracer.shortenPaths("cannot open /home/me/work/out.jsonl") // "cannot open …/out.jsonl"
 * ```
 *
 * @since 0.1.0
 * @category scrubbing
 */
export const shortenPaths = (text: string): string => text.replace(absolutePath, "$1…/$2")

const scrubValue = (scrub: Scrub.Scrubber, value: unknown): unknown =>
  typeof value === "string" ? shortenPaths(scrub.all(value.length > 4_096 ? `${value.slice(0, 4_095)}…` : value)) : value

const scrubRecord = (scrub: Scrub.Scrubber, attributes: Record<string, unknown> | undefined) =>
  attributes === undefined
    ? undefined
    : Object.fromEntries(Object.entries(attributes).map(([k, v]) => [k, scrubValue(scrub, v)]))

/**
 * The exit with every failure and defect replaced by a `ShownError` (tag, scrubbed
 * message, no stack); successes and interruptions as they were.
 *
 * @example
 * ```ts
 * import { Exit } from "effect"
 * import { Scrub, ScrubbedTracer } from "@hybrid/agent"
 *
 * ScrubbedTracer.scrubExit(Exit.fail(new Error("Bearer abcdefgh1234")), Scrub.patterns)
 * ```
 *
 * @since 0.1.0
 * @category scrubbing
 */
export const scrubExit = <A, E>(exit: Exit.Exit<A, E>, scrub: Scrub.Scrubber): Exit.Exit<A, unknown> => {
  if (Exit.isSuccess(exit) || Cause.hasInterruptsOnly(exit.cause)) return exit
  const reasons = exit.cause.reasons.map((reason) => {
    if (Cause.isInterruptReason(reason)) return reason
    const shown = scrub.error(Cause.isFailReason(reason) ? reason.error : reason.defect)
    const error = new ShownError(shown._tag, shortenPaths(shown.message))
    return Cause.isFailReason(reason) ? Cause.makeFailReason(error) : Cause.makeDieReason(error)
  })
  return Exit.failCause(Cause.fromReasons(reasons))
}

/**
 * The span `inner`, with what it is given scrubbed on the way in. Every field is read
 * through `inner` by a getter, not inherited from it: a tracer's span may make its ids
 * on first read (Effect's `NativeSpan` and the OTLP span do), and read through a
 * prototype they would be made on the wrapper — a child would then name a parent id the
 * exported span never had.
 */
const scrubbedSpan = (inner: Tracer.Span, scrub: Scrub.Scrubber): Tracer.Span => ({
  _tag: "Span",
  get name() {
    return inner.name
  },
  get spanId() {
    return inner.spanId
  },
  get traceId() {
    return inner.traceId
  },
  get parent() {
    return inner.parent
  },
  get annotations() {
    return inner.annotations
  },
  get status() {
    return inner.status
  },
  get attributes() {
    return inner.attributes
  },
  get links() {
    return inner.links
  },
  get sampled() {
    return inner.sampled
  },
  get kind() {
    return inner.kind
  },
  end: (endTime, exit) => inner.end(endTime, scrubExit(exit, scrub)),
  attribute: (key, value) => inner.attribute(key, scrubValue(scrub, value)),
  event: (name, startTime, attributes) => inner.event(name, startTime, scrubRecord(scrub, attributes)),
  addLinks: (links) => inner.addLinks(links)
})

/**
 * `tracer` with every span scrubbed (see the module comment); `debug: true` returns
 * `tracer` itself.
 *
 * @example
 * ```ts
 * import { Tracer } from "effect"
 * import { Scrub, ScrubbedTracer } from "@hybrid/agent"
 *
 * declare const otlp: Tracer.Tracer
 * const safe = ScrubbedTracer.make(otlp, Scrub.make({ secrets: [process.env["OPENAI_API_KEY"]] }))
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (tracer: Tracer.Tracer, scrub: Scrub.Scrubber, options: { readonly debug?: boolean | undefined } = {}): Tracer.Tracer =>
  options.debug === true ? tracer : Tracer.make({
    span: (spanOptions) => scrubbedSpan(tracer.span(spanOptions), scrub),
    context: tracer.context
  })
