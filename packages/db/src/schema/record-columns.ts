import { integer, jsonb, text, timestamp, uuid } from 'drizzle-orm/pg-core';
import { recordStatus } from './enums.js';
import { servers } from './servers.js';
import { users } from './users.js';

/**
 * Columns shared by backups, scans and updates. The id is the BullMQ job id; the worker is the only writer.
 * A function, because drizzle needs fresh column builders per table.
 */
export function recordColumns() {
  return {
    id: uuid('id').primaryKey(),
    serverId: uuid('server_id')
      .notNull()
      .references(() => servers.id, { onDelete: 'cascade' }),
    requestedBy: uuid('requested_by').references(() => users.id, { onDelete: 'set null' }),
    status: recordStatus('status').notNull().default('pending'),
    progress: integer('progress').notNull().default(0),
    attempts: integer('attempts').notNull().default(0),
    options: jsonb('options').notNull().default({}),
    result: jsonb('result'),
    error: text('error'),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    startedAt: timestamp('started_at', { withTimezone: true }),
    finishedAt: timestamp('finished_at', { withTimezone: true }),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  };
}
