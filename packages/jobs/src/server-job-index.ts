import type { Redis } from 'ioredis';
import { DAY_SECONDS, queueAliases, type QueueAlias } from './catalog.js';

// A day beyond BullMQ's 7-day retention of finished jobs.
const RETENTION_SECONDS = 8 * DAY_SECONDS;

const ADD_SCRIPT = `redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2]) redis.call('EXPIRE', KEYS[1], ARGV[3]) return 1`;

type IndexingRedis = Redis & { mmServerJobAdd(key: string, at: number, member: string, ttlSeconds: number): Promise<number> };

/**
 * A per-server sorted set of `alias:jobId` scored by enqueue time, written when the API enqueues, and by the worker
 * runtime when it starts a job a job scheduler made (a scheduled backup), which no producer call announced.
 * BullMQ has no index by job data, so this is what lets `?serverId=` and the server-delete check
 * read only that server's jobs instead of every job. Entries of removed jobs are dropped when met;
 * entries older than BullMQ's retention (7 days) are trimmed when the index is read.
 */
export class ServerJobIndex {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  private key(serverId: string): string {
    return `${this.prefix}:mm:server-jobs:${serverId}`;
  }

  /**
   * ZADD and EXPIRE as one EVALSHA (this is on the trigger hot path, sent alongside the enqueue): an ioredis
   * pipeline costs a Pipeline object and a write per command; trimming happens on reads.
   */
  async add(serverId: string, queue: QueueAlias, jobId: string, at = Date.now()): Promise<void> {
    await this.writer().mmServerJobAdd(this.key(serverId), at, `${queue}:${jobId}`, RETENTION_SECONDS);
  }

  private writer(): IndexingRedis {
    const r = this.redis as IndexingRedis;
    if (typeof r.mmServerJobAdd !== 'function') this.redis.defineCommand('mmServerJobAdd', { numberOfKeys: 1, lua: ADD_SCRIPT });
    return r;
  }

  async remove(serverId: string, queue: QueueAlias, jobId: string): Promise<void> {
    await this.redis.zrem(this.key(serverId), `${queue}:${jobId}`);
  }

  async drop(serverId: string): Promise<void> {
    await this.redis.del(this.key(serverId));
  }

  /** Entries newest first, `count` from `start`. */
  async page(serverId: string, start: number, count: number): Promise<{ queue: QueueAlias; jobId: string; at: number }[]> {
    const key = this.key(serverId);
    const [, page] = (await this.redis
      .pipeline()
      .zremrangebyscore(key, '-inf', Date.now() - RETENTION_SECONDS * 1_000)
      .zrevrange(key, start, start + count - 1, 'WITHSCORES')
      .exec()) ?? [];
    if (page?.[0]) throw page[0];
    const flat = (page?.[1] ?? []) as string[];
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
