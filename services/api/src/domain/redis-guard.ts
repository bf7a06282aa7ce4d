import type { Redis } from 'ioredis';
import { ApiError, unavailable } from '../errors.js';

const REDIS_DOWN = 'The job queue (Redis) is unavailable; try again shortly.';
const TIMEOUT_MS = 1_500;

/**
 * Runs a Redis-backed operation for a request. The producer connection fails fast, and this adds a
 * ceiling, so a request answers 503 within about a second instead of hanging while Redis is down.
 * Bulk admin operations (retry every failed job) pass a longer ceiling.
 */
export async function withRedis<T>(redis: Redis, op: () => Promise<T>, timeoutMs = TIMEOUT_MS): Promise<T> {
  if (redis.status !== 'ready') throw unavailable(REDIS_DOWN);
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(unavailable(REDIS_DOWN)), timeoutMs);
  });
  try {
    return await Promise.race([op(), timeout]);
  } catch (err) {
    if (err instanceof ApiError) throw err;
    if (isConnectionError(err)) throw unavailable(REDIS_DOWN);
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

function isConnectionError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  return (
    err.name === 'MaxRetriesPerRequestError' ||
    /Connection is closed|Stream isn't writeable|ECONNREFUSED|ECONNRESET|ETIMEDOUT/i.test(err.message)
  );
}

/**
 * Holds the connection's socket writes until the event loop's check phase, so the commands this request (and
 * any other in the same turn) sends now leave in one `write` syscall: on this hot path a syscall per command
 * was the largest single cost. Commands issued a few microtasks later (BullMQ's add) still join the batch.
 */
export function batchWritesThisTick(redis: Redis): void {
  const socket = redis.stream;
  socket.cork();
  setImmediate(() => socket.uncork());
}
