import type { RedisClient } from '../redis-client.js';
import type { Pool } from 'pg';

/**
 * The per-server lease primitives behind the worker runtime's ServerLeases: one holder per server until the lease
 * expires, compare-and-set on every step. Redis: a key per server (Lua); PostgreSQL: a row of `server_leases`.
 */
export interface LeaseStore {
  /** Takes a free (or expired) lease, or re-takes one `holder` itself holds; returns the holder after the call. */
  acquire(serverId: string, holder: string, leaseMs: number): Promise<string>;
  /** Extends the lease if `holder` still holds it (and it has not expired); false means it was lost. */
  renew(serverId: string, holder: string, leaseMs: number): Promise<boolean>;
  /** Deletes the lease if `holder` still holds it: one that expired and passed to another job is left alone. */
  release(serverId: string, holder: string): Promise<void>;
}

const RELEASE_SCRIPT = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;
const RENEW_SCRIPT = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0`;
const ACQUIRE_SCRIPT = `local held = redis.call('GET', KEYS[1])
if held == false or held == ARGV[1] then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return ARGV[1] end
return held`;

type LeaseRedis = RedisClient & {
  mmLeaseAcquire(key: string, holder: string, leaseMs: number): Promise<string>;
  mmLeaseRenew(key: string, holder: string, leaseMs: number): Promise<number>;
  mmLeaseRelease(key: string, holder: string): Promise<number>;
};

/** The Redis key of a server's lease. */
export function serverLeaseKey(prefix: string, serverId: string): string {
  return `${prefix}:mm:server-lock:${serverId}`;
}

/**
 * `SET NX PX` semantics, renewed while the job runs, compare-and-delete on release.
 * https://redis.io/docs/latest/develop/use/patterns/distributed-locks/ (single-instance variant)
 */
export function redisLeaseStore(redis: RedisClient, prefix: string): LeaseStore {
  const r = redis as LeaseRedis;
  if (typeof r.mmLeaseAcquire !== 'function') {
    redis.defineCommand('mmLeaseAcquire', { numberOfKeys: 1, lua: ACQUIRE_SCRIPT });
    redis.defineCommand('mmLeaseRenew', { numberOfKeys: 1, lua: RENEW_SCRIPT });
    redis.defineCommand('mmLeaseRelease', { numberOfKeys: 1, lua: RELEASE_SCRIPT });
  }
  return {
    acquire: (serverId, holder, leaseMs) => r.mmLeaseAcquire(serverLeaseKey(prefix, serverId), holder, leaseMs),
    renew: async (serverId, holder, leaseMs) => (await r.mmLeaseRenew(serverLeaseKey(prefix, serverId), holder, leaseMs)) !== 0,
    async release(serverId, holder) {
      await r.mmLeaseRelease(serverLeaseKey(prefix, serverId), holder);
    },
  };
}

/**
 * A row per server with an expiry, each step one statement. Rows, not advisory locks: a session lock would tie the
 * lease to one pooled connection and could not expire when a worker hangs with its connection open, which the
 * Redis lease does (and the job runtime's takeover after SERVER_LEASE_MS relies on).
 */
export function postgresLeaseStore(pool: Pool): LeaseStore {
  return {
    async acquire(serverId, holder, leaseMs) {
      const result = await pool.query<{ holder: string }>(
        `WITH taken AS (
           INSERT INTO server_leases (server_id, holder, expires_at) VALUES ($1, $2, now() + $3 * interval '1 millisecond')
           ON CONFLICT (server_id) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
           WHERE server_leases.expires_at <= now() OR server_leases.holder = excluded.holder
           RETURNING holder
         )
         SELECT holder FROM taken
         UNION ALL
         SELECT holder FROM server_leases WHERE server_id = $1 AND NOT EXISTS (SELECT 1 FROM taken)`,
        [serverId, holder, leaseMs],
      );
      // No row: the holder released between the conflict and the read. Busy this once; the job tries again shortly.
      return result.rows[0]?.holder ?? 'released';
    },
    async renew(serverId, holder, leaseMs) {
      const result = await pool.query(
        `UPDATE server_leases SET expires_at = now() + $3 * interval '1 millisecond'
         WHERE server_id = $1 AND holder = $2 AND expires_at > now()`,
        [serverId, holder, leaseMs],
      );
      return (result.rowCount ?? 0) > 0;
    },
    async release(serverId, holder) {
      await pool.query('DELETE FROM server_leases WHERE server_id = $1 AND holder = $2', [serverId, holder]);
    },
  };
}
