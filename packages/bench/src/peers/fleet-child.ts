/**
 * One process of the `fleet` scenario: calls arrive open-loop at its own rate, each
 * asks its limiter for a random number of tokens, then calls the fixture LLM. Three
 * limiters, one per variant:
 *
 * - `hybrid`: `Limit.rate` on `RedisLimit.store` — one sliding window in Redis for every process;
 * - `local`: `Limit.rate` in memory with `limit / processes` — each process its share;
 * - `naive`: `Limit.rate` in memory with the whole `limit` in every process — each pod
 *   believing it owns the account's budget (the setup a fleet starts from);
 * - `bottleneck`: bottleneck's Redis clustering (ioredis), `reservoir` = the limit,
 *   refreshed every window, `weight` = the tokens.
 *
 * argv: a JSON `ChildConfig`. Prints `ready`, waits for a line on stdin, runs, prints one
 * JSON `ChildReport` line.
 *
 * @since 0.1.0
 */
import * as NodeRedis from "@effect/platform-node/NodeRedis"
import { Effect, ManagedRuntime } from "effect"
import Bottleneck from "bottleneck"
import IORedis from "ioredis"
import { Limit, RedisLimit } from "@hybrid/core"

/**
 * @since 0.1.0
 * @category models
 */
export interface ChildConfig {
  readonly variant: "hybrid" | "local" | "naive" | "bottleneck"
  readonly fixture: string
  readonly redis: string
  readonly prefix: string
  readonly limit: number
  readonly windowMs: number
  readonly processes: number
  /** Calls per second this process receives. */
  readonly rate: number
  readonly durationMs: number
  readonly minCost: number
  readonly maxCost: number
  readonly seed: number
  /** `Limit.rate`'s margin, as a fraction of the window. */
  readonly margin: number
}

/**
 * One admission: when (ms; Redis `TIME` for hybrid, this host's clock otherwise — the
 * same clock on one machine), its tokens, its wait from arrival, and the fixture's status.
 *
 * @since 0.1.0
 * @category models
 */
export interface Admission {
  readonly at: number
  readonly cost: number
  readonly waitMs: number
  readonly status: number
}

/**
 * @since 0.1.0
 * @category models
 */
export interface ChildReport {
  readonly admissions: ReadonlyArray<Admission>
}

/** Waits for `cost` tokens; returns the admission time. */
type Admit = (cost: number) => Promise<{ readonly at: number }>

interface Peer {
  readonly admit: Admit
  readonly warm: () => Promise<unknown>
  readonly close: () => Promise<void>
}

const rateLimit = async (config: ChildConfig): Promise<Peer> => {
  if (config.variant === "hybrid") {
    const runtime = ManagedRuntime.make(NodeRedis.layer({ url: config.redis }))
    const store = RedisLimit.store({ prefix: config.prefix, timeout: "2 seconds" })
    const rate = await runtime.runPromise(Limit.rate({ limit: config.limit, window: config.windowMs, margin: config.windowMs * config.margin, key: "tpm", store }))
    return {
      admit: async (cost) => {
        const reservation = await runtime.runPromise(rate.reserve(cost))
        return { at: (reservation as Limit.RateEntry).at }
      },
      warm: () => runtime.runPromise(rate.usage),
      close: () => runtime.dispose()
    }
  }
  const rate = await Effect.runPromise(Limit.rate({ limit: config.variant === "naive" ? config.limit : config.limit / config.processes, window: config.windowMs, margin: config.windowMs * config.margin }))
  return {
    admit: async (cost) => {
      const reservation = await Effect.runPromise(rate.reserve(cost))
      return { at: (reservation as Limit.RateEntry).at }
    },
    warm: () => Effect.runPromise(rate.usage),
    close: async () => {}
  }
}

const bottleneck = async (config: ChildConfig): Promise<Peer> => {
  const { hostname, port } = new URL(config.redis)
  const limiter = new Bottleneck({
    id: `${config.prefix}bottleneck`,
    datastore: "ioredis",
    Redis: IORedis,
    clientOptions: { host: hostname, port: Number(port || 6379) },
    clearDatastore: false,
    reservoir: config.limit,
    reservoirRefreshAmount: config.limit,
    reservoirRefreshInterval: config.windowMs
  })
  await limiter.ready()
  return {
    admit: async (cost) => {
      const at = await limiter.schedule({ weight: cost }, () => Promise.resolve(Date.now()))
      return { at }
    },
    warm: () => limiter.currentReservoir(),
    close: () => limiter.disconnect()
  }
}

/** A small seeded generator (mulberry32). */
const random = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0
  let t = seed
  t = Math.imul(t ^ (t >>> 15), t | 1)
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}

const main = async () => {
  const config = JSON.parse(process.argv[2]!) as ChildConfig
  const { admit, close, warm } = config.variant === "bottleneck" ? await bottleneck(config) : await rateLimit(config)
  const next = random(config.seed)
  // warm up fetch (undici loads lazily) and the limiter's store (script load) before the start
  await (await fetch(`${config.fixture}/warmup`)).arrayBuffer()
  await warm()
  process.stdout.write("ready\n")
  await new Promise<void>((resolve) => process.stdin.once("data", () => resolve()))
  const admissions: Array<Admission> = []
  const t0 = performance.now()
  const calls = Math.floor((config.durationMs / 1000) * config.rate)
  const pending: Array<Promise<void>> = []
  for (let i = 0; i < calls; i++) {
    const wait = t0 + (i * 1000) / config.rate - performance.now()
    if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait))
    const cost = config.minCost + Math.floor(next() * (config.maxCost - config.minCost + 1))
    const arrived = performance.now()
    pending.push((async () => {
      const { at } = await admit(cost)
      const waitMs = performance.now() - arrived
      const response = await fetch(`${config.fixture}/call?tokens=${cost}`)
      await response.arrayBuffer()
      admissions.push({ at, cost, waitMs, status: response.status })
    })())
  }
  // calls still queued past the run's end are not waited for: the window admits no more
  await Promise.race([Promise.all(pending), new Promise((resolve) => setTimeout(resolve, config.windowMs))])
  process.stdout.write(`${JSON.stringify({ admissions } satisfies ChildReport)}\n`)
  await close().catch(() => undefined)
  process.exit(0)
}

main().catch((error) => {
  process.stderr.write(`fleet child: ${String(error)}\n`)
  process.exit(1)
})
