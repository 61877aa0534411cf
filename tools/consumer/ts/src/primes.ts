// The task, declared once for the main thread and the worker file.
import * as Schema from "effect/Schema"
import * as Task from "@hybrid/core/Task"

export const countPrimes = (n: number): number => {
  let count = 0
  for (let i = 2; i < n; i++) {
    let prime = true
    for (let d = 2; d * d <= i; d++) {
      if (i % d === 0) {
        prime = false
        break
      }
    }
    if (prime) count++
  }
  return count
}

export const CountPrimes = Task.make("CountPrimes", { payload: Schema.Struct({ n: Schema.Int }), success: Schema.Int })

export const Tasks = Task.group(CountPrimes)
