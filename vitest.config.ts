import { defineConfig } from "vitest/config"
import { projects } from "./vitest.workspace.ts"

export default defineConfig({
  test: {
    projects,
    // agent, bench and examples gain their tests with their issues
    passWithNoTests: true
  }
})
