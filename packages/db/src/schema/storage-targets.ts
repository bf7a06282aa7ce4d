import { index, jsonb, pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core';
import { users } from './users.js';

/** Where a storage target keeps backups, without any secret (those live encrypted in `secrets`). */
export type StorageTargetLocation =
  | { type: 'local'; path: string }
  | { type: 's3'; endpoint: string; bucket: string; prefix?: string; region?: string; caCertPem?: string }
  | { type: 'rest'; url: string; username?: string; caCertPem?: string }
  | { type: 'sftp'; host: string; port: number; username: string; path: string; hostKeyFingerprint: string };

/** What `secrets` holds once decrypted (storage-target-secrets.ts): the repository password and the location's credentials. */
export interface StorageTargetSecrets {
  /** restic's repository password (absent for the archive engine, which uses the server-wide BACKUP_ENCRYPTION_KEY). */
  repositoryPassword?: string;
  accessKeyId?: string;
  secretAccessKey?: string;
  /** REST basic-auth password. */
  password?: string;
  /** SFTP private key (OpenSSH format). */
  privateKey?: string;
}

/**
 * A place backups are stored (issue #14), created through POST /api/storage-targets. The default target from the
 * environment (BACKUP_REPOSITORY) has no row: a null `storage_target_id` anywhere means it, and the API shows it as
 * `default` (a name no row may take).
 */
export const storageTargets = pgTable('storage_targets', {
  id: uuid('id').primaryKey().defaultRandom(),
  name: text('name').notNull().unique(),
  engine: text('engine', { enum: ['restic', 'archive'] }).notNull(),
  locationType: text('location_type', { enum: ['local', 's3', 'rest', 'sftp'] }).notNull(),
  location: jsonb('location').notNull().$type<StorageTargetLocation>(),
  /** AES-256-GCM ciphertext of StorageTargetSecrets, under its own derived key and bound to the row id. */
  secrets: text('secrets').notNull(),
  createdBy: uuid('created_by').references(() => users.id, { onDelete: 'set null' }),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
});

export type StorageTarget = typeof storageTargets.$inferSelect;

/**
 * One run of `backup:check-target` (`restic check --read-data-subset=n/t`): the API inserts it pending, the backup
 * worker moves it to running and then passed or failed. `storage_target_id` null is the default target. The latest
 * finished row is a target's "last check"; the count of earlier rows gives the rotation's n.
 */
export const storageTargetChecks = pgTable(
  'storage_target_checks',
  {
    /** The job id of the check. */
    id: uuid('id').primaryKey(),
    storageTargetId: uuid('storage_target_id').references(() => storageTargets.id, { onDelete: 'cascade' }),
    status: text('status', { enum: ['pending', 'running', 'passed', 'failed'] }).notNull().default('pending'),
    /** `n/t` as given to restic. */
    readDataSubset: text('read_data_subset'),
    /** restic's verdict or the failure, without secrets. */
    message: text('message'),
    /** A failed check: the backups whose snapshots use a damaged pack (0008); null when none could be named. */
    affectedBackupIds: uuid('affected_backup_ids').array(),
    requestedBy: uuid('requested_by').references(() => users.id, { onDelete: 'set null' }),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    startedAt: timestamp('started_at', { withTimezone: true }),
    finishedAt: timestamp('finished_at', { withTimezone: true }),
  },
  (t) => [index('storage_target_checks_target_created_idx').on(t.storageTargetId, t.createdAt.desc())],
);

export type StorageTargetCheck = typeof storageTargetChecks.$inferSelect;
