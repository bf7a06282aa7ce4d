import { and, desc, eq, gte, like, lt, sql, type SQL } from 'drizzle-orm';
import { auditLog, type AuditLogEntry, type Db } from '@mm/db';

export interface AuditFilter {
  userId?: string | undefined;
  /** The API token the calls were made with. */
  tokenId?: string | undefined;
  /** An exact action, or a prefix ending in `.*` (`servers.*`). */
  action?: string | undefined;
  targetId?: string | undefined;
  outcome?: AuditLogEntry['outcome'] | undefined;
  from?: string | undefined;
  to?: string | undefined;
  /** Entries strictly before this position (the previous page's last entry). */
  after?: { at: Date; id: string } | undefined;
}

const escapeLike = (s: string) => s.replace(/[\\%_]/g, (c) => `\\${c}`);

/** Up to `take` entries, newest first. */
export async function listAuditEntries(db: Db, filter: AuditFilter, take: number): Promise<AuditLogEntry[]> {
  const { userId, tokenId, action, targetId, outcome, from, to, after } = filter;
  const where: SQL[] = [];
  if (userId) where.push(eq(auditLog.actorId, userId));
  if (tokenId) where.push(eq(auditLog.tokenId, tokenId));
  if (action) where.push(action.endsWith('.*') ? like(auditLog.action, `${escapeLike(action.slice(0, -1))}%`) : eq(auditLog.action, action));
  if (targetId) where.push(eq(auditLog.targetId, targetId));
  if (outcome) where.push(eq(auditLog.outcome, outcome));
  // No entry predates the epoch, and PostgreSQL has no year 0: bounds before it are clamped, never sent.
  if (from && Date.parse(from) > 0) where.push(gte(auditLog.at, new Date(from)));
  if (to) where.push(Date.parse(to) > 0 ? lt(auditLog.at, new Date(to)) : sql`false`);
  if (after) where.push(sql`(${auditLog.at}, ${auditLog.id}) < (${after.at.toISOString()}::timestamptz, ${after.id}::uuid)`);
  return db
    .select()
    .from(auditLog)
    .where(and(...where))
    .orderBy(desc(auditLog.at), desc(auditLog.id))
    .limit(take);
}
