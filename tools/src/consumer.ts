/**
 * The consumer test: Hybrid used the way a library user uses it, from tarballs, outside
 * this workspace.
 *
 * Packs every publishable package (`pnpm pack`: builds `dist/`, applies `publishConfig`,
 * rewrites `workspace:^`), checks each tarball's manifest and files, installs the
 * tarballs with plain npm into a temporary project under the system's temp directory,
 * then:
 *
 * 1. runs a JavaScript program (Gather, TaskGroup, Retry, Deadline, NodeRunner with its
 *    own worker file) on this Node and checks its output;
 * 2. type-checks the same program in TypeScript with tsc (`nodenext`, `strict`, no
 *    `allowImportingTsExtensions`, `skipLibCheck: false` so the packages' `.d.ts` are checked
 *    too; `lib` has `DOM` because effect's own declarations name `CryptoKey` and
 *    `Transferable`) and runs the emitted JavaScript;
 * 3. runs the installed `hybrid demo --scale 0.05 --json` and parses its JSON;
 * 4. installs against an effect 4.x patch other than the workspace's and checks that
 *    `npm ls effect` shows one copy, without problems, and the type-check stays clean; and
 *    that npm refuses an effect outside the peer range instead of installing a second copy;
 *
 * plus the import of one subpath: `@hybrid/core/Gather` loads nothing of
 * `node:worker_threads` or `@effect/platform-node`, and `@hybrid/core/internal/*` is not
 * importable. Exits 1 on the first failure, naming the step.
 *
 * Run: `npx -y pnpm@10 consumer` (Node 24, the workspace's). `--measure` also prints the
 * tarball sizes and the import time of `@hybrid/core/Gather` vs the root entry (median of
 * 10 fresh processes each); `--keep` keeps the temporary directory.
 */
import { execFileSync, type ExecFileSyncOptions } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { publishable, root } from "./exports.ts"

const fixtures = fileURLToPath(new URL("../consumer/", import.meta.url))
const args = new Set(process.argv.slice(2))

class StepFailed extends Error {}

const fail = (message: string): never => {
  throw new StepFailed(message)
}

const check = (ok: boolean, message: string): void => {
  if (!ok) fail(message)
}

/** Runs a command; on a non-zero exit fails with its output. */
const run = (file: string, argv: ReadonlyArray<string>, options: ExecFileSyncOptions = {}): string => {
  try {
    return execFileSync(file, argv, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], ...options }) as string
  } catch (error) {
    const e = error as { status?: number; stdout?: string; stderr?: string }
    return fail(`${file} ${argv.join(" ")} exited ${e.status}\n${e.stdout ?? ""}\n${e.stderr ?? ""}`)
  }
}

/** pnpm: the one running this script (`npm_execpath`), else `npx -y pnpm@10`. */
const pnpm = (argv: ReadonlyArray<string>, cwd: string): string => {
  const execpath = process.env.npm_execpath
  return execpath !== undefined && /pnpm/.test(execpath)
    ? run(process.execPath, [execpath, ...argv], { cwd })
    : run("npx", ["-y", "pnpm@10", ...argv], { cwd })
}

const npm = (argv: ReadonlyArray<string>, cwd: string): string =>
  run("npm", [...argv, "--no-audit", "--no-fund", "--prefer-offline", "--loglevel=error"], { cwd })

const versionOf = (pkg: string): string =>
  JSON.parse(fs.readFileSync(path.join(root, "packages/core/node_modules", pkg, "package.json"), "utf8")).version

const rootVersionOf = (pkg: string): string =>
  JSON.parse(fs.readFileSync(path.join(root, "node_modules", pkg, "package.json"), "utf8")).version

const step = async <A>(name: string, body: () => A | Promise<A>): Promise<A> => {
  const t0 = performance.now()
  try {
    const result = await body()
    console.log(`ok   ${name} (${Math.round(performance.now() - t0)} ms)`)
    return result
  } catch (error) {
    console.log(`FAIL ${name}`)
    throw error
  }
}

interface Tarball {
  readonly name: string
  readonly file: string
  readonly bytes: number
}

// --- 0. pack, and check what is in each tarball ------------------------------------------

const pack = (into: string): ReadonlyArray<Tarball> =>
  publishable.map(({ dir }) => {
    const pkg = JSON.parse(fs.readFileSync(path.join(root, dir, "package.json"), "utf8"))
    const before = new Set(fs.readdirSync(into))
    pnpm(["pack", "--pack-destination", into], path.join(root, dir))
    const file = fs.readdirSync(into).find((f) => !before.has(f) && f.endsWith(".tgz"))
    if (file === undefined) return fail(`pnpm pack in ${dir} wrote no tarball`)
    return { name: pkg.name, file: path.join(into, file), bytes: fs.statSync(path.join(into, file)).size }
  })

const inspect = (tarball: Tarball): void => {
  const files = new Set(run("tar", ["tzf", tarball.file]).trim().split("\n").map((f) => f.replace(/^package\//, "")))
  const manifest = JSON.parse(run("tar", ["xzf", tarball.file, "-O", "package/package.json"]))
  const where = `${tarball.name} (${path.basename(tarball.file)})`
  check(manifest.private === undefined, `${where}: package.json has "private"`)
  check(manifest.license === "MIT", `${where}: license is ${manifest.license}, expected MIT`)
  check(/^>=22\.19/.test(manifest.engines?.node ?? ""), `${where}: engines.node is ${manifest.engines?.node}`)
  for (const peer of ["effect", "@effect/platform-node"]) {
    check(manifest.peerDependencies?.[peer] !== undefined, `${where}: ${peer} is not a peer dependency`)
    check(manifest.dependencies?.[peer] === undefined, `${where}: ${peer} is a dependency (a second copy for apps)`)
  }
  for (const [dep, range] of Object.entries<string>(manifest.dependencies ?? {})) {
    check(!range.startsWith("workspace:"), `${where}: dependency ${dep} is ${range}`)
  }
  for (const bad of [...files].filter((f) => /^test\/|(^|\/)tsconfig[^/]*\.json$|\.test\.ts$/.test(f))) {
    fail(`${where}: ships ${bad}`)
  }
  for (const needed of ["README.md", "LICENSE", "CHANGELOG.md"]) check(files.has(needed), `${where}: no ${needed}`)
  for (const [subpath, target] of Object.entries<unknown>(manifest.exports ?? {})) {
    if (target === null || typeof target === "string") continue
    const { types, default: js } = target as { types?: string; default?: string }
    check(types !== undefined && js !== undefined, `${where}: exports[${subpath}] lacks types or default`)
    for (const f of [types!, js!]) check(files.has(f.replace(/^\.\//, "")), `${where}: exports[${subpath}] → ${f} is not in the tarball`)
  }
  for (const bin of Object.values<string>(manifest.bin ?? {})) {
    check(files.has(bin.replace(/^\.\//, "")) && bin.endsWith(".js"), `${where}: bin ${bin} is not a built .js in the tarball`)
  }
}

// --- the temporary project ---------------------------------------------------------------

const project = (dir: string, tarballs: ReadonlyArray<Tarball>, effect: string, platformNode: string): void => {
  fs.mkdirSync(dir, { recursive: true })
  fs.cpSync(fixtures, dir, { recursive: true })
  const dependencies: Record<string, string> = {
    effect,
    "@effect/platform-node": platformNode,
    "@types/node": rootVersionOf("@types/node")
  }
  for (const t of tarballs) dependencies[t.name] = `file:${t.file}`
  fs.writeFileSync(
    path.join(dir, "package.json"),
    JSON.stringify({ name: "hybrid-consumer", private: true, type: "module", dependencies }, null, 2)
  )
}

const tsc = (dir: string): string =>
  run(process.execPath, [path.join(root, "node_modules/typescript/bin/tsc"), "-p", path.join(dir, "ts")])

// --- 1 and 2: the programs ---------------------------------------------------------------

const expected = {
  primes: [168, 1229, 9592],
  gathered: [1, 2],
  settled: ["Success", "Failure"],
  grouped: 3,
  groupError: "TaskGroupError:boom",
  retried: 3,
  deadline: "DeadlineExceeded",
  remaining: true
}

const program = (dir: string, file: string): void => {
  const out = run(process.execPath, [file], { cwd: dir, timeout: 60_000 }).trim()
  check(JSON.stringify(JSON.parse(out)) === JSON.stringify(expected), `${file} printed ${out}\nexpected ${JSON.stringify(expected)}`)
}

// --- 3: the CLI --------------------------------------------------------------------------

const demo = (dir: string): void => {
  const bin = path.join(dir, "node_modules/.bin/hybrid")
  check(fs.existsSync(bin), `no node_modules/.bin/hybrid after npm install`)
  const out = run(process.execPath, [fs.realpathSync(bin), "demo", "--scale", "0.05", "--json"], { cwd: dir, timeout: 120_000 })
  let report: { speedup?: unknown; answers?: unknown; hybrid?: { wallMs?: unknown } }
  try {
    report = JSON.parse(out)
  } catch {
    return fail(`hybrid demo --json printed something that is not JSON: ${out.slice(0, 200)}`)
  }
  check(typeof report.speedup === "number" && report.speedup > 0, `hybrid demo --json: speedup is ${report.speedup}`)
  check(Array.isArray(report.answers) && report.answers.length > 0, `hybrid demo --json: no answers`)
  check(typeof report.hybrid?.wallMs === "number", `hybrid demo --json: no hybrid.wallMs`)
  // the bin as a shell runs it: its first line (`env -S node <flags>`) finds node on PATH
  const version = run(bin, ["--version"], {
    cwd: dir,
    env: { ...process.env, PATH: `${path.dirname(process.execPath)}${path.delimiter}${process.env.PATH ?? ""}` }
  })
  check(/^hybrid v\d/.test(version.trim()), `node_modules/.bin/hybrid --version printed ${version.slice(0, 200)}`)
}

// --- the thin subpath --------------------------------------------------------------------

interface Probe {
  readonly ms: number
  readonly modules: number
  readonly workerThreads: boolean
  readonly platformNode: boolean
}

const probe = (dir: string, specifier: string): Probe =>
  JSON.parse(run(process.execPath, [path.join(dir, "probe.mjs"), specifier], { cwd: dir }))

const subpaths = (dir: string): void => {
  const gather = probe(dir, "@hybrid/core/Gather")
  check(!gather.workerThreads, `@hybrid/core/Gather loads node:worker_threads`)
  check(!gather.platformNode, `@hybrid/core/Gather loads @effect/platform-node`)
  const internal = run(process.execPath, [
    "--input-type=module",
    "-e",
    `import("@hybrid/core/internal/options.js").then(() => console.log("imported"), (e) => console.log(e.code))`
  ], { cwd: dir }).trim()
  check(internal === "ERR_PACKAGE_PATH_NOT_EXPORTED", `@hybrid/core/internal/* is importable (${internal})`)
}

// --- 4: another effect patch -------------------------------------------------------------

const parse = (v: string) => v.split(".").map(Number) as [number, number, number]
const newer = (a: string, b: string) => {
  const [x, y] = [parse(a), parse(b)]
  return x[0] !== y[0] ? x[0] > y[0] : x[1] !== y[1] ? x[1] > y[1] : x[2] > y[2]
}

/**
 * An effect 4.x other than the workspace's, inside the peer range: the newest published
 * one; when none is published yet, the workspace's own tarball with its version set to
 * the next patch (said so on the output).
 */
const otherEffect = (work: string, workspace: string): { spec: string; version: string; note: string } => {
  const floor = workspace
  const published: ReadonlyArray<string> = JSON.parse(npm(["view", "effect", "versions", "--json"], work))
  const candidates = published.filter((v) => /^4\.\d+\.\d+$/.test(v) && v !== workspace && !newer(floor, v))
  const best = candidates.reduce<string | undefined>((b, v) => (b === undefined || newer(v, b) ? v : b), undefined)
  if (best !== undefined) return { spec: best, version: best, note: `effect ${best} from the registry` }
  const [major, minor, patch] = parse(workspace)
  const version = `${major}.${minor}.${patch + 1}`
  const dir = path.join(work, "effect-next")
  fs.mkdirSync(dir, { recursive: true })
  const packed = npm(["pack", `effect@${workspace}`, "--pack-destination", dir], dir).trim().split("\n").pop()!
  run("tar", ["xzf", path.join(dir, packed), "-C", dir])
  const manifestFile = path.join(dir, "package/package.json")
  const manifest = JSON.parse(fs.readFileSync(manifestFile, "utf8"))
  manifest.version = version
  fs.writeFileSync(manifestFile, JSON.stringify(manifest, null, 2))
  const tgz = npm(["pack", path.join(dir, "package"), "--pack-destination", dir], dir).trim().split("\n").pop()!
  return {
    spec: `file:${path.join(dir, tgz)}`,
    version,
    note: `no effect 4.x in ^${floor} but ${workspace} is published yet: effect ${workspace} re-versioned ${version}`
  }
}

const oneCopy = (dir: string, version: string): void => {
  const paths = new Set(npm(["ls", "effect", "--all", "--parseable"], dir).trim().split("\n").filter((l) => l.length > 0))
  check(paths.size === 1, `npm ls effect: ${paths.size} copies\n${[...paths].join("\n")}`)
  const tree = npm(["ls", "effect", "--all"], dir)
  check(!/invalid|UNMET|ELSPROBLEMS/.test(tree), `npm ls effect reports a problem:\n${tree}`)
  const installed = JSON.parse(fs.readFileSync(path.join(dir, "node_modules/effect/package.json"), "utf8")).version
  check(installed === version, `node_modules/effect is ${installed}, expected ${version}`)
}

const refusesOutsideRange = (dir: string, tarballs: ReadonlyArray<Tarball>): void => {
  project(dir, tarballs, "4.0.6", "4.0.6")
  try {
    execFileSync("npm", ["install", "--dry-run", "--no-audit", "--no-fund", "--prefer-offline"], { cwd: dir, stdio: "pipe" })
  } catch (error) {
    const stderr = String((error as { stderr?: unknown }).stderr ?? "")
    return check(/ERESOLVE/.test(stderr), `npm install with effect 4.0.6 failed, but not on the peer range:\n${stderr}`)
  }
  fail(`npm installed @hybrid/* next to effect 4.0.6 (outside their peer range ^4.1.0)`)
}

// --- figures -----------------------------------------------------------------------------

const median = (xs: ReadonlyArray<number>): number => {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}

const measure = (dir: string, tarballs: ReadonlyArray<Tarball>): void => {
  const specs = ["@hybrid/core/Gather", "@hybrid/core", "@hybrid/core/worker"]
  const samples: Record<string, Array<number>> = Object.fromEntries(specs.map((s) => [s, []]))
  const modules: Record<string, number> = {}
  for (const s of specs) probe(dir, s) // warm the file system cache
  for (let i = 0; i < 10; i++) {
    for (const s of i % 2 === 0 ? specs : [...specs].reverse()) {
      const p = probe(dir, s)
      samples[s]!.push(p.ms)
      modules[s] = p.modules
    }
  }
  console.log(JSON.stringify({
    node: process.version,
    loadavg: os.loadavg().map((l) => l.toFixed(2)),
    tarballs: tarballs.map((t) => ({ file: path.basename(t.file), bytes: t.bytes })),
    importMs: Object.fromEntries(specs.map((s) => [s, { median: Math.round(median(samples[s]!)), modules: modules[s] }])),
    samples: Object.fromEntries(specs.map((s) => [s, samples[s]!.map(Math.round)]))
  }))
}

// --- main --------------------------------------------------------------------------------

const main = async (): Promise<void> => {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "hybrid-consumer-"))
  check(path.relative(root, work).startsWith(".."), `${work} is inside the workspace`)
  console.log(`consumer test in ${work} (node ${process.version})`)
  try {
    const tarballs = await step("pack every publishable package", () => {
      const dir = path.join(work, "tarballs")
      fs.mkdirSync(dir)
      return pack(dir)
    })
    await step("tarballs: manifest and files", () => tarballs.forEach(inspect))
    const app = path.join(work, "app")
    const effect = versionOf("effect")
    await step(`npm install the tarballs with effect ${effect}`, () => {
      project(app, tarballs, effect, versionOf("@effect/platform-node"))
      npm(["install"], app)
    })
    await step("@hybrid/core/Gather loads no worker_threads / platform-node; internal/* is blocked", () => subpaths(app))
    await step("1. JavaScript program (Gather, TaskGroup, Retry, Deadline, NodeRunner + worker)", () =>
      program(app, "js/main.mjs"))
    await step("2. tsc (nodenext, strict, skipLibCheck false: our .d.ts checked too) and its output", () => {
      tsc(app)
      program(app, "ts/out/main.js")
    })
    await step("3. hybrid demo --scale 0.05 --json, and the bin by its first line", () => demo(app))
    const other = await step("4. another effect 4.x patch", () => otherEffect(work, effect))
    console.log(`     (${other.note})`)
    const patched = path.join(work, "app-other-effect")
    await step(`4. npm install with effect ${other.version}: one copy, clean type-check`, () => {
      project(patched, tarballs, other.spec, versionOf("@effect/platform-node"))
      npm(["install"], patched)
      oneCopy(patched, other.version)
      tsc(patched)
    })
    await step("4. npm refuses effect 4.0.6 (outside the peer range) instead of a second copy", () =>
      refusesOutsideRange(path.join(work, "app-old-effect"), tarballs))
    if (args.has("--measure")) measure(app, tarballs)
  } finally {
    if (!args.has("--keep")) fs.rmSync(work, { recursive: true, force: true })
  }
}

main().then(
  () => console.log("consumer test: passed"),
  (error) => {
    console.error(error instanceof StepFailed ? error.message : error)
    process.exit(1)
  }
)
