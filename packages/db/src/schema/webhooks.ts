import { sql } from 'drizzle-orm';
import { index, integer, jsonb, pgTable, text, timestamp, uniqueIndex, uuid } from 'drizzle-orm/pg-core';
import { users } from './users.js';

/** The events a webhook can subscribe to; backup.overdue and backup.recovered come from the fleet worker's dead-man check. */
export const webhookEvents = ['job.failed', 'backup.completed', 'scan.critical_finding', 'backup.overdue', 'backup.recovered'] as const;
export type WebhookEvent = (typeof webhookEvents)[number];

export const webhooks = pgTable('webhooks', {
  id: uuid('id').primaryKey().defaultRandom(),
  url: text('url').notNull(),
  events: text('events').array().notNull().$type<WebhookEvent[]>(),
  /** The HMAC secret, AES-256-GCM under a key derived from CREDENTIALS_KEY for webhooks (encryptWebhookSecret); never returned. */
  secretEncrypted: text('secret_encrypted').notNull(),
  createdBy: uuid('created_by').references(() => users.id, { onDelete: 'set null' }),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
});

export type Webhook = typeof webhooks.$inferSelect;

export const webhookDeliveryStatuses = ['pending', 'delivered', 'failed'] as const;
export type WebhookDeliveryStatus = (typeof webhookDeliveryStatuses)[number];

/** One attempt's outcome, appended to `attempt_log`. */
export interface WebhookAttempt {
  at: string;
  statusCode: number | null;
  error: string | null;
}

/**
 * The outbox: a row per (webhook, event occurrence), written where the event happens (the worker runtime) and
 * sent by the API's dispatcher, which claims due rows with FOR UPDATE SKIP LOCKED.
 */
export const webhookDeliveries = pgTable(
  'webhook_deliveries',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    webhookId: uuid('webhook_id')
      .notNull()
      .references(() => webhooks.id, { onDelete: 'cascade' }),
    event: text('event').notNull().$type<WebhookEvent>(),
    /** Makes the outbox write idempotent: a re-run job does not announce the same occurrence twice. */
    dedupKey: text('dedup_key').notNull(),
    payload: jsonb('payload').notNull(),
    status: text('status', { enum: webhookDeliveryStatuses }).notNull().default('pending'),
    attempts: integer('attempts').notNull().default(0),
    nextAttemptAt: timestamp('next_attempt_at', { withTimezone: true }).notNull().defaultNow(),
    lastStatusCode: integer('last_status_code'),
    lastError: text('last_error'),
    attemptLog: jsonb('attempt_log').notNull().$type<WebhookAttempt[]>().default([]),
    deliveredAt: timestamp('delivered_at', { withTimezone: true }),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex('webhook_deliveries_dedup_idx').on(t.webhookId, t.event, t.dedupKey),
    index('webhook_deliveries_due_idx').on(t.nextAttemptAt).where(sql`${t.status} = 'pending'`),
    index('webhook_deliveries_webhook_created_idx').on(t.webhookId, t.createdAt.desc()),
  ],
);

export type WebhookDelivery = typeof webhookDeliveries.$inferSelect;
