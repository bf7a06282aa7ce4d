import type { RedisClient } from '../redis-client.js';
import type { Pool } from 'pg';

/**
 * Short-lived keys with a time to live: cancel markers and idempotency keys. On Redis they are plain keys; on
 * PostgreSQL rows of `queue_kv` (migration 0010), where an expired row reads as absent and is deleted when met.
 */
export interface KeyValueStore {
  /** Sets `key` for `ttlMs`; with `onlyIfAbsent` only when no live value is there. True when it was set. */
  set(key: string, value: string, ttlMs: number, opts?: { onlyIfAbsent?: boolean }): Promise<boolean>;
  get(key: string): Promise<string | null>;
  /** Reads and deletes in one step (Redis GETDEL). */
  take(key: string): Promise<string | null>;
  delete(key: string): Promise<void>;
}

export function redisKeyValueStore(redis: RedisClient): KeyValueStore {
  return {
    async set(key, value, ttlMs, opts) {
      const done = opts?.onlyIfAbsent ? await redis.set(key, value, 'PX', ttlMs, 'NX') : await redis.set(key, value, 'PX', ttlMs);
      return done === 'OK';
    },
    get: (key) => redis.get(key),
    take: (key) => redis.getdel(key),
    async delete(key) {
      await redis.del(key);
    },
  };
}

/** Expired rows are swept once in this many writes (reads ignore them, so this only bounds the table). */
const SWEEP_EVERY = 200;

export function postgresKeyValueStore(pool: Pool): KeyValueStore {
  let writes = 0;
  const sweep = async () => {
    if (++writes % SWEEP_EVERY !== 0) return;
    await pool.query('DELETE FROM queue_kv WHERE expires_at <= now()');
  };
  return {
    async set(key, value, ttlMs, opts) {
      // The conflict branch replaces an expired row even with onlyIfAbsent, as an expired Redis key is absent.
      const result = await pool.query(
        `INSERT INTO queue_kv (key, value, expires_at) VALUES ($1, $2, now() + $3 * interval '1 millisecond')
         ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at
         ${opts?.onlyIfAbsent ? 'WHERE queue_kv.expires_at <= now()' : ''}
         RETURNING 1`,
        [key, value, ttlMs],
      );
      await sweep();
      return (result.rowCount ?? 0) > 0;
    },
    async get(key) {
      const result = await pool.query<{ value: string }>('SELECT value FROM queue_kv WHERE key = $1 AND expires_at > now()', [key]);
      return result.rows[0]?.value ?? null;
    },
    async take(key) {
      const result = await pool.query<{ value: string; live: boolean }>('DELETE FROM queue_kv WHERE key = $1 RETURNING value, expires_at > now() AS live', [key]);
      const row = result.rows[0];
      return row?.live ? row.value : null;
    },
    async delete(key) {
      await pool.query('DELETE FROM queue_kv WHERE key = $1', [key]);
    },
  };
}
