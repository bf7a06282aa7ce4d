import { bigint, boolean, integer, pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core';
import { backupType } from './enums.js';
import { recordColumns } from './record-columns.js';
import { historyIndexes } from './history-indexes.js';

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
  },
  (t) => historyIndexes('backups', t),
);

export type Backup = typeof backups.$inferSelect;
