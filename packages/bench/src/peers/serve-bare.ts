/**
 * The `serve` scenario's control: a bare `node:http` server, in a process of its own,
 * that answers every request at once with the same kind of refusal `hybrid serve` sheds
 * with (`503`, `Retry-After: 1`, a small JSON error), after reading the body. Driven by
 * the same load generator at 200 connections, its 503 p99 is what this machine and
 * autocannon give a refusal that costs nothing — the floor under the server's own shed
 * p99, as the raw `worker_threads` control is for the CPU scenarios.
 *
 * `node serve-bare.ts` prints `listening on <url>` and serves until SIGTERM.
 *
 * @since 0.1.0
 */
import { createServer } from "node:http"

const body = JSON.stringify({ error: { tag: "Overloaded", message: "the server is at capacity; retry after 1 s" } })
const headers = { "content-type": "application/json", "content-length": Buffer.byteLength(body), "retry-after": "1" }

const server = createServer((request, response) => {
  request.resume()
  request.once("end", () => {
    response.writeHead(503, headers)
    response.end(body)
  })
})
server.listen(0, "127.0.0.1", () => {
  const address = server.address()
  if (address === null || typeof address === "string") throw new Error("serve-bare: no TCP address")
  console.log(`listening on http://127.0.0.1:${address.port}`)
})
process.once("SIGTERM", () => server.close(() => process.exit(0)))
