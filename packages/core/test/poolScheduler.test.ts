/**
 * The pool's scheduling logic without threads: `poolScheduler.ts` driven by a virtual event
 * loop and fake in-memory workers that speak the real framing (`runnerFrames.ts`). Random
 * arrivals, costs, crashes, stuck handlers, interruptions and recycling, from seeded
 * generators (deterministic: a failure names its seed), checking after every event that
 * the books are consistent, and at the end that:
 * - no call is lost or answered twice, and none runs to completion twice;
 * - no worker ever holds more calls waiting than sending ahead allows;
 * - every interrupted call's worker stops it, or is terminated, within `cancelGrace`;
 * - a call that fails with `WorkerCrashed` was sent to a worker that died, and taken off
 *   its queue by it (the shared "requests taken" counter); no answer of it left that worker.
 * The fake workers answer as `runnerServe.ts` does — several answers per message behind
 * short calls, lost with the thread if it dies — or one answer per message, with or
 * without the shared counter (chosen per seed).
 */
import { describe, expect, it } from "@effect/vitest"
import * as Balancer from "../src/internal/poolBalancer.ts"
import type * as CallState from "../src/internal/poolCall.ts"
import * as Scheduler from "../src/internal/poolScheduler.ts"
import { type Call, sendAheadMax, Slot } from "../src/internal/poolSlot.ts"
import type * as Spawner from "../src/internal/poolSpawner.ts"
import * as Frames from "../src/internal/runnerFrames.ts"

// --- a seeded generator ------------------------------------------------------------------

const mulberry32 = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}

interface Random {
  readonly next: () => number
  readonly between: (lo: number, hi: number) => number
  readonly int: (lo: number, hi: number) => number
  readonly chance: (p: number) => boolean
  readonly pick: <A>(as: ReadonlyArray<A>) => A
}

const random = (seed: number): Random => {
  const next = mulberry32(seed)
  return {
    next,
    between: (lo, hi) => lo + (hi - lo) * next(),
    int: (lo, hi) => lo + Math.floor((hi - lo + 1) * next()),
    chance: (p) => next() < p,
    pick: (as) => as[Math.floor(as.length * next())]!
  }
}

// --- a virtual event loop ----------------------------------------------------------------

interface Timer {
  readonly at: number
  readonly seq: number
  readonly f: () => void
  cancelled: boolean
}

class World implements Scheduler.Env {
  time = 0
  private seq = 0
  private events: Array<Timer> = []
  /** Called after every event (the invariant checks). */
  afterEach: () => void = () => {}

  readonly now = () => this.time
  readonly setTimer = (f: () => void, ms: number): unknown => this.at(this.time + Math.max(0, ms), f)
  readonly clearTimer = (timer: unknown) => {
    ;(timer as Timer).cancelled = true
  }
  readonly defer = (f: () => void) => {
    this.at(this.time, f)
  }

  at(at: number, f: () => void): Timer {
    const timer: Timer = { at, seq: this.seq++, f, cancelled: false }
    // sorted by (at, seq): events at the same time run in the order they were scheduled
    let i = this.events.length
    while (i > 0 && (this.events[i - 1]!.at > at)) i--
    this.events.splice(i, 0, timer)
    return timer
  }

  /** Runs events until none is left (or `limit` have run: a livelock is a failure). */
  run(limit = 200_000): void {
    let n = 0
    while (this.events.length > 0) {
      if (++n > limit) throw new Error("the event loop did not settle")
      const timer = this.events.shift()!
      if (timer.cancelled) continue
      this.time = timer.at
      timer.f()
      this.afterEach()
    }
  }
}

// --- fake workers ------------------------------------------------------------------------

/** A call's payload in these tests: what its handler does. */
interface Job {
  readonly cost: number
  /** The worker's thread dies at the end of it. */
  readonly crash: boolean
  /** Synchronous: an `Interrupt` does not stop it. */
  readonly stuck: boolean
}

interface Execution {
  readonly worker: number
  startedAt: number
  endedAt: number | undefined
  completed: boolean
}

/** What the fake workers saw, for the final checks. */
class Record {
  /** Per call id, every time a worker started it. */
  readonly executions = new Map<number, Array<Execution>>()
  /** Per call id, the workers it was sent to. */
  readonly receivedBy = new Map<number, Array<number>>()
  /** Per call id, the workers it was posted to (received or not: a thread may die first). */
  readonly postedTo = new Map<number, Array<number>>()
  /** Per call id, the workers that took it off their queue (started it, or dropped it interrupted). */
  readonly takenBy = new Map<number, Array<number>>()
  /** Per call id, the workers whose answer for it left the thread. */
  readonly answeredBy = new Map<number, Array<number>>()
  readonly exited = new Set<number>()
  /** Answers made but never posted: their worker died with them in its outbox. */
  lostAnswers = 0
  /** Messages of more than one answer. */
  batches = 0
  maxWaiting = 0
  execution(id: number, worker: number): Execution | undefined {
    return this.executions.get(id)?.find((e) => e.worker === worker && e.endedAt === undefined)
  }
}

const latency = 0.05
const interruptExit = { _tag: "Failure", cause: [{ _tag: "Interrupt" }] }
/** As `runnerServe.ts`'s `flushAfter`: answers wait at most this long behind short calls. */
const flushAfter = 0.2

/** How a fake worker answers. */
interface Answering {
  /**
   * Several answers per message, as `runnerServe.ts`: an answer waits in the outbox while
   * the calls after it run, if those are of a task that was short the last time and the
   * oldest answer is younger than `flushAfter`; the outbox dies with the thread.
   * Otherwise one message per answer, at once.
   */
  readonly batched: boolean
  /** The shared "requests taken" counter (`Spawner.WorkerHandle.taken`). */
  readonly counter: boolean
}

const oneByOne: Answering = { batched: false, counter: false }

/** A worker in memory: the framing of `runnerServe.ts`, a FIFO of requests, `perWorker` at once. */
const fakeSpawner = (
  world: World,
  record: Record,
  rng: Random,
  perWorker: number,
  answering: Answering = oneByOne
): Spawner.Spawner =>
(workerId, events) => {
  let alive = true
  let taken = 0
  const waiting: Array<{ id: number; job: Job; dropped: boolean }> = []
  const running = new Map<number, { job: Job; done: Timer }>()
  /** How long each task's last call ran here (by cost: the fake's tasks are its jobs' costs). */
  const lastMs = new Map<string, number>()
  let outbox: Array<unknown> = []
  let outboxSince = 0
  const push = (list: Map<number, Array<number>>, id: number) => list.set(id, [...(list.get(id) ?? []), workerId])
  const toPool = (message: unknown) => world.at(world.time + latency, () => events.message(message))
  const flush = () => {
    if (outbox.length === 0) return
    for (let i = 0; i < outbox.length; i += 3) push(record.answeredBy, outbox[i] as number)
    if (outbox.length > 3) record.batches++
    toPool([1, outbox])
    outbox = []
  }
  const answer = (id: number, kind: number, value: unknown) => {
    if (outbox.length === 0) outboxSince = world.time
    outbox.push(id, kind, value)
    if (!answering.batched) flush()
  }
  const die = (code: number) => {
    if (!alive) return
    alive = false
    for (const [id] of running) record.execution(id, workerId)!.endedAt = world.time
    for (const { done } of running.values()) world.clearTimer(done)
    running.clear()
    record.lostAnswers += outbox.length / 3
    outbox = []
    record.exited.add(workerId)
    world.at(world.time + latency, () => events.exit(code))
  }
  const taskOf = (job: Job) => (job.cost < 0.1 ? "tiny" : job.cost < 2 ? "short" : "long")
  const startNext = () => {
    while (alive && running.size < perWorker && waiting.length > 0) {
      const { dropped, id, job } = waiting.shift()!
      taken++
      push(record.takenBy, id)
      if (dropped) continue
      // answers leave before a call that may hold the thread, or once the oldest is old enough
      const last = lastMs.get(taskOf(job))
      if (outbox.length > 0 && (world.time - outboxSince >= flushAfter || !(last !== undefined && last < flushAfter))) flush()
      lastMs.set(taskOf(job), job.cost)
      const execution: Execution = { worker: workerId, startedAt: world.time, endedAt: undefined, completed: false }
      record.executions.set(id, [...(record.executions.get(id) ?? []), execution])
      const done = world.setTimer(() => {
        running.delete(id)
        execution.endedAt = world.time
        if (job.crash) return die(3)
        execution.completed = true
        answer(id, Frames.answerSuccess, id)
        startNext()
        // the outbox leaves at the end of this turn unless a (synchronous) call behind it
        // holds the thread; calls running side by side are Effect handlers: it leaves
        if (running.size === 0 || perWorker > 1) flush()
      }, job.cost) as Timer
      running.set(id, { job, done })
    }
  }
  const receive = (batch: ReadonlyArray<unknown>) => {
    if (!alive) return
    for (let i = 0; i < batch.length;) {
      if (batch[i] === Frames.request) {
        const id = batch[i + 1] as number
        push(record.receivedBy, id)
        waiting.push({ id, job: batch[i + 3] as Job, dropped: false })
        i += 5
      } else {
        const id = batch[i + 1] as number
        const w = waiting.find((r) => r.id === id && !r.dropped)
        if (w !== undefined) {
          // it never started: answered as interrupted, taken when the queue reaches it
          w.dropped = true
          answer(id, Frames.answerExit, interruptExit)
        } else {
          const run = running.get(id)
          if (run !== undefined && !run.job.stuck) {
            // an Effect handler stops where it yields
            world.clearTimer(run.done)
            running.delete(id)
            record.execution(id, workerId)!.endedAt = world.time
            answer(id, Frames.answerExit, interruptExit)
          }
        }
        i += 2
      }
    }
    startNext()
    // the end of a message from the pool: what is in the outbox leaves
    flush()
    record.maxWaiting = Math.max(record.maxWaiting, waiting.filter((r) => !r.dropped).length)
  }
  world.at(world.time + rng.between(0.1, 2), () => alive && toPool([0]))
  return {
    threadId: workerId,
    post: (message, transfer) => {
      const frames = (message as [0, ReadonlyArray<unknown>])[1]
      for (let i = 0; i < frames.length; i += frames[i] === Frames.request ? 5 : 2) {
        if (frames[i] === Frames.request) push(record.postedTo, frames[i + 1] as number)
      }
      if (!alive) return
      const cloned = structuredClone(message, { transfer: [...transfer] as Array<never> })
      world.at(world.time + latency, () => receive((cloned as [0, ReadonlyArray<unknown>])[1]))
    },
    terminate: () => {
      die(1)
      return Promise.resolve()
    },
    heapUsed: () => Promise.resolve(record.executions.size * 1000 + rng.int(0, 50_000)),
    ...(answering.counter ? { taken: () => taken } : {})
  }
}

// --- one random scenario -----------------------------------------------------------------

interface Submitted {
  readonly call: Call
  readonly job: Job
  outcomes: Array<CallState.Outcome>
  cancelledAt: number | undefined
}

const noop = () => {}
const observer: Scheduler.Observer = {
  queueDepth: noop,
  busyWorkers: noop,
  started: noop,
  finished: noop,
  workerReady: noop,
  workerExited: noop
}

const scenario = (seed: number) => {
  const rng = random(seed)
  const world = new World()
  const record = new Record()
  const settings: Scheduler.Settings = {
    size: rng.int(1, 4),
    concurrencyPerWorker: rng.int(1, 3),
    maxQueue: rng.chance(0.2) ? rng.int(0, 10) : undefined,
    taskTimeout: rng.chance(0.3) ? rng.between(10, 40) : undefined,
    cancelGrace: rng.between(2, 20),
    sendAhead: rng.pick([0, 0.5, 2, 5]),
    recycleTasks: rng.chance(0.3) ? rng.int(2, 15) : undefined,
    recycleHeapBytes: rng.chance(0.15) ? rng.int(20_000, 80_000) : undefined
  }
  const balancer = rng.pick<Balancer.Balancer>([
    Balancer.leastLoaded,
    Balancer.roundRobin(),
    (_task, workers) => workers[workers.length - 1],
    (_task, workers) => (workers.length > 1 ? workers[1] : undefined)
  ])
  // the pool's worker side as it is (answers batched, the shared counter), or one answer per message
  const answering = rng.pick<Answering>([{ batched: true, counter: true }, { batched: false, counter: true }, oneByOne])
  const started = new Map<number, number>()
  const finished = new Map<number, number>()
  const scheduler = new Scheduler.Scheduler(
    settings,
    fakeSpawner(world, record, rng, settings.concurrencyPerWorker, answering),
    balancer,
    world,
    {
      ...observer,
      started: (call) => started.set(call.id, (started.get(call.id) ?? 0) + 1),
      finished: (call) => finished.set(call.id, (finished.get(call.id) ?? 0) + 1)
    }
  )
  world.afterEach = () => scheduler.check()
  const tasks = [
    { name: "tiny", cost: [0.005, 0.05] },
    { name: "short", cost: [0.2, 1.5] },
    { name: "long", cost: [3, 15] }
  ] as const
  const submitted: Array<Submitted> = []
  scheduler.start()
  const calls = rng.int(5, 80)
  const horizon = rng.between(5, 60)
  for (let i = 0; i < calls; i++) {
    const task = rng.pick(tasks)
    const stuck = rng.chance(0.06)
    const job: Job = { cost: rng.between(task.cost[0], task.cost[1]) * (stuck ? 50 : 1), crash: rng.chance(0.04), stuck }
    const cancelAfter = stuck || rng.chance(0.15) ? rng.between(0, 10) : undefined
    // a burst now and then: several calls in the same turn
    const at = rng.chance(0.3) ? Math.floor(rng.between(0, horizon)) : rng.between(0, horizon)
    world.at(at, () => {
      const entry: Submitted = { call: undefined!, job, outcomes: [], cancelledAt: undefined }
      ;(entry as { call: Call }).call = scheduler.submit(task, job, undefined, undefined, undefined, (outcome) => {
        entry.outcomes.push(outcome)
      })
      submitted.push(entry)
      if (cancelAfter !== undefined) {
        world.at(world.time + cancelAfter, () => {
          if (entry.outcomes.length > 0) return
          entry.cancelledAt = world.time
          scheduler.cancel(entry.call)
        })
      }
    })
  }
  world.run()
  return { answering, settings, scheduler, submitted, record, world, started, finished }
}

/** Two workers, one call at a time each, the default sending ahead. */
const twoWorkers: Scheduler.Settings = {
  size: 2,
  concurrencyPerWorker: 1,
  maxQueue: undefined,
  taskTimeout: undefined,
  cancelGrace: 10,
  sendAhead: 2,
  recycleTasks: undefined,
  recycleHeapBytes: undefined
}

const check = (seed: number) => {
  const { answering, finished, record, scheduler, settings, started, submitted } = scenario(seed)
  const where = `seed ${seed}`
  for (const { call, cancelledAt, outcomes } of submitted) {
    const executions = record.executions.get(call.id) ?? []
    // never lost, never answered twice; a cancelled call's caller is never told anything after
    if (cancelledAt === undefined) expect(outcomes.length, `${where}: call ${call.id} outcomes`).toBe(1)
    else expect(outcomes.length, `${where}: cancelled call ${call.id} outcomes`).toBe(0)
    expect(call.state._tag, `${where}: call ${call.id} state`).toBe("Done")
    // never run to completion twice; taken off a worker's queue by one worker at most: a
    // call a dead worker had taken is failed, never sent again
    expect(executions.filter((e) => e.completed).length, `${where}: call ${call.id} completions`).toBeLessThanOrEqual(1)
    const takenBy = record.takenBy.get(call.id) ?? []
    const answeredBy = record.answeredBy.get(call.id) ?? []
    expect(takenBy.length, `${where}: call ${call.id} taken by workers ${takenBy}`).toBeLessThanOrEqual(1)
    expect(answeredBy.length, `${where}: call ${call.id} answered by workers ${answeredBy}`).toBeLessThanOrEqual(1)
    const outcome = outcomes[0]
    if (outcome?._tag === "Answer") {
      expect(executions.some((e) => e.completed), `${where}: call ${call.id} answered without running`).toBe(true)
      expect(answeredBy.length, `${where}: call ${call.id} answered, no answer left a worker`).toBe(1)
      // it finished (run time recorded) once; it started (queue wait recorded) once, plus
      // once per worker it was posted to that died without taking it (the pool cannot know
      // before the exit, then it sends the call again)
      const bounced = new Set(record.postedTo.get(call.id) ?? [])
      for (const w of bounced) if (!record.exited.has(w) || takenBy.includes(w)) bounced.delete(w)
      expect(started.get(call.id), `${where}: call ${call.id} starts`).toBeGreaterThanOrEqual(1)
      expect(started.get(call.id)! - 1, `${where}: call ${call.id} restarts`).toBeLessThanOrEqual(bounced.size)
      expect(finished.get(call.id), `${where}: call ${call.id} run times`).toBe(1)
    }
    if (outcome?._tag === "Fail" && outcome.error._tag === "WorkerCrashed") {
      const workerId = outcome.error.workerId
      expect(record.exited.has(workerId), `${where}: call ${call.id} crashed on a live worker`).toBe(true)
      // it may have completed there, its answer lost in the outbox when the thread died —
      // but no answer of it left that worker (those reach the pool before its exit)
      expect(answeredBy, `${where}: call ${call.id} answered by its worker but failed`).not.toContain(workerId)
      // only the calls it had taken fail with it: the ones waiting in it run elsewhere
      const received = (record.receivedBy.get(call.id) ?? []).includes(workerId)
      const started = executions.some((e) => e.worker === workerId)
      expect(!received || started, `${where}: call ${call.id} failed with its worker without having started`).toBe(true)
      if (answering.counter) expect(takenBy, `${where}: call ${call.id} failed with a worker that had not taken it`).toEqual([workerId])
    }
    if (outcome?._tag === "Fail" && outcome.error._tag === "TaskTimeout") {
      expect(settings.taskTimeout, `${where}: a TaskTimeout without taskTimeout`).toBeDefined()
    }
    if (outcome?._tag === "Fail" && outcome.error._tag === "RunnerQueueFull") {
      expect(settings.maxQueue, `${where}: RunnerQueueFull without maxQueue`).toBeDefined()
      expect(executions.length).toBe(0)
    }
    // an interrupted call's worker stops it, or is terminated, within cancelGrace (counted
    // from the interrupt, or from when the call started if it was still waiting then)
    const stopBy = (e: Execution) => Math.max(cancelledAt!, e.startedAt + 2 * latency) + settings.cancelGrace + 4 * latency
    if (cancelledAt !== undefined || outcome?._tag === "Fail" && outcome.error._tag === "TaskTimeout") {
      const from = cancelledAt ?? -Infinity
      for (const e of executions) {
        if (e.endedAt !== undefined && e.endedAt <= from) continue
        expect(e.endedAt, `${where}: call ${call.id} still running in worker ${e.worker}`).toBeDefined()
        if (cancelledAt !== undefined) {
          expect(e.endedAt!, `${where}: call ${call.id} outlived cancelGrace in worker ${e.worker}`).toBeLessThanOrEqual(stopBy(e))
        }
      }
    }
  }
  // no worker held more calls waiting than sending ahead allows
  expect(record.maxWaiting, `${where}: calls waiting in a worker`).toBeLessThanOrEqual(sendAheadMax)
  if (settings.sendAhead === 0) expect(record.maxWaiting, `${where}: sent ahead with sendAhead 0`).toBe(0)
  // the pool is whole and idle
  expect(scheduler.queued).toBe(0)
  expect(scheduler.live.size, `${where}: live workers`).toBe(settings.size)
  for (const slot of scheduler.slots) {
    expect(slot.inFlight.size, `${where}: worker ${slot.workerId} in flight`).toBe(0)
    // idle: the worker took every request the pool posted to it
    if (answering.counter) expect(slot.worker.taken?.(), `${where}: worker ${slot.workerId} taken`).toBe(slot.posted)
    expect(slot.state === "ready" || slot.state === "starting", `${where}: worker ${slot.workerId} is ${slot.state}`).toBe(true)
  }
  scheduler.check()
  return record
}

describe("pool scheduler (fake workers, virtual time)", () => {
  it("random arrivals, costs, crashes, interruptions and recycling keep every invariant (400 seeds)", () => {
    let batches = 0
    let lost = 0
    for (let seed = 1; seed <= 400; seed++) {
      const record = check(seed)
      batches += record.batches
      lost += record.lostAnswers
    }
    // the seeds did exercise answers batched in one message, and answers lost with their worker
    expect(batches).toBeGreaterThan(0)
    expect(lost).toBeGreaterThan(0)
  })

  it("closing interrupts every call still queued or in flight, and replaces no worker", () => {
    const rng = random(7)
    const world = new World()
    const record = new Record()
    const settings = twoWorkers
    const scheduler = new Scheduler.Scheduler(settings, fakeSpawner(world, record, rng, 1), Balancer.leastLoaded, world, observer)
    world.afterEach = () => scheduler.check()
    scheduler.start()
    const outcomes: Array<CallState.Outcome> = []
    world.at(5, () => {
      for (let i = 0; i < 6; i++) {
        scheduler.submit({ name: "long" }, { cost: 50, crash: false, stuck: false }, undefined, undefined, undefined, (o) => outcomes.push(o))
      }
    })
    world.at(10, () => {
      const workers = scheduler.close()
      expect(workers.length).toBe(2)
      for (const w of workers) void w.terminate()
    })
    world.run()
    expect(outcomes.map((o) => o._tag)).toEqual(Array(6).fill("Interrupt"))
    expect(scheduler.spawned).toBe(2)
    const late: Array<CallState.Outcome> = []
    scheduler.submit({ name: "long" }, { cost: 1, crash: false, stuck: false }, undefined, undefined, undefined, (o) => late.push(o))
    expect(late.map((o) => o._tag)).toEqual(["Interrupt"])
  })

  it("a call placed on a worker that exits before the end of the turn starts once, on another worker", () => {
    const world = new World()
    const record = new Record()
    const settings = twoWorkers
    const events = new Map<number, Spawner.WorkerEvents>()
    const fake = fakeSpawner(world, record, random(3), 1, { batched: true, counter: true })
    const spawner: Spawner.Spawner = (workerId, e) => {
      events.set(workerId, e)
      return fake(workerId, e)
    }
    const started: Array<number> = []
    const finished: Array<number> = []
    const scheduler = new Scheduler.Scheduler(settings, spawner, Balancer.leastLoaded, world, {
      ...observer,
      started: (call) => started.push(call.id),
      finished: (call) => finished.push(call.id)
    })
    world.afterEach = () => scheduler.check()
    scheduler.start()
    world.run()
    const outcomes: Array<CallState.Outcome> = []
    world.at(world.time + 1, () => {
      // placed on worker 0 (its request waits for the end of the turn), which exits at once
      scheduler.submit({ name: "short" }, { cost: 1, crash: false, stuck: false }, undefined, undefined, undefined, (o) => outcomes.push(o))
      events.get(0)!.exit(1)
    })
    world.run()
    expect(outcomes.map((o) => o._tag)).toEqual(["Answer"])
    expect(record.receivedBy.get(0)).toEqual([1])
    expect(started).toEqual([0])
    expect(finished).toEqual([0])
  })

  it("a worker's books are checked: a counter out of step is reported", () => {
    const slot = new Slot(0, 0, { threadId: 0, post: () => {}, terminate: () => Promise.resolve(), heapUsed: () => Promise.resolve(0) })
    slot.running = 1
    expect(() => slot.check(1, 2)).toThrow(/running 1, counted 0/)
  })
})

describe("balancers", () => {
  const load = (index: number, running: number, waiting: number) => ({ index, workerId: index, running, waiting })

  it("least-loaded picks the fewest calls running and waiting, the first of equals", () => {
    expect(Balancer.leastLoaded({ name: "t" }, [load(0, 1, 2), load(1, 1, 0), load(2, 1, 0)])?.index).toBe(1)
    expect(Balancer.leastLoaded({ name: "t" }, [load(0, 1, 0), load(1, 0, 0)])?.index).toBe(1)
  })

  it("round-robin takes each worker in turn, skipping those that cannot take the call", () => {
    const rr = Balancer.roundRobin()
    const all = [load(0, 0, 0), load(1, 0, 0), load(2, 0, 0)]
    expect([0, 1, 2, 3].map(() => rr({ name: "t" }, all)?.index)).toEqual([0, 1, 2, 0])
    expect(rr({ name: "t" }, [load(0, 0, 0), load(2, 0, 0)])?.index).toBe(2)
    expect(rr({ name: "t" }, [load(0, 0, 0), load(1, 0, 0)])?.index).toBe(0)
  })

  it("the option names a balancer; a function is used as it is", () => {
    const custom: Balancer.Balancer = (_t, workers) => workers[0]
    expect(Balancer.fromOption(undefined)).toBe(Balancer.leastLoaded)
    expect(Balancer.fromOption("least-loaded")).toBe(Balancer.leastLoaded)
    expect(Balancer.fromOption(custom)).toBe(custom)
    const rr = Balancer.fromOption("round-robin")
    expect(rr({ name: "t" }, [load(0, 5, 0), load(1, 0, 0)])?.index).toBe(0)
  })
})

describe("CPU-bound calls (the bench's 8 × ~230 ms on 2 workers)", () => {
  const settings: Scheduler.Settings = { ...twoWorkers, cancelGrace: 100 }

  /** Rounds of 8 equal calls submitted at once; per round, the calls each worker ran and the makespan. */
  const rounds = (balancer: Balancer.Balancer, costs: ReadonlyArray<number>) => {
    const world = new World()
    const record = new Record()
    const scheduler = new Scheduler.Scheduler(settings, fakeSpawner(world, record, random(1), 1), balancer, world, observer)
    world.afterEach = () => scheduler.check()
    scheduler.start()
    world.run()
    const out: Array<{ split: Array<number>; makespan: number }> = []
    for (const cost of costs) {
      const t0 = world.time
      const ids: Array<number> = []
      let done = 0
      let last = t0
      for (let i = 0; i < 8; i++) {
        const call = scheduler.submit({ name: "primes" }, { cost, crash: false, stuck: false }, undefined, undefined, undefined, () => {
          done++
          last = world.time
        })
        ids.push(call.id)
      }
      world.run()
      expect(done).toBe(8)
      const split = [0, 0]
      for (const id of ids) split[record.executions.get(id)![0]!.worker]!++
      out.push({ split, makespan: last - t0 })
    }
    return out
  }

  it("split 4/4 on equal workers, the first round (no estimate yet) as the later ones; makespan 4 × cost", () => {
    for (const balancer of [Balancer.leastLoaded, Balancer.roundRobin()]) {
      for (const { makespan, split } of rounds(balancer, [230, 230, 230, 230, 230])) {
        expect(split).toEqual([4, 4])
        expect(makespan).toBeLessThan(4 * 230 + 1)
      }
    }
  })

  it("a task short at first (sent ahead on its tiny estimate), then long: the long rounds 4/4, makespan 4 × cost", () => {
    // the first long round goes ahead behind itself on the stale estimate, balanced by the
    // calls waiting; later rounds see the learned estimate and nothing is sent ahead
    const costs = [0.01, 0.01, 230, 230, 230]
    const long = rounds(Balancer.leastLoaded, costs).filter((_, i) => costs[i] === 230)
    expect(long.length).toBe(3)
    for (const { makespan, split } of long) {
      expect(split).toEqual([4, 4])
      expect(makespan).toBeLessThan(4 * 230 + 1)
    }
  })
})

describe("long calls sent ahead when the running one is about to end", () => {
  const settings: Scheduler.Settings = { ...twoWorkers, cancelGrace: 100 }
  const job = (cost: number): Job => ({ cost, crash: false, stuck: false })

  /** Two fake workers; the "long" task's estimate learned from one 10 ms call on each. */
  const warmPool = (sendAhead: number) => {
    const world = new World()
    const record = new Record()
    const scheduler = new Scheduler.Scheduler({ ...settings, sendAhead }, fakeSpawner(world, record, random(1), 1), Balancer.leastLoaded, world, observer)
    world.afterEach = () => scheduler.check()
    scheduler.start()
    world.run()
    for (let i = 0; i < 2; i++) scheduler.submit({ name: "long" }, job(10), undefined, undefined, undefined, noop)
    world.run()
    const submit = (cost: number) => scheduler.submit({ name: "long" }, job(cost), undefined, undefined, undefined, noop).id
    return { record, submit, world }
  }
  const runOf = (record: Record, id: number) => record.executions.get(id)![0]!

  it("8 equal calls: a worker starts its next call when it ends the last (no round trip), split 4/4, one call waiting at most", () => {
    const idle = (sendAhead: number) => {
      const { record, submit, world } = warmPool(sendAhead)
      const ids = Array.from({ length: 8 }, () => submit(10))
      world.run()
      const gaps: Array<number> = []
      const split = [0, 0]
      for (const worker of [0, 1]) {
        const runs = ids.map((id) => runOf(record, id)).filter((e) => e.worker === worker)
        split[worker] = runs.length
        for (let i = 1; i < runs.length; i++) gaps.push(runs[i]!.startedAt - runs[i - 1]!.endedAt!)
      }
      return { gaps, split, maxWaiting: record.maxWaiting }
    }
    const ahead = idle(2)
    expect(ahead.split).toEqual([4, 4])
    // all but the last call, which nothing stays queued behind (the next test): it waits a round trip
    expect(ahead.gaps.filter((gap) => Math.abs(gap) > 1e-9)).toHaveLength(1)
    expect(ahead.gaps.reduce((a, b) => a + b, 0)).toBeCloseTo(2 * latency, 9)
    expect(ahead.maxWaiting).toBe(1)
    // with nothing sent ahead, each worker waits a round trip (2 × latency) between calls
    const oneByOne = idle(0)
    expect(oneByOne.split).toEqual([4, 4])
    for (const gap of oneByOne.gaps) expect(gap).toBeGreaterThanOrEqual(2 * latency - 1e-9)
  })

  it("not sent ahead when no call would stay queued for the other worker: a call running late holds up nothing", () => {
    const { record, submit, world } = warmPool(2)
    const late = submit(30) // on worker 0, three times its estimate
    const onTime = submit(10) // on worker 1
    const last = submit(10)
    world.run()
    expect(runOf(record, late).worker).toBe(0)
    // it goes to worker 1 once that is free, not ahead to worker 0 (first of equals) behind the late call
    expect(runOf(record, last).worker).toBe(1)
    expect(runOf(record, last).startedAt - runOf(record, onTime).endedAt!).toBeCloseTo(2 * latency, 9)
  })

  it("not sent ahead behind a call already running over its estimate", () => {
    const { record, submit, world } = warmPool(2)
    const late = submit(30)
    const other = submit(30)
    // both past their estimate (≈ 10 ms) when these arrive: nothing is sent ahead to either
    world.at(world.time + 20, () => {
      submit(10)
      submit(10)
      submit(10)
    })
    world.run()
    expect(record.maxWaiting).toBe(0)
    expect(runOf(record, late).endedAt).toBeDefined()
    expect(runOf(record, other).endedAt).toBeDefined()
  })
})
