import { Queue, QueueEvents, QueueEventsProducer, Relay, Worker, type ConnectionOptions, type Processor, type WorkerOptions } from 'bullmq';
import { Redis } from 'ioredis';
import { RELAY_NAMESPACE } from './cancel-request.js';
import { QueueName, defaultJobOptions, type QueueAlias } from './catalog.js';

/**
 * The one place queues, workers and queue events are created, so the backend is one choice:
 * Redis (the default). BullMQ 6 also ships createPostgresBackend; switching means changing this file only.
 */
export interface QueueConfig {
  /** A shared ioredis connection, or a URL to open one from. */
  connection: Redis | string;
  /** Redis key prefix (`bull` by default). Use a hash tag such as `{mm}` on Redis Cluster. */
  prefix: string;
}

export type ConnectionRole = 'producer' | 'worker';

/**
 * Producers fail fast so a request never waits on a dead Redis; workers wait forever for Redis to come back.
 * https://docs.bullmq.io/guide/going-to-production
 */
export function createRedisConnection(url: string, role: ConnectionRole): Redis {
  return new Redis(url, {
    maxRetriesPerRequest: role === 'worker' ? null : 1,
    enableOfflineQueue: role === 'worker',
    connectTimeout: 5_000,
    retryStrategy: (times) => Math.min(times * 200, 2_000),
    lazyConnect: false,
  });
}

function resolve(connection: Redis | string, role: ConnectionRole): Redis {
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
  // ioredis' own options type differs from BullMQ's structural copy of it only in optional details.
  const connection: ConnectionOptions =
    typeof config.connection === 'string'
      ? { url: config.connection }
      : ({ ...config.connection.options, maxRetriesPerRequest: null, enableOfflineQueue: true } as ConnectionOptions);
  return new QueueEvents(QueueName[alias], { connection, prefix: config.prefix });
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
export function createRelay(config: { connection: Redis; prefix: string; name: string }): Relay {
  return new Relay({
    connection: config.connection,
    prefix: config.prefix,
    namespace: RELAY_NAMESPACE,
    name: config.name,
  });
}
