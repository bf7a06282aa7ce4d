import type { Writable } from 'node:stream';
import { isCluster, type QueueBackend } from '@mm/jobs';
import { ApiError, unavailable } from './errors.js';

const TIMEOUT_MS = 1_500;

/** What clients read while the queue store is down: it names the store this deployment runs on. */
export const queueStoreName = (backend: Pick<QueueBackend, 'kind'>): string => (backend.kind === 'postgres' ? 'PostgreSQL' : 'Redis');
export const queueDownMessage = (backend: Pick<QueueBackend, 'kind'>, then = 'try again shortly'): string =>
  `The job queue (${queueStoreName(backend)}) is unavailable; ${then}.`;

/**
 * Runs a queue-backed operation for a request. The producer connection fails fast, and this adds a
 * ceiling, so a request answers 503 within about a second instead of hanging while the queue store is down.
 * Bulk admin operations (retry every failed job) pass a longer ceiling.
 */
export function withQueue<T>(backend: QueueBackend, op: () => Promise<T>, timeoutMs = TIMEOUT_MS): Promise<T> {
  if (!backend.isReady()) return Promise.reject(unavailable(queueDownMessage(backend)));
  let pending: Promise<T>;
  try {
    pending = op();
  } catch (err) {
    return Promise.reject(queueFailure(backend, err));
  }
  // One promise and one timer per call (this wraps every enqueue and status read): no race, no second promise.
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(unavailable(queueDownMessage(backend))), timeoutMs);
    pending.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(queueFailure(backend, err));
      },
    );
  });
}

/** A store that cannot be reached is a 503 for the client; any other error goes on as it is. */
function queueFailure(backend: QueueBackend, err: unknown): unknown {
  return err instanceof ApiError || !isConnectionError(err) ? err : unavailable(queueDownMessage(backend));
}

function isConnectionError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  return (
    err.name === 'MaxRetriesPerRequestError' ||
    // The Redis Cluster group: a master gone (ioredis' own errors, and the nodes' CLUSTERDOWN). Then node-postgres'.
    /Connection is closed|Stream isn't writeable|ECONNREFUSED|ECONNRESET|ETIMEDOUT|CLUSTERDOWN|Cluster isn't ready|Too many Cluster redirections|Failed to refresh slots cache|None of startup nodes/i.test(err.message) ||
    /Connection terminated|timeout exceeded when trying to connect|the database system is (shutting down|starting up)|terminating connection/i.test(err.message)
  );
}

/**
 * Redis only: holds the connection's socket writes until the event loop's check phase, so the commands this request
 * (and any other in the same turn) sends now leave in one `write` syscall: on this hot path a syscall per command
 * was the largest single cost. Commands issued a few microtasks later (BullMQ's add) still join the batch.
 */
export function batchWritesThisTick(backend: QueueBackend): void {
  const redis = backend.redis;
  // A cluster client has a socket per node, behind its own routing: its writes go out as they come.
  if (!redis || isCluster(redis)) return;
  const socket = redis.stream;
  // Requests read in the same turn of the event loop (several, under load) share one cork and one setImmediate.
  if (corked.has(socket)) return;
  corked.add(socket);
  socket.cork();
  setImmediate(uncork, socket);
}

/** Sockets corked until this turn's check phase. */
const corked = new WeakSet<Writable>();

function uncork(socket: Writable): void {
  corked.delete(socket);
  socket.uncork();
}
