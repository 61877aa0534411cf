/**
 * The run facts that head every report (terminal, JSON, HTML): CPU model and cores,
 * memory, Node, Python, the installed version of effect and of every package the bench
 * depends on (the peers it measures among them), the git commit and whether the work
 * tree was dirty, and the load average.
 *
 * Package versions are read from the installed `package.json` files, not from the
 * ranges in the bench's manifest: a report names what ran.
 *
 * @example
 * ```ts
 * import * as Facts from "./facts.ts"
 *
 * console.log(Facts.packageVersions().effect) // e.g. "4.1.0"
 * ```
 *
 * @since 0.1.0
 */
import { spawnSync } from "node:child_process"
import { readFileSync } from "node:fs"
import os from "node:os"
import { fileURLToPath } from "node:url"
import type { RunFacts } from "./Results.ts"

const packageDir = fileURLToPath(new URL("../", import.meta.url))
const repositoryRoot = fileURLToPath(new URL("../../../", import.meta.url))

const readJson = (path: string): Record<string, unknown> | undefined => {
  try {
    return JSON.parse(readFileSync(path, "utf8")) as Record<string, unknown>
  } catch {
    return undefined
  }
}

/**
 * The installed version of every non-workspace dependency of `@hybrid/bench` (effect,
 * @effect/platform-node, piscina, tinypool, p-limit, p-retry, cockatiel, …).
 *
 * @since 0.1.0
 * @category facts
 */
export const packageVersions = (): Record<string, string> => {
  const manifest = readJson(`${packageDir}package.json`) ?? {}
  const deps = { ...(manifest.dependencies as Record<string, string> | undefined) }
  const out: Record<string, string> = {}
  for (const [name, range] of Object.entries(deps).sort(([a], [b]) => a.localeCompare(b))) {
    if (range.startsWith("workspace:")) continue
    const installed = readJson(`${packageDir}node_modules/${name}/package.json`)
    out[name] = typeof installed?.version === "string" ? installed.version : `not installed (${range})`
  }
  return out
}

/** `python3 --version`, when there is one (the asyncio peer). */
const pythonVersion = (): string | undefined => {
  const probe = spawnSync("python3", ["--version"], { encoding: "utf8" })
  return probe.status === 0 ? (probe.stdout || probe.stderr).trim() : undefined
}

/**
 * The commit checked out and whether the work tree differs from it (undefined outside
 * a git checkout).
 *
 * @since 0.1.0
 * @category facts
 */
export const gitState = (): { readonly commit: string; readonly dirty: boolean } | undefined => {
  const head = spawnSync("git", ["rev-parse", "HEAD"], { cwd: repositoryRoot, encoding: "utf8" })
  if (head.status !== 0) return undefined
  const status = spawnSync("git", ["status", "--porcelain", "--untracked-files=no"], { cwd: repositoryRoot, encoding: "utf8" })
  return { commit: head.stdout.trim(), dirty: status.status !== 0 || status.stdout.trim() !== "" }
}

/**
 * The 1, 5 and 15 minute load averages now.
 *
 * @since 0.1.0
 * @category facts
 */
export const loadAverage = (): readonly [number, number, number] => {
  const [a = 0, b = 0, c = 0] = os.loadavg()
  const r = (x: number) => Math.round(x * 100) / 100
  return [r(a), r(b), r(c)]
}

/**
 * This run's facts, read now (`loadAfter` is filled in when the run ends).
 *
 * @since 0.1.0
 * @category facts
 */
export const runFacts = (options: { readonly quick: boolean; readonly repetitions: number }): RunFacts => {
  const python = pythonVersion()
  const git = gitState()
  const load = loadAverage()
  return {
    date: new Date().toISOString(),
    quick: options.quick,
    repetitions: options.repetitions,
    cpu: os.cpus()[0]?.model ?? "unknown",
    cores: os.availableParallelism(),
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    platform: `${os.platform()} ${os.arch()}`,
    node: process.version,
    ...(python === undefined ? {} : { python }),
    packages: packageVersions(),
    ...(git === undefined ? {} : { git }),
    loadBefore: load,
    loadAfter: load
  }
}

/**
 * The facts as terminal lines, each under 100 columns.
 *
 * @example
 * ```ts
 * import * as Facts from "./facts.ts"
 *
 * for (const line of Facts.describe(Facts.runFacts({ quick: true, repetitions: 3 }))) console.log(line)
 * ```
 *
 * @since 0.1.0
 * @category formatting
 */
export const describe = (f: RunFacts): ReadonlyArray<string> => {
  const packages = Object.entries(f.packages).map(([name, version]) => `${name} ${version}`)
  const lines = [
    `machine: ${f.cores} cores, ${f.cpu}, ${f.memoryGiB} GiB, ${f.platform}`,
    `runtime: Node ${f.node}${f.python === undefined ? ", no python3 (asyncio peer skipped)" : `, ${f.python}`}`,
    `commit:  ${f.git === undefined ? "not a git checkout" : `${f.git.commit.slice(0, 12)}${f.git.dirty ? " (dirty)" : ""}`}; ` +
    `${f.quick ? "quick run" : "full run"}, ${f.repetitions} interleaved repetitions`,
    `load:    ${f.loadBefore.join(" ")} at the start (1, 5, 15 min averages)`
  ]
  let line = "packages:"
  for (const p of packages) {
    if (line.length + p.length + 2 > 98) {
      lines.push(line)
      line = "         "
    }
    line += ` ${p},`
  }
  lines.push(line.replace(/,$/, ""))
  return lines
}
