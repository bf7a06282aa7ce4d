import { sql } from 'drizzle-orm';
import { check, integer, jsonb, pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core';
import type { ServerSelector } from '../server-selector.js';
import { users } from './users.js';

/**
 * A maintenance window (issue #15): from each time `cron` fires (read in `timezone`) for `durationMin` minutes, the
 * servers `selector` matches may be updated. A server that some window selects is updated only inside one of its
 * windows (maintenance-windows.ts); a server no window selects, at any time.
 */
export const maintenanceWindows = pgTable(
  'maintenance_windows',
  {
    name: text('name').primaryKey(),
    cron: text('cron').notNull(),
    timezone: text('timezone').notNull().default('UTC'),
    durationMin: integer('duration_min').notNull(),
    selector: jsonb('selector').notNull().$type<ServerSelector>(),
    createdBy: uuid('created_by').references(() => users.id, { onDelete: 'set null' }),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [check('maintenance_windows_duration_check', sql`${t.durationMin} between 1 and 10080`)],
);

export type MaintenanceWindow = typeof maintenanceWindows.$inferSelect;
