import { bigint, index, pgTable, text, uuid } from 'drizzle-orm/pg-core';
import { backups } from './backups.js';
import { recordColumns } from './record-columns.js';

/** One restore job (backup:restore): which backup went where, and the chain of archives it extracted, in order. */
export const restores = pgTable(
  'restores',
  {
    ...recordColumns(),
    /** The backup asked for; null once that backup's record is pruned (the chain keeps the ids). */
    backupId: uuid('backup_id').references(() => backups.id, { onDelete: 'set null' }),
    targetPath: text('target_path').notNull(),
    /** The members restored (absolute paths inside the backup, 0008); null: the whole backup. */
    paths: text('paths').array(),
    /** The backups extracted, in order: the full base first, the requested backup last. */
    chain: uuid('chain').array().notNull().default([]),
    /** Archive bytes streamed to the server (after local decryption). */
    bytes: bigint('bytes', { mode: 'number' }),
  },
  (t) => [index('restores_server_created_idx').on(t.serverId, t.createdAt.desc(), t.id.desc()), index('restores_backup_idx').on(t.backupId)],
);

export type Restore = typeof restores.$inferSelect;
