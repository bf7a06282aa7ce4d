import { desc, eq, sql } from 'drizzle-orm';
import { servers, type Db } from '@mm/db';
import type { RecordKind } from '@mm/records';

/** One record of a kind by id, or null. */
export async function findRecord(db: Db, kind: RecordKind, id: string): Promise<Record<string, unknown> | null> {
  const [row] = await db.select().from(kind.table).where(eq(kind.table.id, id));
  return row ?? null;
}

/** A server's records of a kind, newest first, with their count; null when the server does not exist. */
export async function listServerRecords(
  db: Db,
  kind: RecordKind,
  serverId: string,
  page: { limit: number; offset: number },
): Promise<{ rows: Record<string, unknown>[]; total: number } | null> {
  const t = kind.table;
  const [[server], rows, [{ total } = { total: 0 }]] = await Promise.all([
    db.select({ id: servers.id }).from(servers).where(eq(servers.id, serverId)),
    db.select().from(t).where(eq(t.serverId, serverId)).orderBy(desc(t.createdAt), desc(t.id)).limit(page.limit).offset(page.offset),
    db.select({ total: sql<number>`count(*)::int` }).from(t).where(eq(t.serverId, serverId)),
  ]);
  return server ? { rows, total } : null;
}
