// The whole worker file: the thin entry, the task declarations and their handler.
import { serve } from "@hybrid/core/worker"
import { countPrimes, Tasks } from "./primes.mjs"

serve(Tasks, { CountPrimes: ({ n }) => countPrimes(n) })
