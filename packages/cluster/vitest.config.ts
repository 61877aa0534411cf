import { defineProject } from "vitest/config"

export default defineProject({
  test: {
    name: "cluster",
    include: ["test/**/*.test.ts"],
    // real runner processes on PostgreSQL: each test starts and kills processes
    testTimeout: 120_000,
    hookTimeout: 60_000
  }
})
