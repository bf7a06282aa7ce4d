import { index, integer, pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core';
import { authType } from './enums.js';
import { users } from './users.js';

export const servers = pgTable(
  'servers',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    name: text('name').notNull(),
    host: text('host').notNull(),
    port: integer('port').notNull().default(22),
    username: text('username').notNull(),
    authType: authType('auth_type').notNull(),
    /** AES-256-GCM ciphertext of the private key and passphrase or the password (see credentials.ts). */
    credentials: text('credentials').notNull(),
    /** `SHA256:<base64>` as ssh-keygen prints it; null until trust on first use pins it. */
    hostKeyFingerprint: text('host_key_fingerprint'),
    backupPaths: text('backup_paths').array().notNull().default([]),
    tags: text('tags').array().notNull().default([]),
    lastSeenStatus: text('last_seen_status', { enum: ['online', 'offline'] }),
    lastSeenAt: timestamp('last_seen_at', { withTimezone: true }),
    lastLatencyMs: integer('last_latency_ms'),
    createdBy: uuid('created_by').references(() => users.id, { onDelete: 'set null' }),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  // The trigram index lets GET /api/history match `q` inside server names (extension: 0001_history_search.sql).
  (t) => [index('servers_tags_idx').using('gin', t.tags), index('servers_name_trgm_idx').using('gin', t.name.op('gin_trgm_ops'))],
);

export type Server = typeof servers.$inferSelect;
