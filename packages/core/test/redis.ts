/**
 * Tests that need Redis: where it is (`HYBRID_TEST_REDIS_URL`, default
 * redis://127.0.0.1:6379) and whether it answers. Without one they are skipped with one
 * line saying how to enable them — unless `CI` is set, where that is a failure.
 */
import * as net from "node:net"

/** The Redis the tests use. */
export const redisUrl = process.env.HYBRID_TEST_REDIS_URL ?? "redis://127.0.0.1:6379"

/** Whether a Redis server answers `PING` at `url` within `timeoutMs`. */
export const redisAnswers = (url: string, timeoutMs = 1_000): Promise<boolean> =>
  new Promise((resolve) => {
    const { hostname, port } = new URL(url)
    const socket = net.connect({ host: hostname || "127.0.0.1", port: Number(port || 6379) })
    const done = (ok: boolean) => {
      socket.destroy()
      resolve(ok)
    }
    socket.setTimeout(timeoutMs, () => done(false))
    socket.on("error", () => done(false))
    socket.on("connect", () => socket.write("PING\r\n"))
    // any reply (+PONG, or -NOAUTH on a server with a password) means a server answers
    socket.on("data", () => done(true))
  })

/** `true` if the Redis tests can run; logs why they are skipped; throws under `CI`. */
export const requireRedis = async (what: string): Promise<boolean> => {
  if (await redisAnswers(redisUrl)) return true
  if (process.env.CI) throw new Error(`${what}: no Redis answers at ${redisUrl}, and CI is set (CI must not skip them)`)
  console.log(`skipping ${what}: no Redis at ${redisUrl} (start redis-server, or set HYBRID_TEST_REDIS_URL)`)
  return false
}

/** A key prefix no other test run shares. */
export const uniquePrefix = (name: string): string =>
  `hybrid-test:${name}:${process.pid}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}:`
