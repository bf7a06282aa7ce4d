import { index, integer, jsonb, pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core';

/**
 * One row per mutating API call (and every login attempt). Written in batches by the API's audit buffer, never on
 * the request path. No foreign key to users: the trail outlives the account. No request bodies: they may hold secrets.
 */
export const auditLog = pgTable(
  'audit_log',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    /** When the API answered (millisecond precision, so the (at, id) keyset cursor round-trips through JS). */
    at: timestamp('at', { withTimezone: true, precision: 3 }).notNull(),
    actorId: uuid('actor_id'),
    /** The account's email, or for a login attempt the email tried. */
    actorEmail: text('actor_email'),
    actorRole: text('actor_role'),
    /** `<resource>.<verb>`, e.g. `server.create`, `backup.trigger`, `auth.login`. */
    action: text('action').notNull(),
    method: text('method').notNull(),
    /** The route pattern, e.g. `/api/servers/:id`. */
    route: text('route').notNull(),
    targetId: text('target_id'),
    statusCode: integer('status_code').notNull(),
    outcome: text('outcome', { enum: ['success', 'failure'] }).notNull(),
    requestId: text('request_id').notNull(),
    ip: text('ip'),
    /** The API token (api_tokens.id) the call was made with; null for a JWT or a login. */
    tokenId: uuid('token_id'),
    /** What the route does not say, for the calls that need it: a restore's destination `serverId`, `targetPath` and `backupServerId`. */
    details: jsonb('details').$type<Record<string, unknown>>(),
  },
  (t) => [
    index('audit_log_at_idx').on(t.at.desc(), t.id.desc()),
    index('audit_log_actor_at_idx').on(t.actorId, t.at.desc()),
    index('audit_log_action_at_idx').on(t.action, t.at.desc()),
    index('audit_log_target_at_idx').on(t.targetId, t.at.desc()),
    index('audit_log_outcome_at_idx').on(t.outcome, t.at.desc()),
  ],
);

export type AuditLogEntry = typeof auditLog.$inferSelect;
export type NewAuditLogEntry = typeof auditLog.$inferInsert;
