/**
 * Real `node` child processes for the tests that are about processes (Redis-shared
 * limits): started with the pinned Node, their stdout split in lines.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { fileURLToPath } from "node:url"

const node = fileURLToPath(new URL("../../../node_modules/node/bin/node", import.meta.url))

/** A child process with its stdout split in lines. */
export interface Child {
  readonly process: ChildProcess
  readonly lines: Array<string>
  /** Resolves with the first line satisfying `p` (already seen or to come). */
  readonly line: (p: (line: string) => boolean) => Promise<string>
  readonly exited: Promise<number | null>
}

/** Starts `node script ...args` (stderr inherited). */
export const start = (script: string, args: ReadonlyArray<string>): Child => {
  const proc = spawn(node, [script, ...args], { stdio: ["pipe", "pipe", "inherit"] })
  const lines: Array<string> = []
  const waiters: Array<{ p: (l: string) => boolean; resolve: (l: string) => void }> = []
  let rest = ""
  proc.stdout!.setEncoding("utf8").on("data", (chunk: string) => {
    const parts = (rest + chunk).split("\n")
    rest = parts.pop()!
    for (const l of parts) {
      lines.push(l)
      for (const w of waiters.splice(0)) (w.p(l) ? w.resolve(l) : waiters.push(w))
    }
  })
  const exited = new Promise<number | null>((resolve) => proc.on("exit", resolve))
  return {
    process: proc,
    lines,
    exited,
    line: (p) => {
      const seen = lines.find(p)
      return seen !== undefined ? Promise.resolve(seen) : new Promise((resolve) => waiters.push({ p, resolve }))
    }
  }
}

/** The child's JSON lines (`{…}`) parsed. */
export const jsonLines = <A>(child: Child): Array<A> => child.lines.filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as A)
