/**
 * Terminal formatting: a scenario's rows as right-aligned tables that fit 100 columns,
 * and notes wrapped to the same width.
 *
 * A figure prints as `median [min–max]`; a flagged figure as `median (flag)`. When the
 * columns do not fit, the table is split into several, each repeating the key columns
 * (the leading ones holding labels and sizes: `n`, `variant`), so no line is cut; a row
 * with nothing in one part's columns is left out of that part.
 *
 * @example
 * ```ts
 * import * as Table from "./table.ts"
 * import * as Scenario from "./Scenario.ts"
 *
 * console.log(Table.render([{ variant: "a", "wall ms": Scenario.figure("ms", [10, 11, 12]) }]))
 * ```
 *
 * @since 0.1.0
 */
import type { Cell, Row } from "./Scenario.ts"

/** The widest line the terminal output prints. */
export const WIDTH = 100

/** A figure cell as opposed to a label or a plain number. */
const isFigure = (cell: Cell | undefined): cell is Extract<Cell, { readonly median: number }> =>
  typeof cell === "object" && cell !== null

/**
 * A number with as many digits as it needs: 3 significant digits below 100, integers
 * above.
 *
 * @example
 * ```ts
 * import * as Table from "./table.ts"
 *
 * console.log(Table.formatNumber(0.012345), Table.formatNumber(15.234), Table.formatNumber(12345.6)) // 0.0123 15.2 12346
 * ```
 *
 * @since 0.1.0
 * @category formatting
 */
export const formatNumber = (x: number): string => {
  if (!Number.isFinite(x)) return String(x)
  const abs = Math.abs(x)
  if (abs >= 100 || Number.isInteger(x)) return String(Math.round(x))
  return String(Number(x.toPrecision(3)))
}

/**
 * One cell as text.
 *
 * @since 0.1.0
 * @category formatting
 */
export const formatCell = (cell: Cell | undefined): string => {
  if (cell === undefined) return ""
  if (typeof cell === "string") return cell
  if (typeof cell === "number") return formatNumber(cell)
  if (cell.flag !== undefined) return `${formatNumber(cell.median)} (${cell.flag})`
  return `${formatNumber(cell.median)} [${formatNumber(cell.min)}–${formatNumber(cell.max)}]`
}

/**
 * The columns of the rows, in first-seen order.
 *
 * @since 0.1.0
 * @category formatting
 */
export const columnsOf = (rows: ReadonlyArray<Row>): Array<string> => [...new Set(rows.flatMap((row) => Object.keys(row)))]

const draw = (columns: ReadonlyArray<string>, cells: ReadonlyArray<ReadonlyArray<string>>, widths: ReadonlyArray<number>) => {
  const line = (values: ReadonlyArray<string>) => values.map((v, i) => i === 0 ? v.padEnd(widths[i]!) : v.padStart(widths[i]!)).join("  ").trimEnd()
  return [line(columns), line(widths.map((w) => "-".repeat(w))), ...cells.map(line)].join("\n")
}

/**
 * The rows as one or more text tables no wider than `width` (default 100). The first
 * column is left-aligned, the others right-aligned; figures as `median [min–max]`.
 *
 * @since 0.1.0
 * @category formatting
 */
export const render = (rows: ReadonlyArray<Row>, width = WIDTH): string => {
  // labels first: a table reads best with the variant on the left
  const all = columnsOf(rows)
  const labelled = [...all.filter((c) => c === "variant"), ...all.filter((c) => c !== "variant")]
  const keys = labelled.filter((c, i) => i < 2 && rows.every((row) => !isFigure(row[c])))
  const rest = labelled.filter((c) => !keys.includes(c))
  const text = (c: string) => rows.map((row) => formatCell(row[c]))
  const widthOf = (c: string) => Math.max(c.length, ...text(c).map((t) => t.length))
  const keyWidth = keys.reduce((sum, c) => sum + widthOf(c) + 2, 0)
  const groups: Array<Array<string>> = []
  let current: Array<string> = []
  let used = keyWidth
  for (const c of rest) {
    const w = widthOf(c) + 2
    if (current.length > 0 && used + w > width) {
      groups.push(current)
      current = []
      used = keyWidth
    }
    current.push(c)
    used += w
  }
  if (current.length > 0 || groups.length === 0) groups.push(current)
  return groups.map((group) => {
    const columns = [...keys, ...group]
    // in a split table, a row with nothing in this part's columns is left out of it
    const shown = groups.length === 1 ? rows : rows.filter((row) => group.some((c) => formatCell(row[c]) !== ""))
    const cells = shown.map((row) => columns.map((c) => formatCell(row[c])))
    return draw(columns, cells, columns.map(widthOf))
  }).join("\n\n")
}

/**
 * Text wrapped at word boundaries to `width`, each line after the first indented by
 * `indent` spaces; the first line starts with `prefix`.
 *
 * @example
 * ```ts
 * import * as Table from "./table.ts"
 *
 * console.log(Table.wrap("a long note", "  note: ", 12))
 * ```
 *
 * @since 0.1.0
 * @category formatting
 */
export const wrap = (text: string, prefix: string, width = WIDTH): string => {
  const indent = " ".repeat(prefix.length)
  const lines: Array<string> = []
  let line = prefix
  let empty = true
  for (const word of text.split(/\s+/).filter((w) => w !== "")) {
    if (!empty && line.length + 1 + word.length > width) {
      lines.push(line)
      line = indent + word
    } else {
      line = empty ? line + word : `${line} ${word}`
    }
    empty = false
  }
  lines.push(line)
  return lines.join("\n")
}
