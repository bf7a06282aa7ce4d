import { and, arrayContains, desc, eq, sql, type SQL } from 'drizzle-orm';
import { backups, backupSchedules, servers, type Db, type Server } from '@mm/db';
import { selectorWhere, type Selector } from '../../shared/server-selector.js';

export type NewServerRow = typeof servers.$inferInsert;
export type ServerChanges = Partial<Omit<NewServerRow, 'id' | 'createdAt' | 'createdBy'>>;

export async function insertServer(db: Db, values: NewServerRow): Promise<Server> {
  const [row] = await db.insert(servers).values(values).returning();
  if (!row) throw new Error('insert returned no row');
  return row;
}

/** A page of servers, newest first, optionally those carrying `tag`, with the count of all that match. */
export async function listServers(
  db: Db,
  query: { tag?: string | undefined; selector?: Selector | undefined; limit: number; offset: number },
): Promise<{ rows: Server[]; total: number }> {
  const where: SQL | undefined = and(query.tag ? arrayContains(servers.tags, [query.tag]) : undefined, query.selector ? selectorWhere(query.selector) : undefined);
  const [rows, [{ total } = { total: 0 }]] = await Promise.all([
    db.select().from(servers).where(where).orderBy(desc(servers.createdAt), desc(servers.id)).limit(query.limit).offset(query.offset),
    db.select({ total: sql<number>`count(*)::int` }).from(servers).where(where),
  ]);
  return { rows, total };
}

export async function findServer(db: Db, id: string): Promise<Server | null> {
  const [row] = await db.select().from(servers).where(eq(servers.id, id));
  return row ?? null;
}

export async function updateServer(db: Pick<Db, 'update'>, id: string, changes: ServerChanges): Promise<Server | null> {
  const [row] = await db.update(servers).set(changes).where(eq(servers.id, id)).returning();
  return row ?? null;
}

export async function scheduleIdsOfServer(db: Db, serverId: string): Promise<string[]> {
  const rows = await db.select({ id: backupSchedules.id }).from(backupSchedules).where(eq(backupSchedules.serverId, serverId));
  return rows.map((r) => r.id);
}

/** Deletes the server; the foreign keys cascade to its records and schedules. */
export async function deleteServer(db: Db, id: string): Promise<void> {
  await db.delete(servers).where(eq(servers.id, id));
}

/** How many backup records (any status, either engine) the server has: their files must not be orphaned by a delete. */
export async function countBackupsOfServer(db: Db, serverId: string): Promise<number> {
  const [row] = await db.select({ n: sql<number>`count(*)::int` }).from(backups).where(eq(backups.serverId, serverId));
  return row?.n ?? 0;
}
