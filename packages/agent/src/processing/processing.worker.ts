/**
 * The worker entry of `Processing.layerNode`: serves the processing tasks in a worker
 * thread. Imports only the task declarations and their handlers (never the pool).
 *
 * @since 0.1.0
 */
import { NodeRunner } from "@hybrid/core"
import { handlers } from "./handlers.ts"
import { Tasks } from "./tasks.ts"

NodeRunner.serve(Tasks, handlers)
