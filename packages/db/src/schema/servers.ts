import { boolean, index, integer, jsonb, pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core';
import { authType } from './enums.js';
import { storageTargets } from './storage-targets.js';
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
    /** Free-form `key: value` pairs for selecting servers (`{"env":"prod"}`); bounded by the API's schema. */
    labels: jsonb('labels').$type<Record<string, string>>().notNull().default({}),
    /** Packages the update worker never upgrades on this server (PUT /api/servers/:id/package-holds). */
    packageHolds: text('package_holds').array().notNull().default([]),
    /** What the last full scan found in /etc/os-release (`ID`, `VERSION_ID`); null until one ran. */
    os: text('os'),
    osVersion: text('os_version'),
    /** The last full scan's headline facts, kept here so the fleet summary reads one row per server (null until one ran). */
    upgradablePackages: integer('upgradable_packages'),
    /** Of those, how many come from a security suite or advisory (null: the package manager could not tell). */
    securityUpdates: integer('security_updates'),
    rebootRequired: boolean('reboot_required'),
    criticalFindings: integer('critical_findings'),
    /** Set when the server passed its backup RPO (backup.overdue raised), cleared when a backup lands (backup.recovered). */
    backupOverdueSince: timestamp('backup_overdue_since', { withTimezone: true }),
    /** Where this server's backups go unless a trigger or schedule names another target; null = the default target. */
    storageTargetId: uuid('storage_target_id').references(() => storageTargets.id, { onDelete: 'restrict' }),
    lastSeenStatus: text('last_seen_status', { enum: ['online', 'offline'] }),
    lastSeenAt: timestamp('last_seen_at', { withTimezone: true }),
    lastLatencyMs: integer('last_latency_ms'),
    createdBy: uuid('created_by').references(() => users.id, { onDelete: 'set null' }),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  // The trigram index lets GET /api/history match `q` inside server names (extension: 0001_history_search.sql).
  (t) => [
    index('servers_tags_idx').using('gin', t.tags),
    index('servers_name_trgm_idx').using('gin', t.name.op('gin_trgm_ops')),
    index('servers_labels_idx').using('gin', t.labels.op('jsonb_path_ops')),
  ],
);

export type Server = typeof servers.$inferSelect;
