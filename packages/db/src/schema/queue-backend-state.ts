import { bigint, index, pgTable, primaryKey, text, timestamp } from 'drizzle-orm/pg-core';

/**
 * What the product keeps beside its queues when they run on PostgreSQL (QUEUE_BACKEND=postgres); on Redis the same
 * lives in Redis keys. Written by @mm/jobs' PostgreSQL stores (plain SQL over `pg`), declared here so the schema is
 * one place. Unlogged tables (migration 0010): short-lived coordination state, like Redis keys with a TTL.
 */
export const queueKv = pgTable(
  'queue_kv',
  {
    key: text('key').primaryKey(),
    value: text('value').notNull(),
    /** Rows past this are treated as absent and deleted when met. */
    expiresAt: timestamp('expires_at', { withTimezone: true }).notNull(),
  },
  (t) => [index('queue_kv_expires_idx').on(t.expiresAt)],
);

/** One exclusive job per server: the holder (`jobId|lockToken`) until `expires_at` unless renewed. */
export const serverLeases = pgTable('server_leases', {
  serverId: text('server_id').primaryKey(),
  holder: text('holder').notNull(),
  expiresAt: timestamp('expires_at', { withTimezone: true }).notNull(),
});

/** Per server, `alias:jobId` of its jobs by enqueue time (ms): the Redis sorted set's counterpart. */
export const serverJobIndex = pgTable(
  'server_job_index',
  {
    serverId: text('server_id').notNull(),
    member: text('member').notNull(),
    at: bigint('at', { mode: 'number' }).notNull(),
  },
  (t) => [primaryKey({ name: 'server_job_index_pk', columns: [t.serverId, t.member] }), index('server_job_index_at_idx').on(t.serverId, t.at)],
);
