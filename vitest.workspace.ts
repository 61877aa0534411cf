/**
 * The one list of test projects: one per workspace package.
 *
 * Vitest 5 ignores workspace files, so the root `vitest.config.ts` imports this list
 * as `test.projects`; `vitest run` from the root runs every package.
 */
export const projects = [
  "packages/core",
  "packages/agent",
  "packages/cluster",
  "packages/bench",
  "examples",
  "tools"
]
