/**
 * The worker entry of `Processing.layerNode`: serves the processing tasks in a worker
 * thread. Imports only the task declarations, their handlers and the thin worker entry
 * `@hybrid/core/worker` (never the pool).
 *
 * @since 0.1.0
 */
import { serve } from "@hybrid/core/worker"
import { handlers } from "./handlers.ts"
import { Tasks } from "./tasks.ts"

serve(Tasks, handlers)
