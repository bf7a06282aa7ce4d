import { sql } from 'drizzle-orm';
import { boolean, index, pgTable, text } from 'drizzle-orm/pg-core';
import { recordColumns } from './record-columns.js';
import { historyIndexes, newestFirst } from './history-indexes.js';

export const updates = pgTable(
  'updates',
  {
    ...recordColumns(),
    dryRun: boolean('dry_run').notNull().default(false),
    packages: text('packages').array(),
    rebootRequired: boolean('reboot_required'),
  },
  (t) => [
    ...historyIndexes('updates', t),
    // The server summary's upgradable count: the newest completed dry run, without walking the real updates.
    index('updates_server_dry_done_idx')
      .on(t.serverId, newestFirst(t.createdAt), newestFirst(t.id))
      .where(sql`${t.dryRun} and ${t.status} = 'completed'`),
  ],
);

export type Update = typeof updates.$inferSelect;
