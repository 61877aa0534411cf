/**
 * `POST /v1/answer/stream`: `Agent.stream` as server-sent events, under the same
 * admission control as `POST /v1/answer`.
 *
 * - **Admitted or refused before the stream starts**: the request waits for a slot as a
 *   JSON answer does (at most half its budget); refused, it is a JSON `503 Overloaded` /
 *   `Draining` with `Retry-After`, never a stream that says so later. Admitted, the
 *   response is `200 text/event-stream`, and the slot is held until the last event.
 * - **Events as they happen** (`ServeApi.StreamEvent`): `source` as each source settles,
 *   `context`, the LLM's `token`s, then `answer` — or `error`, last, with the JSON error
 *   body's shape. When no source answered, the stream ends with an `error` `NoAnswer`
 *   right after `context`: the LLM is not asked to answer from nothing.
 * - **A client that goes away stops the work**: the response stream's end interrupts the
 *   agent's fiber, so the fetches in flight are aborted and no LLM call is started for
 *   nobody.
 * - Metrics and the overload signal as for `POST /v1/answer`: sources cut by the
 *   deadline tell `Admission` the server is doing more than it can finish in time.
 *
 * Underneath: `HttpApiSchema.StreamSse` (the encoding, `text/event-stream`, the OpenAPI
 * entry), `Agent.stream`, an unbounded `Queue` between the agent's fiber and the response
 * (an answer's events are few: its sources, one `context`, its tokens, one `answer`).
 *
 * @example
 * ```ts
 * // curl -N -d '{"query":"rain in Oslo?"}' http://127.0.0.1:8787/v1/answer/stream
 * // event: source
 * // data: {"name":"weather","status":"ok","ms":41}
 * // …
 * // event: answer
 * // data: {"text":"…","sources":[…],"timings":{…},"degraded":false,"synthesis":"llm"}
 * import { Streaming } from "@hybrid/agent"
 *
 * const handler = Streaming.handler({ defaultBudgetMs: 2_000 })
 * ```
 *
 * @since 0.1.0
 */
import { type Cause, Deferred, Duration, Effect, Exit, Fiber, Queue, Stream } from "effect"
import { Deadline, type InvalidOption } from "@hybrid/core"
import * as Agent from "../Agent.ts"
import * as Scrub from "../Scrub.ts"
import * as Admission from "./Admission.ts"
import * as Api from "./Api.ts"
import * as ServeMetrics from "./Metrics.ts"

/**
 * The options of the streaming endpoint: the default budget and the scrubber of upstream
 * text.
 *
 * @example
 * ```ts
 * import type { Streaming } from "@hybrid/agent"
 *
 * const options: Streaming.Options = { defaultBudgetMs: 2_000 }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The budget of a request that names none, in milliseconds. */
  readonly defaultBudgetMs: number
  /** Every upstream text shown goes through it; default `Scrub.patterns`. */
  readonly scrub?: Scrub.Scrubber | undefined
}

/**
 * The reports as shown: upstream text in `error` scrubbed and cut.
 *
 * @example
 * ```ts
 * import { Agent, Scrub, Streaming } from "@hybrid/agent"
 *
 * Streaming.shown(Scrub.patterns, [new Agent.SourceReport({ name: "news", status: "failed", ms: 3, error: "status 500" })])
 * ```
 *
 * @since 0.1.0
 * @category utils
 */
export const shown = (scrub: Scrub.Scrubber, sources: ReadonlyArray<Agent.SourceReport>): Array<Agent.SourceReport> =>
  sources.map((s) => s.error === undefined ? s : new Agent.SourceReport({ ...s, error: scrub.text(s.error) }))

/**
 * Whether a source was cut by the deadline: the sign that the server is doing more than
 * it can finish in time.
 *
 * @example
 * ```ts
 * import { Agent, Streaming } from "@hybrid/agent"
 *
 * Streaming.timedOut([new Agent.SourceReport({ name: "kb", status: "timeout", ms: 250 })]) // true
 * ```
 *
 * @since 0.1.0
 * @category utils
 */
export const timedOut = (sources: ReadonlyArray<Agent.SourceReport>): boolean => sources.some((s) => s.status === "timeout")

/**
 * Whether an answer says the server is doing more than it can finish in time (the
 * overload signal for `Admission`): a source cut by the deadline, or more than 90 % of
 * the budget gone, counted from the request's arrival (the queue included).
 *
 * @example
 * ```ts
 * import { Streaming } from "@hybrid/agent"
 *
 * Streaming.strained([], 1_900, 2_000) // true
 * ```
 *
 * @since 0.1.0
 * @category utils
 */
export const strained = (sources: ReadonlyArray<Agent.SourceReport>, elapsedMs: number, budgetMs: number): boolean =>
  timedOut(sources) || elapsedMs > 0.9 * budgetMs

/** How a streamed answer ended, for the metrics and the overload signal. */
interface Ending {
  readonly outcome: "ok" | "degraded" | "no-answer"
  readonly sources: ReadonlyArray<Agent.SourceReport>
}

/** The stream stopped at `context`: no source answered. */
class NoContext {
  readonly _tag = "NoContext"
}

/**
 * Runs `events` into `queue` as `StreamEvent`s and ends it; never fails (a failure is the
 * last event, `error`).
 */
const pump = (
  events: Stream.Stream<Agent.Event, Agent.NoAnswer | InvalidOption>,
  queue: Queue.Queue<Api.StreamEvent, Cause.Done>,
  scrub: Scrub.Scrubber
): Effect.Effect<Ending> => {
  const settled: Array<Agent.SourceReport> = []
  // what `/v1/answer` records too: the answer's own verdict (an extractive answer is degraded)
  let degraded = true
  const offer = (event: Api.StreamEvent) => Effect.asVoid(Queue.offer(queue, event))
  /** The last event, `error`: the answer ends there. */
  const fail = (error: Api.StreamError["error"], sources: ReadonlyArray<Agent.SourceReport> = settled) =>
    Effect.as(offer({ event: "error", data: { error } }), { outcome: "no-answer", sources } as const)
  return events.pipe(
    Stream.runForEach((event): Effect.Effect<void, NoContext> => {
      switch (event._tag) {
        case "SourceSettled": {
          const [report] = shown(scrub, [event.report])
          settled.push(report!)
          return offer({ event: "source", data: report! })
        }
        case "ContextDone":
          return Effect.andThen(offer({ event: "context", data: { ms: event.ms, ok: event.ok } }), event.ok === 0 ? Effect.fail(new NoContext()) : Effect.void)
        case "Token":
          return offer({ event: "token", data: { text: event.text } })
        case "Done": {
          degraded = event.answer.degraded
          const answer = event.answer.degraded ? new Agent.Answer({ ...event.answer, sources: shown(scrub, event.answer.sources) }) : event.answer
          return offer({ event: "answer", data: answer })
        }
      }
    }),
    Effect.map((): Ending => ({ outcome: degraded ? "degraded" : "ok", sources: settled })),
    Effect.catchTags({
      NoContext: () => fail(Api.NoAnswer.noSource(settled, "not asked").error),
      NoAnswer: (e) => fail(Api.NoAnswer.of(scrub.all(e.message), shown(scrub, e.sources), scrub.text(e.llm)).error, e.sources),
      InvalidOption: (e) => fail({ tag: "BadRequest", message: scrub.all(e.message), field: "budgetMs" })
    }),
    Effect.catchDefect((defect) =>
      fail({ tag: "Internal", message: scrub.all(`internal error: ${defect instanceof Error ? defect.message : String(defect)}`) })
    ),
    Effect.ensuring(Queue.end(queue))
  )
}

/**
 * The handler of `POST /v1/answer/stream` (see the module comment): a 503 before any
 * work when admission refuses, else the events.
 *
 * @example
 * ```ts
 * import { Streaming } from "@hybrid/agent"
 *
 * const handler = Streaming.handler({ defaultBudgetMs: 30_000 })
 * ```
 *
 * @since 0.1.0
 * @category handlers
 */
export const handler = (options: Options) => {
  const scrub = options.scrub ?? Scrub.patterns
  return Effect.fn("hybrid.serve.stream")(function*({ payload }: { readonly payload: Api.AnswerRequest }) {
    const agent = yield* Agent.Agent
    const admission = yield* Admission.Admission
    const arrival = performance.now()
    const budgetMs = payload.budgetMs ?? options.defaultBudgetMs
    // the budget started on arrival: the wait for a slot counts against it
    const deadline = Date.now() + budgetMs
    const queue = yield* Queue.unbounded<Api.StreamEvent, Cause.Done>()
    const admitted = yield* Deferred.make<void>()
    const work = Effect.gen(function*() {
      yield* Deferred.succeed(admitted, undefined)
      const ending = yield* pump(agent.stream(payload.query, { budget: Duration.millis(budgetMs) }), queue, scrub)
      yield* ServeMetrics.recordAnswer(ending.outcome, ending.sources, Math.round(performance.now() - arrival))
      return ending
    }).pipe(Effect.provideService(Deadline.Current, deadline))
    // detached: the answer outlives this handler (it feeds the response); the response's end interrupts it
    const fiber = yield* admission.run(work, {
      maxWaitMs: budgetMs / 2,
      budgetMs,
      strained: (ending) => strained(ending.sources, performance.now() - arrival, budgetMs)
    }).pipe(Effect.forkDetach({ startImmediately: true }))
    const refused = yield* Effect.raceFirst(
      Effect.as(Deferred.await(admitted), undefined),
      Fiber.await(fiber)
    ).pipe(
      // the client went away while its request waited for a slot: nobody will read the answer
      Effect.onInterrupt(() => Fiber.interrupt(fiber))
    )
    if (refused !== undefined && Exit.isFailure(refused)) return yield* Effect.failCause(refused.cause)
    return Stream.fromQueue(queue).pipe(Stream.ensuring(Fiber.interrupt(fiber)))
  })
}
