/**
 * `pnpm example NN [--scale x]` runs one lesson; `pnpm demo` runs them all in order;
 * `pnpm example cluster` runs the scaling-out example (three processes, needs PostgreSQL).
 * Each lesson is its own program: this file only picks which ones to start.
 */
import { spawnSync } from "node:child_process"
import { readdirSync } from "node:fs"
import { fileURLToPath } from "node:url"

const here = fileURLToPath(new URL(".", import.meta.url))
const lessons = readdirSync(here).filter((f) => /^\d\d-.*\.ts$/.test(f)).sort()
const [which, ...rest] = process.argv.slice(2)

if (which === "cluster") {
  const result = spawnSync(process.execPath, [`${here}cluster/main.ts`, ...rest], { stdio: "inherit" })
  process.exit(result.status ?? 1)
}
const chosen = which === undefined || which === "demo"
  ? lessons
  : lessons.filter((f) => f.startsWith(which.padStart(2, "0")))
if (chosen.length === 0) {
  console.error(`no lesson ${JSON.stringify(which)}; lessons: ${lessons.join(", ")}`)
  process.exit(2)
}
for (const lesson of chosen) {
  console.log(`\n=== ${lesson}`)
  const result = spawnSync(process.execPath, [`${here}${lesson}`, ...rest], { stdio: "inherit" })
  if (result.status !== 0) process.exit(result.status ?? 1)
}
