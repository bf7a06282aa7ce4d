import { and, desc, eq, gt, isNull, lt, or, sql } from 'drizzle-orm';
import { apiTokens, users, type ApiToken, type Db } from '@mm/db';
import type { Role } from '../../shared/roles.js';
import type { ActiveToken } from './token-verifier.js';

/** A token as the API shows it: never the secret, nor its hash. */
export interface TokenView {
  id: string;
  name: string;
  role: Role;
  userId: string;
  userEmail: string;
  createdAt: string;
  expiresAt: string | null;
  lastUsedAt: string | null;
  revokedAt: string | null;
}

const iso = (d: Date | null) => (d ? d.toISOString() : null);

const columns = {
  id: apiTokens.id,
  name: apiTokens.name,
  role: apiTokens.role,
  userId: apiTokens.userId,
  userEmail: users.email,
  createdAt: apiTokens.createdAt,
  expiresAt: apiTokens.expiresAt,
  lastUsedAt: apiTokens.lastUsedAt,
  revokedAt: apiTokens.revokedAt,
};

type Row = Pick<ApiToken, 'id' | 'name' | 'role' | 'userId' | 'createdAt' | 'expiresAt' | 'lastUsedAt' | 'revokedAt'> & { userEmail: string };

const view = (r: Row): TokenView => ({
  id: r.id,
  name: r.name,
  role: r.role,
  userId: r.userId,
  userEmail: r.userEmail,
  createdAt: r.createdAt.toISOString(),
  expiresAt: iso(r.expiresAt),
  lastUsedAt: iso(r.lastUsedAt),
  revokedAt: iso(r.revokedAt),
});

export interface NewToken {
  userId: string;
  name: string;
  role: Role;
  tokenHash: string;
  expiresAt: Date | null;
}

export async function insertToken(db: Db, token: NewToken): Promise<TokenView> {
  const [row] = await db.insert(apiTokens).values(token).returning();
  if (!row) throw new Error('insert into api_tokens returned no row');
  const [owner] = await db.select({ email: users.email }).from(users).where(eq(users.id, token.userId));
  return view({ ...row, userEmail: owner?.email ?? '' });
}

/** Newest first; one user's tokens, or everyone's when `userId` is null. */
export async function listTokens(db: Db, userId: string | null, page: { limit: number; offset: number }): Promise<{ rows: TokenView[]; total: number }> {
  const where = userId ? eq(apiTokens.userId, userId) : undefined;
  const [rows, [counted]] = await Promise.all([
    db
      .select(columns)
      .from(apiTokens)
      .innerJoin(users, eq(users.id, apiTokens.userId))
      .where(where)
      .orderBy(desc(apiTokens.createdAt), desc(apiTokens.id))
      .limit(page.limit)
      .offset(page.offset),
    db.select({ total: sql<number>`count(*)::int` }).from(apiTokens).where(where),
  ]);
  return { rows: rows.map(view), total: counted?.total ?? 0 };
}

export async function findToken(db: Db, id: string): Promise<TokenView | null> {
  const [row] = await db.select(columns).from(apiTokens).innerJoin(users, eq(users.id, apiTokens.userId)).where(eq(apiTokens.id, id));
  return row ? view(row) : null;
}

/** Sets revoked_at once; a token already revoked keeps its first time. */
export async function revokeToken(db: Db, id: string): Promise<void> {
  await db
    .update(apiTokens)
    .set({ revokedAt: new Date() })
    .where(and(eq(apiTokens.id, id), isNull(apiTokens.revokedAt)));
}

/** The unrevoked token with this hash (expiry is checked by the caller, per request). */
export async function findActiveTokenByHash(db: Db, tokenHash: string): Promise<ActiveToken | null> {
  const [row] = await db
    .select({ id: apiTokens.id, userId: apiTokens.userId, role: apiTokens.role, expiresAt: apiTokens.expiresAt })
    .from(apiTokens)
    .where(and(eq(apiTokens.tokenHash, tokenHash), isNull(apiTokens.revokedAt), or(isNull(apiTokens.expiresAt), gt(apiTokens.expiresAt, sql`now()`))));
  return row ?? null;
}

/** Marks a use; the condition keeps every API process together to one write a minute per token. */
export async function touchToken(db: Db, id: string): Promise<void> {
  await db
    .update(apiTokens)
    .set({ lastUsedAt: sql`now()` })
    .where(and(eq(apiTokens.id, id), or(isNull(apiTokens.lastUsedAt), lt(apiTokens.lastUsedAt, sql`now() - interval '1 minute'`))));
}
