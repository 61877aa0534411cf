/**
 * @hybrid/cluster — core's `Runner` and `Batch` past one machine, on `effect/cluster`
 * with PostgreSQL storage.
 *
 * @since 0.1.0
 */
export * as ClusterRunner from "./ClusterRunner.ts"
