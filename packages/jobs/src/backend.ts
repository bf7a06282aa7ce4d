import {
  createPostgresBackend,
  createPostgresRelayBackend,
  Queue,
  QueueEvents,
  QueueEventsProducer,
  Relay,
  runMigrations,
  Worker,
  type PostgresPoolConfig,
  type Processor,
  type WorkerOptions,
} from 'bullmq';
import pg from 'pg';
import type { QueueBackendKind } from '@mm/config';
import { RELAY_NAMESPACE } from './cancel-request.js';
import { QueueName, defaultJobOptions, type QueueAlias } from './catalog.js';
import { checkRedis } from './preflight.js';
import * as redisFactory from './queue-factory.js';
import { pingQueueRedis, type RedisClient } from './redis-client.js';
import { PostgresServerJobIndex, RedisServerJobIndex, type ServerJobIndex } from './server-job-index.js';
import { postgresBroadcast, redisBroadcast, type Broadcast } from './stores/broadcast.js';
import { postgresKeyValueStore, redisKeyValueStore, type KeyValueStore } from './stores/key-value-store.js';
import { postgresQueueInspector, redisQueueInspector, type QueueInspector } from './stores/queue-inspector.js';
import { postgresLeaseStore, redisLeaseStore, type LeaseStore } from './stores/lease-store.js';

export type { QueueBackendKind } from '@mm/config';

/** BullMQ's tables live in this schema of DATABASE_URL's database (the product's own tables stay in `public`). */
export const POSTGRES_QUEUE_SCHEMA = 'bullmq';
/** Per BullMQ instance (each owns its pool, plus one LISTEN connection for workers and events). */
const POSTGRES_POOL_MAX = 3;

/** The variables the switch reads: a subset of @mm/config's CommonEnv (QUEUE_BACKEND already resolved by parseEnv). */
export interface BackendEnv {
  QUEUE_BACKEND: QueueBackendKind;
  REDIS_URL: string;
  /** REDIS_CLUSTER: REDIS_URL names Redis Cluster seed nodes (Redis backend only). */
  REDIS_CLUSTER?: boolean;
  DATABASE_URL: string;
  QUEUE_PREFIX: string;
}

/** BullMQ on PostgreSQL: a connection string and the schema; each Queue/Worker builds its own small pool from it. */
export interface PostgresQueueConfig {
  kind: 'postgres';
  databaseUrl: string;
  /** Kept for the product's own Redis-style key names (cancel markers, idempotency keys); BullMQ ignores it here. */
  prefix: string;
}

/** What queue factories take: today's Redis config (a connection and a prefix), or the PostgreSQL one. */
export type AnyQueueConfig = redisFactory.QueueConfig | PostgresQueueConfig;

const isPostgres = (config: AnyQueueConfig): config is PostgresQueueConfig => 'kind' in config && config.kind === 'postgres';

function poolConfig(config: PostgresQueueConfig, role: 'producer' | 'worker'): PostgresPoolConfig {
  return {
    connectionString: config.databaseUrl,
    schema: POSTGRES_QUEUE_SCHEMA,
    max: POSTGRES_POOL_MAX,
    // Producers fail fast as on Redis; a worker's pool waits for PostgreSQL to come back.
    connectionTimeoutMillis: role === 'producer' ? 5_000 : 0,
    // Migrations run once at start (prepareQueueBackend), not per instance.
    skipMigrations: true,
  };
}

// BullMQ's classes are generic in their backend; the product uses only the backend-neutral surface, typed as the
// Redis default (hence the casts below). Code that needs Redis itself (queue.client, toKey) checks `backend.redis`.

export function createQueue(alias: QueueAlias, config: AnyQueueConfig): Queue {
  if (!isPostgres(config)) return redisFactory.createQueue(alias, config);
  return new Queue(QueueName[alias], { connection: poolConfig(config, 'producer'), defaultJobOptions }, createPostgresBackend) as unknown as Queue;
}

/** A queue outside the catalog (the fleet orchestrator's), on the same backend. */
export function createNamedQueue<T>(name: string, config: AnyQueueConfig): Queue<T> {
  if (!isPostgres(config)) {
    const connection = typeof config.connection === 'string' ? redisFactory.createRedisConnection(config.connection, 'producer') : config.connection;
    return new Queue<T>(name, { connection, prefix: config.prefix });
  }
  return new Queue(name, { connection: poolConfig(config, 'producer') }, createPostgresBackend) as unknown as Queue<T>;
}

export function createWorker(alias: QueueAlias, processor: Processor, config: AnyQueueConfig & Omit<WorkerOptions, 'connection' | 'prefix'>): Worker {
  return createNamedWorker(QueueName[alias], processor, config);
}

export function createNamedWorker(name: string, processor: Processor, config: AnyQueueConfig & Omit<WorkerOptions, 'connection' | 'prefix'>): Worker {
  if (!isPostgres(config)) {
    const { connection, prefix, ...options } = config;
    const redis = typeof connection === 'string' ? redisFactory.createRedisConnection(connection, 'worker') : connection;
    return new Worker(name, processor, { ...options, connection: redis, prefix });
  }
  const { kind: _kind, databaseUrl: _url, prefix: _prefix, ...options } = config;
  return new Worker(name, processor, { ...options, connection: poolConfig(config, 'worker') }, createPostgresBackend) as unknown as Worker;
}

export function createQueueEvents(alias: QueueAlias, config: AnyQueueConfig): QueueEvents {
  if (!isPostgres(config)) return redisFactory.createQueueEvents(alias, config);
  return new QueueEvents(QueueName[alias], { connection: poolConfig(config, 'worker') }, createPostgresBackend) as unknown as QueueEvents;
}

/** QueueEvents of a queue by its BullMQ name, on the same backend: the fleet orchestrator's (outside the catalog) too. */
export function createNamedQueueEvents(name: string, config: AnyQueueConfig): QueueEvents {
  if (!isPostgres(config)) return new QueueEvents(name, { connection: redisFactory.queueEventsConnection(config.connection), prefix: config.prefix });
  return new QueueEvents(name, { connection: poolConfig(config, 'worker') }, createPostgresBackend) as unknown as QueueEvents;
}

export function createQueueEventsProducer(alias: QueueAlias, config: AnyQueueConfig): QueueEventsProducer {
  if (!isPostgres(config)) return redisFactory.createQueueEventsProducer(alias, config);
  return new QueueEventsProducer(QueueName[alias], { connection: poolConfig(config, 'worker') }, createPostgresBackend) as unknown as QueueEventsProducer;
}

/** A node of the BullMQ Relay (cancel requests to whichever worker holds a job), on the same backend. */
export function createRelay(config: AnyQueueConfig & { name: string }): Relay {
  if (!isPostgres(config)) {
    const connection = typeof config.connection === 'string' ? redisFactory.createRedisConnection(config.connection, 'worker') : config.connection;
    return redisFactory.createRelay({ connection, prefix: config.prefix, name: config.name });
  }
  return new Relay({
    connection: poolConfig(config, 'worker'),
    namespace: RELAY_NAMESPACE,
    name: config.name,
    backend: createPostgresRelayBackend,
  }) as unknown as Relay;
}

/**
 * The queue backend of one process, chosen by QUEUE_BACKEND: the config every queue factory takes, and the product's
 * own queue-side state (cancel markers and idempotency keys, per-server leases, the per-server job index) on the
 * same store. Open it once per process; close() is safe twice.
 */
export interface QueueBackend {
  readonly kind: QueueBackendKind;
  readonly queueConfig: AnyQueueConfig;
  readonly prefix: string;
  /** The shared Redis connection on the Redis backend (the few Redis-only reads: metrics INFO), null on PostgreSQL. */
  readonly redis: RedisClient | null;
  readonly kv: KeyValueStore;
  readonly leases: LeaseStore;
  readonly serverJobs: ServerJobIndex;
  /** Reads of BullMQ's data its classes do not offer: job location, events stream pages (SSE resume), timestamps. */
  readonly inspector: QueueInspector;
  /** Messages to every process (token revocations): Redis pub/sub or PostgreSQL LISTEN/NOTIFY. */
  readonly broadcast: Broadcast;
  /** One line for logs and the start banner: where the queues run. */
  describe(): string;
  /** False while the connection is known to be down (a probe answers "down" at once instead of waiting). */
  isReady(): boolean;
  ping(): Promise<void>;
  close(): Promise<void>;
}

export type ConnectionRole = redisFactory.ConnectionRole;

/** The one place the queue backend's connection is made (docs/DEPLOYMENT.md, "one switch"). */
export function openQueueBackend(env: BackendEnv, role: ConnectionRole): QueueBackend {
  return env.QUEUE_BACKEND === 'postgres' ? openPostgres(env, role) : openRedis(env, role);
}

function openRedis(env: BackendEnv, role: ConnectionRole): QueueBackend {
  const redis = redisFactory.createRedisConnection(env.REDIS_URL, role, { cluster: env.REDIS_CLUSTER ?? false });
  let closed = false;
  return {
    kind: 'redis',
    queueConfig: { connection: redis, prefix: env.QUEUE_PREFIX },
    prefix: env.QUEUE_PREFIX,
    redis,
    kv: redisKeyValueStore(redis),
    leases: redisLeaseStore(redis, env.QUEUE_PREFIX),
    serverJobs: new RedisServerJobIndex(redis, env.QUEUE_PREFIX),
    inspector: redisQueueInspector(redis, env.QUEUE_PREFIX),
    broadcast: redisBroadcast(redis),
    describe: () => describeQueueBackend(env),
    isReady: () => redis.status === 'ready',
    async ping() {
      if (redis.status !== 'ready') throw new Error(`redis ${redis.status}`);
      await pingQueueRedis(redis, env.QUEUE_PREFIX);
    },
    async close() {
      if (closed) return;
      closed = true;
      redis.disconnect();
    },
  };
}

function openPostgres(env: BackendEnv, role: ConnectionRole): QueueBackend {
  const pool = new pg.Pool({ connectionString: env.DATABASE_URL, max: 4, connectionTimeoutMillis: role === 'producer' ? 5_000 : 0 });
  let up = true;
  // An idle client's error (PostgreSQL restarted) must not crash the process; the next query reconnects.
  pool.on('error', () => {
    up = false;
  });
  let closing: Promise<void> | undefined;
  const broadcast = postgresBroadcast(pool, env.DATABASE_URL);
  return {
    kind: 'postgres',
    queueConfig: { kind: 'postgres', databaseUrl: env.DATABASE_URL, prefix: env.QUEUE_PREFIX },
    prefix: env.QUEUE_PREFIX,
    redis: null,
    kv: postgresKeyValueStore(pool),
    leases: postgresLeaseStore(pool),
    serverJobs: new PostgresServerJobIndex(pool),
    inspector: postgresQueueInspector(pool, POSTGRES_QUEUE_SCHEMA, broadcast),
    broadcast,
    describe: () => describeQueueBackend(env),
    isReady: () => up,
    async ping() {
      try {
        await pool.query('SELECT 1');
        up = true;
      } catch (err) {
        up = false;
        throw err;
      }
    },
    close() {
      closing ??= pool.end();
      return closing;
    },
  };
}

/** The start line's words: where the queues run (no credentials: the URL's user and password are left out). */
export function describeQueueBackend(env: BackendEnv): string {
  if (env.QUEUE_BACKEND === 'postgres') {
    const u = new URL(env.DATABASE_URL);
    return `queues on PostgreSQL (${u.hostname}:${u.port || 5432}${u.pathname}, schema ${POSTGRES_QUEUE_SCHEMA})`;
  }
  const u = new URL(env.REDIS_URL.split(',')[0] ?? env.REDIS_URL);
  const where = env.REDIS_CLUSTER ? `Redis Cluster (seed ${u.hostname}:${u.port || 6379}` : `Redis (${u.hostname}:${u.port || 6379}`;
  return `queues on ${where}, prefix ${env.QUEUE_PREFIX})`;
}

/**
 * Start-up check of the queue backend, before anything connects for good. Redis: one clear line if it is down, a
 * warning when it may evict jobs. PostgreSQL: BullMQ's own migrations (schema `bullmq`), serialised by its advisory
 * lock, so every process may call it. Returns warnings for the caller to log.
 */
export async function prepareQueueBackend(env: BackendEnv): Promise<{ warnings: string[] }> {
  if (env.QUEUE_BACKEND === 'redis') {
    const { maxmemoryPolicy } = await checkRedis(env.REDIS_URL, { cluster: env.REDIS_CLUSTER ?? false });
    const warnings =
      maxmemoryPolicy && maxmemoryPolicy !== 'noeviction'
        ? [`Redis maxmemory-policy is ${maxmemoryPolicy}, not noeviction: Redis may evict job keys (https://docs.bullmq.io/guide/going-to-production)`]
        : [];
    return { warnings };
  }
  await runQueueMigrations(env.DATABASE_URL);
  return { warnings: [] };
}

/** Brings BullMQ's PostgreSQL schema up to date (idempotent; concurrent starters wait for the first). */
export async function runQueueMigrations(databaseUrl: string): Promise<number> {
  const client = new pg.Client({ connectionString: databaseUrl, connectionTimeoutMillis: 5_000 });
  await client.connect();
  try {
    return await runMigrations(client, POSTGRES_QUEUE_SCHEMA);
  } finally {
    await client.end();
  }
}
