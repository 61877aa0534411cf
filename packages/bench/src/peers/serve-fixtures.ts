/**
 * The `serve` scenario's fixture services in their own process, so that the server under
 * load shares its event loop with nothing but itself: `Fixtures.layer({ scale })` (the
 * weather, news, knowledge-base and LLM servers on 127.0.0.1), one JSON line on stdout
 * with their URLs, then serving until SIGTERM.
 *
 * `node serve-fixtures.ts <scale>`
 *
 * @since 0.1.0
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Effect } from "effect"
import * as Fixtures from "@hybrid/agent/Fixtures"

const scale = Number(process.argv[2] ?? "0.05")
if (!(scale > 0)) {
  console.error("usage: serve-fixtures.ts <scale>")
  process.exit(2)
}

const program = Effect.gen(function*() {
  const fixtures = yield* Fixtures.Fixtures
  yield* Effect.sync(() => console.log(JSON.stringify(fixtures.urls)))
  return yield* Effect.never
}).pipe(Effect.provide(Fixtures.layer({ scale })))

NodeRuntime.runMain(program)
