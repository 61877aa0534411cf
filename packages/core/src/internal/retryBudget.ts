/**
 * The counting behind `Retry.budget`, the same in every store: first attempts and
 * retries are counted in `BUCKETS` buckets of `window / BUCKETS` each (bucket index =
 * `floor(now / width)`); the budget's window is the last `BUCKETS` buckets, the current
 * one included. A retry may be taken when
 *
 *     floor(ratio × attempts + minPerSecond × window / 1000) − retries ≥ 1
 *
 * over that window. Buckets, not a log of every attempt: a shared store then keeps at
 * most `2 × BUCKETS` counters per budget whatever the traffic, and one admission is
 * O(BUCKETS). The price is granularity: the window slides one bucket at a time.
 * `RedisLimit.budgetStore` runs the same arithmetic in one Lua script.
 */

/** Buckets per window. */
export const BUCKETS = 10

/** A budget's parameters, as its stores need them. */
export interface Spec {
  readonly ratio: number
  readonly minPerSecond: number
  readonly windowMillis: number
}

/** Retries allowed on top of those taken, given the window's counts (may be ≤ 0). */
export const balance = (spec: Spec, attempts: number, retries: number): number =>
  Math.floor(spec.ratio * attempts + spec.minPerSecond * (spec.windowMillis / 1000) + 1e-9) - retries

/** The in-memory counts of one budget. */
export class Counts {
  private readonly attempts = new Map<number, number>()
  private readonly retries = new Map<number, number>()
  private readonly width: number
  private readonly spec: Spec

  constructor(spec: Spec) {
    this.spec = spec
    this.width = spec.windowMillis / BUCKETS
  }

  private bucket(now: number): number {
    const current = Math.floor(now / this.width)
    for (const map of [this.attempts, this.retries]) {
      for (const index of map.keys()) if (index <= current - BUCKETS) map.delete(index)
    }
    return current
  }

  private sum(map: Map<number, number>): number {
    let total = 0
    for (const n of map.values()) total += n
    return total
  }

  /** Counts a first attempt at `now`. */
  deposit(now: number): void {
    const index = this.bucket(now)
    this.attempts.set(index, (this.attempts.get(index) ?? 0) + 1)
  }

  /** Takes one retry at `now` if the window has one to spare. */
  withdraw(now: number): boolean {
    const index = this.bucket(now)
    if (balance(this.spec, this.sum(this.attempts), this.sum(this.retries)) < 1) return false
    this.retries.set(index, (this.retries.get(index) ?? 0) + 1)
    return true
  }

  /** Retries the window would allow at `now`. */
  available(now: number): number {
    this.bucket(now)
    return Math.max(0, balance(this.spec, this.sum(this.attempts), this.sum(this.retries)))
  }
}
