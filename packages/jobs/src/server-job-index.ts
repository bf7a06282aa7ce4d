import type { Pool } from 'pg';
import type { RedisClient } from './redis-client.js';
import { DAY_SECONDS, queueAliases, type QueueAlias } from './catalog.js';

// A day beyond BullMQ's 7-day retention of finished jobs.
const RETENTION_SECONDS = 8 * DAY_SECONDS;

const ADD_SCRIPT = `redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2]) redis.call('EXPIRE', KEYS[1], ARGV[3]) return 1`;

type IndexingRedis = RedisClient & { mmServerJobAdd(key: string, at: number, member: string, ttlSeconds: number): Promise<number> };

export interface ServerJobEntry {
  queue: QueueAlias;
  jobId: string;
  at: number;
}

/**
 * Per server, its jobs (`alias:jobId`) by enqueue time, written when the API enqueues, and by the worker runtime when
 * it starts a job a job scheduler made (a scheduled backup), which no producer call announced. BullMQ has no index by
 * job data, so this is what lets `?serverId=` and the server-delete check read only that server's jobs instead of
 * every job. Entries of removed jobs are dropped when met; entries older than BullMQ's retention are trimmed on read.
 */
export interface ServerJobIndex {
  add(serverId: string, queue: QueueAlias, jobId: string, at?: number): Promise<void>;
  remove(serverId: string, queue: QueueAlias, jobId: string): Promise<void>;
  drop(serverId: string): Promise<void>;
  /** Entries newest first, `count` from `start`. */
  page(serverId: string, start: number, count: number): Promise<ServerJobEntry[]>;
}

function parseMember(member: string, at: number): ServerJobEntry | null {
  const sep = member.indexOf(':');
  const queue = member.slice(0, sep) as QueueAlias;
  if (!queueAliases.includes(queue)) return null;
  return { queue, jobId: member.slice(sep + 1), at };
}

/** Redis: a per-server sorted set of `alias:jobId` scored by enqueue time, expiring with BullMQ's retention. */
export class RedisServerJobIndex implements ServerJobIndex {
  constructor(
    private readonly redis: RedisClient,
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
  async page(serverId: string, start: number, count: number): Promise<ServerJobEntry[]> {
    const key = this.key(serverId);
    const [, page] = (await this.redis
      .pipeline()
      .zremrangebyscore(key, '-inf', Date.now() - RETENTION_SECONDS * 1_000)
      .zrevrange(key, start, start + count - 1, 'WITHSCORES')
      .exec()) ?? [];
    if (page?.[0]) throw page[0];
    const flat = (page?.[1] ?? []) as string[];
    const entries: ServerJobEntry[] = [];
    for (let i = 0; i + 1 < flat.length; i += 2) {
      const entry = parseMember(flat[i] as string, Number(flat[i + 1]));
      if (entry) entries.push(entry);
    }
    return entries;
  }
}

/** PostgreSQL: rows of `server_job_index` (migration 0010), in the order of the Redis sorted set (time, then member). */
export class PostgresServerJobIndex implements ServerJobIndex {
  constructor(private readonly pool: Pool) {}

  async add(serverId: string, queue: QueueAlias, jobId: string, at = Date.now()): Promise<void> {
    await this.pool.query(
      'INSERT INTO server_job_index (server_id, member, at) VALUES ($1, $2, $3) ON CONFLICT (server_id, member) DO UPDATE SET at = excluded.at',
      [serverId, `${queue}:${jobId}`, at],
    );
  }

  async remove(serverId: string, queue: QueueAlias, jobId: string): Promise<void> {
    await this.pool.query('DELETE FROM server_job_index WHERE server_id = $1 AND member = $2', [serverId, `${queue}:${jobId}`]);
  }

  async drop(serverId: string): Promise<void> {
    await this.pool.query('DELETE FROM server_job_index WHERE server_id = $1', [serverId]);
  }

  async page(serverId: string, start: number, count: number): Promise<ServerJobEntry[]> {
    await this.pool.query('DELETE FROM server_job_index WHERE server_id = $1 AND at < $2', [serverId, Date.now() - RETENTION_SECONDS * 1_000]);
    const result = await this.pool.query<{ member: string; at: string }>(
      'SELECT member, at FROM server_job_index WHERE server_id = $1 ORDER BY at DESC, member DESC OFFSET $2 LIMIT $3',
      [serverId, start, count],
    );
    return result.rows.map((row) => parseMember(row.member, Number(row.at))).filter((e): e is ServerJobEntry => e !== null);
  }
}
