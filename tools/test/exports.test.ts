import { describe, expect, it } from "vitest"
import { problems, publishable } from "../src/exports.ts"

describe("package exports", () => {
  for (const { dir, extra } of publishable) {
    it(`${dir}: one subpath per module of src/index.ts, sources in the workspace, dist when packed`, () => {
      // A failure lists each wrong entry; `node tools/src/exports.ts --write` rewrites both maps.
      expect(problems(dir, extra)).toEqual([])
    })
  }
})
