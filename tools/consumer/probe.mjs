// Imports one module and prints how long it took and what it loaded (node's module hooks).
import { registerHooks } from "node:module"

const loaded = []
registerHooks({
  resolve(specifier, context, next) {
    const result = next(specifier, context)
    loaded.push(result.url)
    return result
  }
})
const specifier = process.argv[2]
const t0 = performance.now()
await import(specifier)
const ms = performance.now() - t0
console.log(JSON.stringify({
  specifier,
  ms,
  modules: new Set(loaded).size,
  workerThreads: loaded.includes("node:worker_threads"),
  platformNode: loaded.some((url) => url.includes("/@effect/platform-node"))
}))
