#!/usr/bin/env -S node --max-semi-space-size=16 --max-old-space-size=1536
/**
 * The `hybrid` command: `demo`, `ask`, `batch`, `serve`, `runner` (see each command's module).
 * Run from the repository root as `pnpm hybrid <command>`, or `node src/cli/main.ts`. The
 * first line's Node flags bound the heap of a long-running `serve` (see `serve.ts`): the bin
 * and `pnpm hybrid` pass them; started with `node` by hand, pass them too.
 *
 * Exit codes: 0 done; 1 could not run (`NoAnswer`, a locked output, a port in use…);
 * 2 usage (unknown flag, bad value, input = output, an earlier run's output without
 * `--resume` / `--overwrite`); 3 `batch` ran but some lines failed; 130 interrupted.
 *
 * @since 0.1.0
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as NodeServices from "@effect/platform-node/NodeServices"
import { Effect } from "effect"
import { Command } from "effect/cli"
import * as Observability from "../observability/Observability.ts"
import * as Shutdown from "../serve/Shutdown.ts"
import { ask } from "./ask.ts"
import { batch } from "./batch.ts"
import { demo } from "./demo.ts"
import { runner } from "./runner.ts"
import { serve } from "./serve.ts"
import { UsageError } from "./shared.ts"

const hybrid = Command.make("hybrid").pipe(
  Command.withDescription(
    "the capstone agent: answer questions from weather, news and a knowledge base, with an LLM. " +
      "Exit codes: 0 done, 1 could not run, 2 usage error, 3 batch: some lines failed, 130 interrupted"
  ),
  Command.withSubcommands([demo, ask, batch, serve, runner])
)

Command.run(hybrid, { version: "0.1.0" }).pipe(
  // a usage error has been printed with the help: exit 2 (`--help` itself exits 0)
  Effect.catchTag("ShowHelp", (help) => (help.errors.length === 0 ? Effect.void : Effect.fail(new UsageError({ errors: help.errors.length })))),
  Effect.provide(Observability.layer),
  Effect.provide(NodeServices.layer),
  // a graceful stop after SIGTERM/SIGINT (hybrid serve) exits 0
  NodeRuntime.runMain({ teardown: Shutdown.teardown })
)
