import { Redis } from 'ioredis';

/** Thrown by start-up checks; its message is the one line an operator needs. */
export class RedisUnavailableError extends Error {
  override name = 'RedisUnavailableError';
}

/**
 * Pings Redis once and reads its eviction policy. BullMQ loses jobs under any policy but `noeviction`,
 * so the caller should warn when `maxmemoryPolicy` is anything else.
 * https://docs.bullmq.io/guide/going-to-production#max-memory-policy
 */
export async function checkRedis(url: string, timeoutMs = 3_000): Promise<{ maxmemoryPolicy: string | undefined }> {
  const redis = new Redis(url, { lazyConnect: true, connectTimeout: timeoutMs, maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => null });
  redis.on('error', () => {}); // reported through the rejected connect below
  const u = new URL(url);
  try {
    await redis.connect();
    const [, policy] = (await redis.config('GET', 'maxmemory-policy').catch(() => [])) as string[];
    return { maxmemoryPolicy: policy };
  } catch {
    throw new RedisUnavailableError(
      `Redis is not answering at ${u.hostname}:${u.port || 6379}. Start it (e.g. redis-server --daemonize yes --port 6379) or set REDIS_URL.`,
    );
  } finally {
    redis.disconnect();
  }
}
