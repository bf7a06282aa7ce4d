import type { JobJson, JobState } from 'bullmq';
import type { Pool } from 'pg';
import { QueueName, queueAliases, type FLEET_QUEUE, type QueueAlias } from '../catalog.js';
import type { RedisClient } from '../redis-client.js';
import type { Broadcast } from './broadcast.js';
import { postgresRowToJobJson, redisHashToJobJson, type PostgresJobRow } from './job-json.js';

/** One entry of a queue's events stream: its id (`<ms>-<seq>` on Redis, `<n>-0` on PostgreSQL) and its fields. */
export interface StreamEntry {
  id: string;
  fields: Record<string, string>;
}

/** A job read at once with where it is and its state (`GET /api/jobs/:id`): the state is BullMQ's getState's answer. */
export interface JobRead {
  queue: QueueAlias;
  /** The job as BullMQ's backends decode it, for `Job.fromJSON`. */
  job: JobJson;
  state: JobState | 'unknown';
}

/**
 * A queue whose events stream the inspector reads: a catalog queue by its alias, or the fleet orchestrator's by its
 * name (the API's fleet-run streams; it stays out of the aliases, which drive job listings and record kinds).
 */
export type EventsQueue = QueueAlias | typeof FLEET_QUEUE;

/** The BullMQ queue name behind an EventsQueue. */
export const eventsQueueName = (queue: EventsQueue): string => (Object.hasOwn(QueueName, queue) ? QueueName[queue as QueueAlias] : queue);

/**
 * The reads of BullMQ's own data that its classes do not offer and the API needs: a job with its queue and state, a
 * page of a queue's events stream (SSE replay and resume), job creation times for listings, a job's server, and the
 * failed jobs up to a time. Redis reads BullMQ's keys; PostgreSQL its tables in schema `bullmq`.
 */
export interface QueueInspector {
  /** The job `id` of the first queue holding it (ids are unique across the queues), with its state, in one command (Redis) or one query; null if none. */
  read(id: string): Promise<JobRead | null>;
  /** The creation time (ms) of each job, 0 for one that is gone. */
  timestamps(queue: QueueAlias, ids: string[]): Promise<number[]>;
  /** The job's `data.serverId`: a string, null when it has none, undefined when the job is not held. */
  serverOf(queue: EventsQueue, id: string): Promise<string | null | undefined>;
  /** The id of the newest entry of the queue's events stream, '0-0' while it is empty. */
  eventsEnd(queue: EventsQueue): Promise<string>;
  /** Entries after `after` (exclusive), oldest first, at most `count`, and before `before` (exclusive) when given. */
  events(queue: EventsQueue, after: string, count: number, before?: string): Promise<StreamEntry[]>;
  /**
   * PostgreSQL: calls `wake` whenever events may have been added to the queue's stream, for a reader that pulls with
   * `events()`. Null on Redis, where BullMQ's QueueEvents delivers the stream in order. (On PostgreSQL event ids come
   * from a sequence and commit out of order across connections, so a reader paging by `id > cursor`, as BullMQ's
   * QueueEvents there does, can step over an event that commits late; `events()` stops before such a gap.)
   */
  watch(queue: EventsQueue, wake: () => void): { close(): Promise<void> } | null;
}

/**
 * The first queue holding job ARGV[1] (KEYS: each queue's key for it, in queue order): its 1-based index, its hash and
 * its state; 0 when none holds it. The state checks are BullMQ 6's getStateV2-8.lua, in its order; their keys are the
 * job key's queue base (`<prefix>:<queue>:`) plus BullMQ's key names, so on Redis Cluster they share the job key's slot
 * through the prefix's hash tag, as BullMQ's own scripts derive keys from a prefix. LPOS needs Redis 6.0.6 (BullMQ
 * falls back to LRANGE below it); the product needs 6.2 already for the Relay.
 */
const READ_SCRIPT = `
local id = ARGV[1]
local function stateOf(base)
  if redis.call('ZSCORE', base .. 'completed', id) then return 'completed' end
  if redis.call('ZSCORE', base .. 'failed', id) then return 'failed' end
  if redis.call('ZSCORE', base .. 'delayed', id) then return 'delayed' end
  if redis.call('ZSCORE', base .. 'prioritized', id) then return 'prioritized' end
  if redis.call('LPOS', base .. 'active', id) then return 'active' end
  if redis.call('LPOS', base .. 'wait', id) then return 'waiting' end
  if redis.call('LPOS', base .. 'paused', id) then return 'waiting' end
  if redis.call('ZSCORE', base .. 'waiting-children', id) then return 'waiting-children' end
  return 'unknown'
end
for i, key in ipairs(KEYS) do
  -- Redis deletes an emptied hash: a job key with no fields does not exist.
  local fields = redis.call('HGETALL', key)
  if #fields > 0 then return {i, fields, stateOf(string.sub(key, 1, #key - #id))} end
end
return 0`;

type InspectingRedis = RedisClient & {
  mmReadJob(...keysAndId: string[]): Promise<0 | [number, string[], string]>;
};

/** XRANGE and HGETALL in a script return fields as [k1, v1, k2, v2, ...]. */
function pairs(flat: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) out[flat[i] as string] = flat[i + 1] as string;
  return out;
}

export function redisQueueInspector(redis: RedisClient, prefix: string): QueueInspector {
  const jobKey = (queue: EventsQueue, id: string) => `${prefix}:${eventsQueueName(queue)}:${id}`;
  const streamKey = (queue: EventsQueue) => `${prefix}:${eventsQueueName(queue)}:events`;
  const scripts = (): InspectingRedis => {
    const r = redis as InspectingRedis;
    // ioredis sends EVALSHA and falls back to EVAL once per connection when the script is not loaded.
    if (typeof r.mmReadJob !== 'function') redis.defineCommand('mmReadJob', { numberOfKeys: queueAliases.length, lua: READ_SCRIPT });
    return r;
  };
  return {
    async read(id) {
      const found = await scripts().mmReadJob(...queueAliases.map((q) => jobKey(q, id)), id);
      if (found === 0) return null;
      const [index, flat, state] = found;
      return { queue: queueAliases[index - 1] as QueueAlias, job: redisHashToJobJson(pairs(flat)), state: state as JobRead['state'] };
    },
    async timestamps(queue, ids) {
      if (ids.length === 0) return [];
      const pipeline = redis.pipeline();
      for (const id of ids) pipeline.hget(jobKey(queue, id), 'timestamp');
      const stamps = (await pipeline.exec()) ?? [];
      return ids.map((_, i) => Number(stamps[i]?.[1] ?? 0));
    },
    async serverOf(queue, id) {
      const raw = await redis.hget(jobKey(queue, id), 'data');
      if (raw === null) return undefined;
      return serverIdOf(raw);
    },
    async eventsEnd(queue) {
      const [last] = await redis.xrevrange(streamKey(queue), '+', '-', 'COUNT', 1);
      return last?.[0] ?? '0-0';
    },
    async events(queue, after, count, before) {
      const entries = await redis.xrange(streamKey(queue), `(${after}`, before === undefined ? '+' : `(${before}`, 'COUNT', count);
      return entries.map(([id, flat]) => ({ id, fields: pairs(flat) }));
    },
    watch: () => null,
  };
}

function serverIdOf(raw: unknown): string | null {
  try {
    const data = (typeof raw === 'string' ? JSON.parse(raw) : raw) as { serverId?: unknown } | null;
    return typeof data?.serverId === 'string' ? data.serverId : null;
  } catch {
    return null;
  }
}

/** BullMQ's PostgreSQL getState: the table has no prioritized state, a waiting job with a priority is one. */
function postgresStateOf(row: Pick<PostgresJobRow, 'state' | 'priority'>): JobRead['state'] {
  if (row.state === 'waiting' && (row.priority ?? 0) > 0) return 'prioritized';
  return row.state as JobRead['state'];
}

/** A PostgreSQL event id as the stream id the API hands out: `<n>-0`, so one Last-Event-ID format serves both backends. */
export const postgresStreamId = (id: string | number | bigint): string => `${String(id)}-0`;

/** The event id a stream id names (its first part); '0' for anything else. */
function eventIdOf(streamId: string): string {
  const head = streamId.split('-')[0] ?? '0';
  return /^[0-9]{1,20}$/.test(head) ? head : '0';
}

/** A JSONB value as the string field a Redis stream would hold (BullMQ's readEvents does the same for strings). */
const fieldOf = (value: unknown): string => (typeof value === 'string' ? value : JSON.stringify(value));

/** BullMQ's publish_event notifies this channel with the queue's name (coalesced under load, hence the readers' polling too). */
const BULLMQ_EVENTS_CHANNEL = 'bullmq_events';

/**
 * An event row committed this long ago is delivered even if an older transaction is still open somewhere on the server
 * (a long transaction elsewhere must not hold the streams back for long; BullMQ's own transactions last milliseconds).
 */
const SETTLE_MS = 2_000;

/** Whether an event row is settled (events()); `$2` is SETTLE_MS. xmin is a 32-bit xid: compared by age, wraparound-safe. */
const SETTLED = `(age(xmin) > age((pg_snapshot_xmin(pg_current_snapshot())::text::bigint % 4294967296)::text::xid)
  OR created_at_ms < extract(epoch FROM clock_timestamp()) * 1000 - $2)`;

export function postgresQueueInspector(pool: Pool, schema: string, broadcast: Broadcast): QueueInspector {
  const t = (table: string) => `"${schema}".${table}`;
  const names = queueAliases.map((q) => QueueName[q]);
  const aliasOf = (name: string) => queueAliases.find((q) => QueueName[q] === name) ?? null;
  return {
    /** The row BullMQ's get_job_data reads, from the first queue in catalog order; the state as its getState maps it. */
    async read(id) {
      const result = await pool.query<PostgresJobRow & { queue: string }>(
        `SELECT * FROM ${t('job')} WHERE queue = ANY($1::text[]) AND id = $2 ORDER BY array_position($1::text[], queue) LIMIT 1`,
        [names, id],
      );
      const row = result.rows[0];
      const queue = row ? aliasOf(row.queue) : null;
      if (!row || !queue) return null;
      return { queue, job: postgresRowToJobJson(row), state: postgresStateOf(row) };
    },
    async timestamps(queue, ids) {
      if (ids.length === 0) return [];
      const result = await pool.query<{ id: string; at: string }>(`SELECT id, added_at_ms AS at FROM ${t('job')} WHERE queue = $1 AND id = ANY($2)`, [QueueName[queue], ids]);
      const at = new Map(result.rows.map((r) => [r.id, Number(r.at)]));
      return ids.map((id) => at.get(id) ?? 0);
    },
    async serverOf(queue, id) {
      const result = await pool.query<{ data: unknown }>(`SELECT data FROM ${t('job')} WHERE queue = $1 AND id = $2`, [eventsQueueName(queue), id]);
      const row = result.rows[0];
      return row ? serverIdOf(row.data) : undefined;
    },
    /**
     * The last event of the settled prefix (see events()): the newest row below the first visible unsettled one. Not
     * `that id - 1`: an event still uncommitted, invisible here, may hold exactly that id, and a reader starting there
     * would step over it.
     */
    async eventsEnd(queue) {
      const result = await pool.query<{ end: string | null }>(
        `WITH recent AS (
           SELECT id, ${SETTLED} AS settled FROM ${t('event')} WHERE queue = $1 ORDER BY id DESC LIMIT 1000
         )
         SELECT max(id) AS end FROM ${t('event')}
          WHERE queue = $1 AND id < COALESCE((SELECT min(id) FROM recent WHERE NOT settled), 9223372036854775807)`,
        [eventsQueueName(queue), SETTLE_MS],
      );
      const end = result.rows[0]?.end;
      return end ? postgresStreamId(end) : '0-0';
    },
    /**
     * Only the rows up to the first that may have a lower-numbered neighbour still uncommitted: a row is settled when
     * its transaction precedes every transaction still running (the snapshot's xmin), or when it is SETTLE_MS old.
     * A reader that pages on from the last settled row therefore never steps over an event that commits late.
     */
    async events(queue, after, count, before) {
      const result = await pool.query<{ id: string; event: string; data: Record<string, unknown> | null; settled: boolean }>(
        `SELECT id, event, data, ${SETTLED.replaceAll('$2', '$5')} AS settled
           FROM ${t('event')}
          WHERE queue = $1 AND id > $2 AND ($3::bigint IS NULL OR id < $3)
          ORDER BY id LIMIT $4`,
        [eventsQueueName(queue), eventIdOf(after), before === undefined ? null : eventIdOf(before), count, SETTLE_MS],
      );
      const entries: StreamEntry[] = [];
      for (const row of result.rows) {
        if (!row.settled) break;
        const fields: Record<string, string> = { event: row.event };
        for (const [k, v] of Object.entries(row.data ?? {})) fields[k] = fieldOf(v);
        entries.push({ id: postgresStreamId(row.id), fields });
      }
      return entries;
    },
    watch(queue, wake) {
      const name = eventsQueueName(queue);
      return broadcast.listen(BULLMQ_EVENTS_CHANNEL, {
        message: (payload) => {
          if (payload === name) wake();
        },
        // After (re)connecting: whatever was announced meanwhile is read now.
        up: wake,
        down: () => {},
        error: () => {},
      });
    },
  };
}
