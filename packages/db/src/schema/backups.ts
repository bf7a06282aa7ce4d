import { sql } from 'drizzle-orm';
import { bigint, boolean, index, integer, pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core';
import { backupType } from './enums.js';
import { recordColumns } from './record-columns.js';
import { historyIndexes } from './history-indexes.js';
import { storageTargets } from './storage-targets.js';

export const backups = pgTable(
  'backups',
  {
    ...recordColumns(),
    backupType: backupType('backup_type').notNull().default('full'),
    compression: boolean('compression').notNull().default(true),
    encryption: boolean('encryption').notNull().default(false),
    isScheduled: boolean('is_scheduled').notNull().default(false),
    paths: text('paths').array().notNull().default([]),
    /** For an incremental backup: the backup it builds on, and the time it takes changes from. */
    baseBackupId: uuid('base_backup_id'),
    since: timestamp('since', { withTimezone: true }),
    filePath: text('file_path'),
    sizeBytes: bigint('size_bytes', { mode: 'number' }),
    sha256: text('sha256'),
    durationMs: integer('duration_ms'),
    warnings: text('warnings').array().notNull().default([]),
    /** Last backup:verify outcome; separate from `status`, which stays 'completed' whatever verification found. */
    verifiedAt: timestamp('verified_at', { withTimezone: true }),
    verifyStatus: text('verify_status', { enum: ['passed', 'failed'] }),
    verifyError: text('verify_error'),
    verifyEntries: integer('verify_entries'),
    /** 'archive': one tar file per backup under BACKUP_DIR (file_path); 'restic': a snapshot in a restic repository. */
    engine: text('engine', { enum: ['archive', 'restic'] }).notNull().default('archive'),
    /**
     * The storage target holding it; null is the default target from the environment. RESTRICT (0008): a target whose
     * repository holds backups cannot be deleted (the API answers 409 first).
     */
    storageTargetId: uuid('storage_target_id').references(() => storageTargets.id, { onDelete: 'restrict' }),
    /** Restic only: the snapshot (full id), bytes read from the tar stream, bytes the repository grew by, files in the listing. */
    snapshotId: text('snapshot_id'),
    bytesRead: bigint('bytes_read', { mode: 'number' }),
    bytesAdded: bigint('bytes_added', { mode: 'number' }),
    filesCount: integer('files_count'),
  },
  (t) => [
    ...historyIndexes('backups', t),
    index('backups_storage_target_idx').on(t.storageTargetId),
    // The fleet summary's and the dead-man check's newest successful backup per server.
    index('backups_server_done_idx').on(t.serverId, t.finishedAt.desc()).where(sql`${t.status} = 'completed'`),
  ],
);

export type Backup = typeof backups.$inferSelect;
