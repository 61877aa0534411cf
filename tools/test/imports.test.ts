import * as fs from "node:fs"
import * as path from "node:path"
import { describe, expect, it } from "vitest"
import { publishable, root } from "../src/exports.ts"

const sources = (dir: string): Array<string> =>
  fs.readdirSync(dir, { withFileTypes: true }).flatMap((d) =>
    d.isDirectory() ? sources(path.join(dir, d.name)) : d.name.endsWith(".ts") ? [path.join(dir, d.name)] : []
  )

describe("imports", () => {
  it("no source of a publishable package imports the @effect/platform-node root, in code or in a doc example", () => {
    // The root loads every module of the package (+600 ms start-up); users copy the examples.
    const found = publishable.flatMap(({ dir }) =>
      sources(path.join(root, dir, "src")).flatMap((file) =>
        fs.readFileSync(file, "utf8").split("\n").flatMap((line, i) =>
          /(from\s+|import\s*\(\s*|import\s+)["']@effect\/platform-node["']/.test(line)
            ? [`${path.relative(root, file)}:${i + 1}: ${line.trim()} (import a subpath: @effect/platform-node/NodeX)`]
            : []
        )
      )
    )
    expect(found).toEqual([])
  })
})
