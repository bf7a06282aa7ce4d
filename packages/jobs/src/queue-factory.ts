import { Queue, QueueEvents, QueueEventsProducer, Relay, Worker, type ConnectionOptions, type Processor, type WorkerOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import { RELAY_NAMESPACE } from './cancel-request.js';
import { QueueName, defaultJobOptions, type QueueAlias } from './catalog.js';
import { createClusterClient, createStandaloneClient, duplicateConnection, isCluster, type RedisClient } from './redis-client.js';

/**
 * The one place queues, workers and queue events are created, so the backend is one choice:
 * Redis (the default). BullMQ 6 also ships createPostgresBackend; switching means changing this file only.
 */
export interface QueueConfig {
  /** A shared ioredis connection (a Redis or a Cluster), or the URL of a single Redis to open one from. */
  connection: RedisClient | string;
  /** Redis key prefix (`bull` by default). On Redis Cluster it holds a hash tag such as `{mm}` (one slot for every key). */
  prefix: string;
}

export type ConnectionRole = 'producer' | 'worker';

/**
 * Producers fail fast so a request never waits on a dead Redis; workers wait forever for Redis to come back.
 * https://docs.bullmq.io/guide/going-to-production
 * With `cluster` (REDIS_CLUSTER=true) `url` is one or more comma-separated seed nodes and the result an ioredis Cluster,
 * which BullMQ 6 takes as it is (its keys stay in one slot through the prefix's hash tag).
 */
export function createRedisConnection(url: string, role: ConnectionRole, opts?: { cluster?: false }): Redis;
export function createRedisConnection(url: string, role: ConnectionRole, opts: { cluster?: boolean }): RedisClient;
export function createRedisConnection(url: string, role: ConnectionRole, opts: { cluster?: boolean } = {}): RedisClient {
  const tuning = { maxRetriesPerRequest: role === 'worker' ? null : 1, enableOfflineQueue: role === 'worker' };
  return opts.cluster ? createClusterClient(url, tuning) : createStandaloneClient(url, tuning);
}

function resolve(connection: RedisClient | string, role: ConnectionRole): RedisClient {
  return typeof connection === 'string' ? createRedisConnection(connection, role) : connection;
}

export function createQueue(alias: QueueAlias, config: QueueConfig): Queue {
  return new Queue(QueueName[alias], {
    connection: resolve(config.connection, 'producer'),
    prefix: config.prefix,
    defaultJobOptions,
  });
}

export function createWorker(
  alias: QueueAlias,
  processor: Processor,
  config: QueueConfig & Omit<WorkerOptions, 'connection' | 'prefix'>,
): Worker {
  const { connection, prefix, ...options } = config;
  return new Worker(QueueName[alias], processor, { ...options, connection: resolve(connection, 'worker'), prefix });
}

export function createQueueEvents(alias: QueueAlias, config: QueueConfig): QueueEvents {
  // QueueEvents blocks on XREAD. Handed options (not a client), BullMQ opens one connection of its own and
  // close() ends it; handed a client, it would open a duplicate anyway and leave the client idle.
  return new QueueEvents(QueueName[alias], { connection: queueEventsConnection(config.connection), prefix: config.prefix });
}

/**
 * The `connection` to hand a QueueEvents (of any queue, the fleet queue's too). A single Redis: its options, so BullMQ
 * opens one blocking connection of its own. A cluster: BullMQ cannot build one from options, and it duplicates a client
 * it is handed for its blocking reads (then closes that copy), so it gets a never-connected (lazy) copy tuned for
 * blocking, whose duplicate inherits that tuning; the copy itself never opens a socket.
 */
export function queueEventsConnection(connection: RedisClient | string): ConnectionOptions {
  if (typeof connection === 'string') return { url: connection };
  if (isCluster(connection)) return duplicateConnection(connection, { maxRetriesPerRequest: null, enableOfflineQueue: true, lazyConnect: true }) as unknown as ConnectionOptions;
  // ioredis' own options type differs from BullMQ's structural copy of it only in optional details.
  return { ...connection.options, maxRetriesPerRequest: null, enableOfflineQueue: true } as ConnectionOptions;
}

/**
 * BullMQ caps each queue's events stream at about this many entries (its `streams.events.maxLen` default). A custom
 * event must be published with the same cap: QueueEventsProducer's own default (1,000) would trim the shared stream
 * to a tenth and cut every SSE client's resume window.
 */
export const QUEUE_EVENTS_MAX_LEN = 10_000;

/**
 * Publishes custom events (a worker's `log` lines) on a queue's events stream. Handed a client it shares it (no new
 * connection), so its commands go out in order with that client's own (job progress): pass the worker's connection.
 */
export function createQueueEventsProducer(alias: QueueAlias, config: QueueConfig): QueueEventsProducer {
  return new QueueEventsProducer(QueueName[alias], { connection: resolve(config.connection, 'worker'), prefix: config.prefix });
}

/**
 * A node of the BullMQ Relay (pub/sub over the same Redis) that carries cancel requests to whichever worker process
 * holds a job. Handed a client it shares it for commands and duplicates it once for its blocking inbox reads.
 */
export function createRelay(config: { connection: RedisClient; prefix: string; name: string }): Relay {
  return new Relay({
    connection: config.connection,
    prefix: config.prefix,
    namespace: RELAY_NAMESPACE,
    name: config.name,
  });
}
