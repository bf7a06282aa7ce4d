import type { Redis } from 'ioredis';
import { DAY_SECONDS, queueAliases, type QueueAlias } from '@mm/jobs';

/**
 * A per-server sorted set of `alias:jobId` scored by enqueue time, written when the API enqueues.
 * BullMQ has no index by job data, so this is what lets `?serverId=` and the server-delete check
 * read only that server's jobs instead of every job. Entries of removed jobs are dropped when met;
 * entries older than BullMQ's retention (7 days) are trimmed on every add.
 */
export class ServerJobIndex {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  private key(serverId: string): string {
    return `${this.prefix}:mm:server-jobs:${serverId}`;
  }

  async add(serverId: string, queue: QueueAlias, jobId: string, at = Date.now()): Promise<void> {
    const key = this.key(serverId);
    await this.redis
      .multi()
      .zadd(key, at, `${queue}:${jobId}`)
      .zremrangebyscore(key, '-inf', at - 8 * DAY_SECONDS * 1_000)
      .expire(key, 8 * DAY_SECONDS)
      .exec();
  }

  async remove(serverId: string, queue: QueueAlias, jobId: string): Promise<void> {
    await this.redis.zrem(this.key(serverId), `${queue}:${jobId}`);
  }

  async drop(serverId: string): Promise<void> {
    await this.redis.del(this.key(serverId));
  }

  /** Entries newest first, `count` from `start`. */
  async page(serverId: string, start: number, count: number): Promise<{ queue: QueueAlias; jobId: string; at: number }[]> {
    const flat = await this.redis.zrevrange(this.key(serverId), start, start + count - 1, 'WITHSCORES');
    const entries: { queue: QueueAlias; jobId: string; at: number }[] = [];
    for (let i = 0; i + 1 < flat.length; i += 2) {
      const member = flat[i] as string;
      const sep = member.indexOf(':');
      const queue = member.slice(0, sep) as QueueAlias;
      if (!queueAliases.includes(queue)) continue;
      entries.push({ queue, jobId: member.slice(sep + 1), at: Number(flat[i + 1]) });
    }
    return entries;
  }
}
