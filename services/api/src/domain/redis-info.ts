import type { Redis } from 'ioredis';

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

export async function redisInfo(redis: Redis): Promise<RedisInfo> {
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
