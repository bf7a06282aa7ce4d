import { integer, pgTable, timestamp, uuid } from 'drizzle-orm/pg-core';
import { servers } from './servers.js';
import { users } from './users.js';

/**
 * A server's backup retention policy (docs/API.md, "Retention and cleanup"). No row: the cleanup job prunes
 * nothing for that server. A null count means that rule keeps nothing on its own.
 */
export const retentionPolicies = pgTable('retention_policies', {
  serverId: uuid('server_id')
    .primaryKey()
    .references(() => servers.id, { onDelete: 'cascade' }),
  keepLast: integer('keep_last'),
  keepDaily: integer('keep_daily'),
  keepWeekly: integer('keep_weekly'),
  keepMonthly: integer('keep_monthly'),
  keepYearly: integer('keep_yearly'),
  updatedBy: uuid('updated_by').references(() => users.id, { onDelete: 'set null' }),
  updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
});

export type RetentionPolicy = typeof retentionPolicies.$inferSelect;
