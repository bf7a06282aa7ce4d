import { boolean, index, jsonb, pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core';
import { servers } from './servers.js';
import { users } from './users.js';

/** The options a scheduled backup runs with (the catalog's BackupOptions; @mm/db does not depend on @mm/jobs). */
export interface ScheduledBackupOptions {
  backup_type: 'full' | 'incremental';
  compression: boolean;
  encryption: boolean;
}

/**
 * A server's backup schedule: the source of truth. Each enabled row has one BullMQ job scheduler
 * (`backup-schedule:<id>`) that the API keeps in step with it (services/api/src/plugins/schedule-reconciler.ts).
 */
export const backupSchedules = pgTable(
  'backup_schedules',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    serverId: uuid('server_id')
      .notNull()
      .references(() => servers.id, { onDelete: 'cascade' }),
    cron: text('cron').notNull(),
    /** IANA time zone the cron is read in. */
    timezone: text('timezone').notNull().default('UTC'),
    options: jsonb('options').notNull().$type<ScheduledBackupOptions>(),
    enabled: boolean('enabled').notNull().default(true),
    createdBy: uuid('created_by').references(() => users.id, { onDelete: 'set null' }),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [index('backup_schedules_server_idx').on(t.serverId, t.createdAt)],
);

export type BackupSchedule = typeof backupSchedules.$inferSelect;
