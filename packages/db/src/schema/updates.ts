import { boolean, index, pgTable, text } from 'drizzle-orm/pg-core';
import { recordColumns } from './record-columns.js';

export const updates = pgTable(
  'updates',
  {
    ...recordColumns(),
    dryRun: boolean('dry_run').notNull().default(false),
    packages: text('packages').array(),
    rebootRequired: boolean('reboot_required'),
  },
  (t) => [index('updates_server_created_idx').on(t.serverId, t.createdAt.desc())],
);

export type Update = typeof updates.$inferSelect;
