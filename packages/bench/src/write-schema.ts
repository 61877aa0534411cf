/**
 * Writes `bench.schema.json` (beside `package.json`): the JSON Schema of the bench's
 * JSON document, generated from the Effect Schema in `Results.ts`. Run after changing
 * `Results.ts`: `pnpm --filter @hybrid/bench run schema` (a test fails while the file
 * and the schema differ).
 *
 * @since 0.1.0
 */
import { writeFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { jsonSchema } from "./Results.ts"

/**
 * Where the generated file lives.
 *
 * @since 0.1.0
 */
export const schemaPath = fileURLToPath(new URL("../bench.schema.json", import.meta.url))

/**
 * The file's text: the JSON Schema, pretty-printed, with a final newline.
 *
 * @since 0.1.0
 */
export const schemaText = (): string => `${JSON.stringify(jsonSchema(), null, 2)}\n`

if (import.meta.main) {
  writeFileSync(schemaPath, schemaText())
  console.log(`wrote ${schemaPath}`)
}
