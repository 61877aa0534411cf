// The whole worker file: the task declarations and their handlers, nothing else.
import { serve } from "@hybrid/core/worker"
import { countPrimes, Tasks } from "./primes.ts"

serve(Tasks, { CountPrimes: ({ n }) => countPrimes(n) })
