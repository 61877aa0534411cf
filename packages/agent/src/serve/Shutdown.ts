/**
 * What a signal means to a long-running `hybrid` process (`hybrid serve`), as systemd and
 * Kubernetes expect it:
 *
 * - the **first** SIGTERM or SIGINT asks for a graceful stop — `NodeRuntime.runMain`
 *   interrupts the main fiber, the layers close (the server drains), and the process
 *   exits **0** once they have: a requested stop that completed is a success, not the
 *   130 of an interrupted command;
 * - a **second** signal while draining exits at once with code 130.
 *
 * `layer` installs the second-signal handler and notes whether a stop was requested and
 * completed; `teardown` (given to `NodeRuntime.runMain`) turns that into the exit code.
 * Signals are process-wide, so is this state: one flag, set only by `layer`.
 *
 * - the **parent going away** (its process id changes: the process was orphaned) counts
 *   as a first signal. `node_modules/.bin/node` of the pinned `node` package is a shell
 *   script that runs Node as a child and dies on SIGTERM without passing it on; with
 *   this, SIGTERM to that wrapper still stops the server gracefully (within 0.5 s).
 *
 * Gotchas: the `pnpm hybrid` scripts `exec` Node itself, so pnpm's forwarded signal
 * reaches it directly; the watch is for wrappers we do not control.
 *
 * @example
 * ```ts
 * import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
 * import { Effect, Layer } from "effect"
 * import { Shutdown } from "@hybrid/agent"
 *
 * Layer.launch(Shutdown.layer).pipe(NodeRuntime.runMain({ teardown: Shutdown.teardown }))
 * ```
 *
 * @since 0.1.0
 */
import { Cause, Effect, Exit, Layer, Runtime } from "effect"

const state = { signals: 0, stopped: false }

const signals = ["SIGTERM", "SIGINT"] as const

/**
 * Counts signals while it is open: the second one exits the process at once (130). When
 * it closes after a signal, the stop is recorded as completed.
 *
 * @example
 * ```ts
 * import { Layer } from "effect"
 * import { Shutdown } from "@hybrid/agent"
 *
 * const withSignals = Layer.merge(Shutdown.layer, Layer.empty)
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<never> = Layer.effectDiscard(
  Effect.acquireRelease(
    Effect.sync(() => {
      const onSignal = (signal: string) => {
        state.signals++
        if (state.signals === 1) {
          process.stderr.write(`${signal}: finishing the answers in flight (send it again to exit now)\n`)
        } else {
          process.stderr.write(`${signal} again: exiting now\n`)
          process.exit(130)
        }
      }
      for (const signal of signals) process.on(signal, onSignal)
      // a parent that goes away (a shell wrapper such as the `node` package's shim, which
      // dies on SIGTERM without passing it on) is a stop request too: signal ourselves
      const parent = process.ppid
      const watch = setInterval(() => {
        if (process.ppid !== parent) {
          clearInterval(watch)
          process.kill(process.pid, "SIGTERM")
        }
      }, 500)
      watch.unref()
      return { onSignal, watch }
    }),
    ({ onSignal, watch }) =>
      Effect.sync(() => {
        clearInterval(watch)
        for (const signal of signals) process.off(signal, onSignal)
        if (state.signals > 0) state.stopped = true
      })
  )
)

/**
 * `Runtime.defaultTeardown`, except that a main fiber interrupted by a signal whose stop
 * completed (`layer` closed) exits 0.
 *
 * @example
 * ```ts
 * import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
 * import { Effect } from "effect"
 * import { Shutdown } from "@hybrid/agent"
 *
 * Effect.never.pipe(NodeRuntime.runMain({ teardown: Shutdown.teardown }))
 * ```
 *
 * @since 0.1.0
 * @category runtime
 */
export const teardown: Runtime.Teardown = (exit, onExit) => {
  if (state.stopped && Exit.isFailure(exit) && Cause.hasInterruptsOnly(exit.cause)) return onExit(0)
  return Runtime.defaultTeardown(exit, onExit)
}
