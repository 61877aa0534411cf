/** Where the scaling-out example's cluster keeps its state. */
export const database = process.env.HYBRID_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test"
/** Its own tables, apart from any other cluster in the same database. */
export const prefix = "hybrid_example"
