/**
 * The JSON document's schema: `bench.schema.json` is what `Results.ts` generates (run
 * `pnpm --filter @hybrid/bench run schema` after changing it), a document written the
 * way a run writes it validates against that JSON Schema and decodes back, raw samples
 * included.
 */
import { assert, describe, it } from "@effect/vitest"
import { Ajv2020 } from "ajv/dist/2020.js"
import { Schema } from "effect"
import { readFileSync } from "node:fs"
import { ResultsJson } from "../src/Results.ts"
import { schemaPath, schemaText } from "../src/write-schema.ts"
import * as Fixtures from "./fixtures.ts"

describe("Results", () => {
  it("bench.schema.json is the JSON Schema generated from Results.ts", () => {
    assert.strictEqual(readFileSync(schemaPath, "utf8"), schemaText(), "run: pnpm --filter @hybrid/bench run schema")
  })

  it("a written document validates against the JSON Schema and decodes back with its raw samples", () => {
    const doc = Fixtures.document([Fixtures.result(Fixtures.ioFanout()), Fixtures.result(Fixtures.cpu())])
    const text = Schema.encodeSync(ResultsJson)(doc)
    const ajv = new Ajv2020({ strict: false })
    const validate = ajv.compile(JSON.parse(schemaText()))
    assert.isTrue(validate(JSON.parse(text)), JSON.stringify(validate.errors))
    const back = Schema.decodeUnknownSync(ResultsJson)(text)
    assert.deepStrictEqual(back.reports[0]!.figures["wallMs.gather.1000"]!.samples, [1010, 1012, 1011])
    assert.strictEqual(back.reports[1]!.machineLimited, true)
    // a table cell keeps the summary, not a second copy of the samples
    const cell = back.reports[1]!.rows[1]!["speedup"]
    assert.isTrue(typeof cell === "object" && !("samples" in cell) && cell.median === 3.4)
  })

  it("a document that is not valid is rejected by the JSON Schema", () => {
    const ajv = new Ajv2020({ strict: false })
    const validate = ajv.compile(JSON.parse(schemaText()))
    assert.isFalse(validate({ format: 2, facts: {}, durationMs: 1, reports: [] }))
  })
})
