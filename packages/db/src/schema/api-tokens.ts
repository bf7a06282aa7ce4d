import { index, pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core';
import { userRole } from './enums.js';
import { users } from './users.js';

/**
 * Personal API tokens (`mm_pat_…`) for scripts and CI. Only the SHA-256 of the secret is kept: the secret is 32
 * random bytes, so a fast hash is enough (a slow password hash buys nothing against 256 bits of entropy).
 * A revoked token keeps its row (revoked_at set), so the audit trail's token ids still resolve to a name.
 */
export const apiTokens = pgTable(
  'api_tokens',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    /** The most the token may do; at use it is further capped by the owner's current role. */
    role: userRole('role').notNull(),
    /** Hex SHA-256 of the whole secret, `mm_pat_` included. */
    tokenHash: text('token_hash').notNull().unique(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    expiresAt: timestamp('expires_at', { withTimezone: true }),
    /** Written at most once a minute per token. */
    lastUsedAt: timestamp('last_used_at', { withTimezone: true }),
    revokedAt: timestamp('revoked_at', { withTimezone: true }),
  },
  (t) => [index('api_tokens_user_created_idx').on(t.userId, t.createdAt.desc())],
);

export type ApiToken = typeof apiTokens.$inferSelect;
