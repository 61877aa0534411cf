/**
 * How `NodeRunner`'s pool chooses the worker for a call: a function from the call's task
 * and the workers that can take it to one of them (piscina's balancer, in its own module).
 *
 * The pool decides which workers *can* take a call — a ready worker with a free slot, or a
 * busy one the call may be sent ahead to (see `poolSlot.ts`) — and passes only those, never
 * an empty list; the balancer only chooses among them. Returning `undefined` keeps the call
 * in the main thread's queue until the next worker frees up.
 */
import type { Load } from "./poolSlot.ts"

/**
 * Chooses a worker for a call of `task` among `workers` (never empty, in pool order);
 * `undefined` leaves the call queued.
 */
export type Balancer = (task: { readonly name: string }, workers: ReadonlyArray<Load>) => Load | undefined

/** The least loaded worker (fewest calls running and waiting); the first of equals. */
export const leastLoaded: Balancer = (_task, workers) => {
  let best: Load | undefined
  let bestLoad = Infinity
  for (const worker of workers) {
    const load = worker.running + worker.waiting
    if (load >= bestLoad) continue
    best = worker
    bestLoad = load
    if (load === 0) break
  }
  return best
}

/** Each worker in turn: the first that can take the call after the last one chosen. */
export const roundRobin = (): Balancer => {
  let last = -1
  return (_task, workers) => {
    let best: Load | undefined
    let bestDistance = Infinity
    for (const worker of workers) {
      // distance after `last`, in pool order, wrapping around
      const distance = worker.index > last ? worker.index - last : worker.index - last + 1_000_000
      if (distance < bestDistance) {
        best = worker
        bestDistance = distance
      }
    }
    if (best !== undefined) last = best.index
    return best
  }
}

/** The `balancer` option of `NodeRunner.layer`. */
export type Option = "least-loaded" | "round-robin" | Balancer

/** The balancer an option names (a fresh one per pool: round-robin keeps state). */
export const fromOption = (option: Option | undefined): Balancer =>
  option === undefined || option === "least-loaded"
    ? leastLoaded
    : option === "round-robin"
    ? roundRobin()
    : option
