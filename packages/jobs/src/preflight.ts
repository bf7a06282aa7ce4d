import { Redis } from 'ioredis';
import { createClusterClient } from './redis-client.js';

/** Thrown by start-up checks; its message is the one line an operator needs. */
export class RedisUnavailableError extends Error {
  override name = 'RedisUnavailableError';
}

/**
 * Pings Redis once and reads its eviction policy. BullMQ loses jobs under any policy but `noeviction`,
 * so the caller should warn when `maxmemoryPolicy` is anything else.
 * https://docs.bullmq.io/guide/going-to-production#max-memory-policy
 * With `cluster`, `url` holds the seed nodes: the cluster must answer with a slot map, and the policy reported is the
 * first master's that is not `noeviction` (else `noeviction`).
 */
export async function checkRedis(url: string, opts: { cluster?: boolean; timeoutMs?: number } = {}): Promise<{ maxmemoryPolicy: string | undefined }> {
  const timeoutMs = opts.timeoutMs ?? 3_000;
  if (opts.cluster) return checkCluster(url, timeoutMs);
  const redis = new Redis(url, { lazyConnect: true, connectTimeout: timeoutMs, maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => null });
  redis.on('error', () => {}); // reported through the rejected connect below
  const u = new URL(url);
  try {
    await redis.connect();
    return { maxmemoryPolicy: await evictionPolicy(redis) };
  } catch {
    throw new RedisUnavailableError(
      `Redis is not answering at ${u.hostname}:${u.port || 6379}. Start it (e.g. redis-server --daemonize yes --port 6379) or set REDIS_URL.`,
    );
  } finally {
    redis.disconnect();
  }
}

async function evictionPolicy(redis: Redis): Promise<string | undefined> {
  const [, policy] = (await redis.config('GET', 'maxmemory-policy').catch(() => [])) as string[];
  return policy;
}

async function checkCluster(urls: string, timeoutMs: number): Promise<{ maxmemoryPolicy: string | undefined }> {
  const cluster = createClusterClient(urls, { maxRetriesPerRequest: 0, enableOfflineQueue: false, lazyConnect: true });
  cluster.on('error', () => {}); // reported through the rejected connect below
  let timer: NodeJS.Timeout | undefined;
  try {
    const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('timeout')), timeoutMs)));
    await Promise.race([cluster.connect(), timeout]);
    const info = await Promise.race([cluster.cluster('INFO'), timeout]);
    if (!/^cluster_state:ok/m.test(info)) throw new Error('cluster_state is not ok');
    const policies = await Promise.all(cluster.nodes('master').map((node) => evictionPolicy(node)));
    return { maxmemoryPolicy: policies.find((p) => p !== undefined && p !== 'noeviction') ?? policies.find((p) => p !== undefined) };
  } catch {
    const seeds = urls.split(',').map((u) => new URL(u.trim()).host).join(', ');
    throw new RedisUnavailableError(`Redis Cluster is not answering with cluster_state:ok at ${seeds}. Start it (and every master of it) or set REDIS_URL.`);
  } finally {
    clearTimeout(timer);
    cluster.disconnect();
  }
}
