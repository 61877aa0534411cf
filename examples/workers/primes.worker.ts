// The whole worker file: the task declarations and their handlers, nothing else.
import { NodeRunner } from "@hybrid/core"
import { countPrimes, Tasks } from "./primes.ts"

NodeRunner.serve(Tasks, { CountPrimes: ({ n }) => countPrimes(n) })
