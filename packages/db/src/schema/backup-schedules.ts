import { boolean, index, integer, jsonb, pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core';
import { servers } from './servers.js';
import { storageTargets } from './storage-targets.js';
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
    /** The target its runs store to; null = the server's target, then the default. */
    storageTargetId: uuid('storage_target_id').references(() => storageTargets.id, { onDelete: 'restrict' }),
    enabled: boolean('enabled').notNull().default(true),
    /** Recovery point objective: a server whose last successful backup is older is overdue. Null: twice intervalSeconds. */
    rpoSeconds: integer('rpo_seconds'),
    /** The gap between two runs of `cron` (the fleet worker's sweep computes it, for the cron in intervalCron). */
    intervalSeconds: integer('interval_seconds'),
    intervalCron: text('interval_cron'),
    createdBy: uuid('created_by').references(() => users.id, { onDelete: 'set null' }),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [index('backup_schedules_server_idx').on(t.serverId, t.createdAt)],
);

export type BackupSchedule = typeof backupSchedules.$inferSelect;
