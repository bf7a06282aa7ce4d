import type { QueueBackend, RedisClient } from '@mm/jobs';
import type { Database } from '@mm/db';

/** What `/api/metrics/system` says of the queue store (its `redis` field, named before the PostgreSQL backend). */
export interface RedisInfo {
  version: string | null;
  usedMemoryBytes: number | null;
  maxmemoryPolicy: string | null;
  connectedClients: number | null;
  warning?: string;
}

function field(info: string, name: string): string | null {
  const match = new RegExp(`^${name}:(.*)$`, 'm').exec(info);
  return match?.[1]?.trim() ?? null;
}

export async function redisInfo(redis: RedisClient): Promise<RedisInfo> {
  const [info, policy] = await Promise.all([
    redis.info(),
    // CONFIG is disabled on some managed Redis; INFO still says enough.
    redis.config('GET', 'maxmemory-policy').then((r) => (r as string[])[1] ?? null).catch(() => null),
  ]);
  const maxmemoryPolicy = policy ?? field(info, 'maxmemory_policy');
  const num = (name: string) => {
    const v = field(info, name);
    return v === null ? null : Number(v);
  };
  return {
    version: field(info, 'redis_version'),
    usedMemoryBytes: num('used_memory'),
    maxmemoryPolicy,
    connectedClients: num('connected_clients'),
    // https://docs.bullmq.io/guide/going-to-production#max-memory-policy
    ...(maxmemoryPolicy !== 'noeviction' ? { warning: `maxmemory-policy is ${maxmemoryPolicy ?? 'unknown'}; BullMQ needs noeviction or Redis may evict job keys.` } : {}),
  };
}

/**
 * The queue store's facts: Redis' INFO, or, on the PostgreSQL backend, the database the queues share with the records
 * (its version and this database's connections; memory and eviction policy are Redis notions: null there).
 */
export async function queueStoreInfo(backend: QueueBackend, sql: Database['sql']): Promise<RedisInfo> {
  if (backend.redis) return redisInfo(backend.redis);
  await backend.ping();
  const [row] = await sql<{ version: string; clients: number }[]>`
    select current_setting('server_version') as version,
           (select count(*)::int from pg_stat_activity where datname = current_database()) as clients`;
  return { version: row?.version ?? null, usedMemoryBytes: null, maxmemoryPolicy: null, connectedClients: row?.clients ?? null };
}
