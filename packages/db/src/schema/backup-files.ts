import { bigint, index, pgTable, primaryKey, text, timestamp, uuid } from 'drizzle-orm/pg-core';
import { backups } from './backups.js';

/**
 * The file listing of a repository backup, parsed from the tar stream as it passed (restic sees one file per --stdin
 * snapshot). Browsing a backup reads this table, never the repository. `parent` is the directory the entry is in
 * ('' for top-level entries), paths are relative to `/` as in the tar.
 */
export const backupFiles = pgTable(
  'backup_files',
  {
    backupId: uuid('backup_id')
      .notNull()
      .references(() => backups.id, { onDelete: 'cascade' }),
    path: text('path').notNull(),
    parent: text('parent').notNull(),
    name: text('name').notNull(),
    type: text('type', { enum: ['file', 'dir', 'symlink', 'hardlink', 'other'] }).notNull(),
    size: bigint('size', { mode: 'number' }).notNull(),
    mtime: timestamp('mtime', { withTimezone: true }),
  },
  (t) => [primaryKey({ columns: [t.backupId, t.path] }), index('backup_files_parent_idx').on(t.backupId, t.parent, t.name)],
);

export type BackupFile = typeof backupFiles.$inferSelect;
