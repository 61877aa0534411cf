/**
 * The cluster tests' harness: PostgreSQL found or skipped (a failure when `CI` is set),
 * a table prefix per test dropped afterwards, and runner processes whose stdout lines
 * are collected with the time they arrived.
 */
import { ClusterRunner } from "@hybrid/cluster"
import { Effect } from "effect"
import { type ChildProcess, spawn } from "node:child_process"
import * as net from "node:net"
import { fileURLToPath } from "node:url"

/** The database the tests use. */
export const databaseUrl = process.env.HYBRID_TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test"

/** Whether PostgreSQL answers at `databaseUrl` (a TCP connect; the tests then fail loudly if it is not PostgreSQL). */
export const databaseAnswers = async (): Promise<boolean> => {
  const url = new URL(databaseUrl)
  return new Promise((resolve) => {
    const socket = net.connect({ host: url.hostname, port: Number(url.port || 5432) })
    socket.setTimeout(2_000)
    socket.once("connect", () => (socket.destroy(), resolve(true)))
    socket.once("timeout", () => (socket.destroy(), resolve(false)))
    socket.once("error", () => resolve(false))
  })
}

/** Whether to run the PostgreSQL tests: skips with one line, except under `CI`, where it throws. */
export const requireDatabase = async (): Promise<boolean> => {
  if (await databaseAnswers()) return true
  if (process.env.CI) throw new Error(`CI is set and PostgreSQL does not answer at ${databaseUrl}`)
  console.warn(`cluster tests skipped: no PostgreSQL at ${databaseUrl} (set HYBRID_TEST_DATABASE_URL to enable them)`)
  return false
}

/** A fresh table prefix. */
export const freshPrefix = (): string => `hc_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 7)}`

/** A free TCP port on loopback. */
export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = net.createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as net.AddressInfo).port
      server.close(() => resolve(port))
    })
  })

/** One line a runner printed, and when. */
export interface Line {
  readonly at: number
  readonly text: string
}

/** A child process whose stdout lines are kept with the time they arrived. */
export class Child {
  readonly lines: Array<Line> = []
  private readonly child: ChildProcess
  private exited = false
  /** When the process was started. */
  readonly startedAt = Date.now()
  /** Resolves with the exit code (or the signal) when the process ends. */
  readonly exit: Promise<number | string>

  readonly name: string
  readonly port: number

  constructor(name: string, port: number, script: string, args: ReadonlyArray<string>, env: Record<string, string> = {}) {
    this.name = name
    this.port = port
    const path = fileURLToPath(new URL(`./fixtures/${script}`, import.meta.url))
    this.child = spawn(process.execPath, [path, ...args], {
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"]
    })
    let rest = ""
    this.child.stdout!.on("data", (chunk: Buffer) => {
      const parts = (rest + chunk.toString("utf8")).split("\n")
      rest = parts.pop() ?? ""
      for (const text of parts) this.lines.push({ at: Date.now(), text })
    })
    this.child.stderr!.on("data", (chunk: Buffer) => this.lines.push({ at: Date.now(), text: `stderr ${chunk}` }))
    this.exit = new Promise((resolve) =>
      this.child.once("exit", (code, signal) => {
        this.exited = true
        resolve(code ?? signal ?? -1)
      })
    )
  }

  /** Resolves once the process printed `ready <name>`, rejects after `ms`. */
  async ready(ms = 30_000): Promise<void> {
    const until = Date.now() + ms
    while (!this.lines.some((l) => l.text === `ready ${this.name}`)) {
      if (this.exited || Date.now() > until) {
        throw new Error(`${this.name} did not start: ${this.lines.map((l) => l.text).join("\n").slice(0, 2_000)}`)
      }
      await new Promise((r) => setTimeout(r, 50))
    }
  }

  /** The `n`s of the lines `<word> <n>` (n ≥ 0: negative ones are warm-up calls). */
  numbers(word: string): Array<number> {
    return this.lines.filter((l) => l.text.startsWith(`${word} `)).map((l) => Number(l.text.slice(word.length + 1)))
      .filter((n) => n >= 0)
  }

  /** SIGKILL, now. */
  kill(): number {
    this.child.kill("SIGKILL")
    return Date.now()
  }

  /** Stops the runner (SIGTERM, then SIGKILL) and waits for it to exit. */
  async stop(): Promise<void> {
    if (this.exited) return
    const done = new Promise<void>((resolve) => this.child.once("exit", () => resolve()))
    this.child.kill("SIGTERM")
    const timer = setTimeout(() => this.child.kill("SIGKILL"), 5_000)
    await done
    clearTimeout(timer)
  }
}

/** A runner process of the tests (`fixtures/runner.ts`). */
export class RunnerProcess extends Child {
  constructor(name: string, port: number, prefix: string, persisted: "all" | "none", env: Record<string, string> = {}) {
    super(name, port, "runner.ts", [name, String(port), prefix, persisted], env)
  }
}

/** Drops the tables of `prefix`. */
export const dropTables = (prefix: string): Promise<void> =>
  Effect.runPromise(ClusterRunner.dropTables({ database: databaseUrl, prefix }))
