import { and, count, desc, eq, isNull, sql } from 'drizzle-orm';
import { backups, backupSchedules, servers, storageTargetChecks, storageTargets, type Db, type StorageTarget, type StorageTargetCheck } from '@mm/db';

export type TargetRow = StorageTarget;
export type CheckRow = StorageTargetCheck;

export interface NewTarget {
  id: string;
  name: string;
  engine: 'restic' | 'archive';
  locationType: StorageTarget['locationType'];
  location: StorageTarget['location'];
  secrets: string;
  createdBy: string | null;
}

/** Inserts a target; undefined when the name is taken (a concurrent create of the same name). */
export async function insertTarget(db: Db, target: NewTarget): Promise<TargetRow | undefined> {
  const [row] = await db.insert(storageTargets).values(target).onConflictDoNothing({ target: storageTargets.name }).returning();
  return row;
}

export async function findTarget(db: Db, id: string): Promise<TargetRow | undefined> {
  const [row] = await db.select().from(storageTargets).where(eq(storageTargets.id, id));
  return row;
}

export async function findTargetByName(db: Db, name: string): Promise<TargetRow | undefined> {
  const [row] = await db.select().from(storageTargets).where(eq(storageTargets.name, name));
  return row;
}

export async function listTargets(db: Db): Promise<TargetRow[]> {
  return db.select().from(storageTargets).orderBy(storageTargets.name);
}

/** Backup records per target id (null: the default target), in one grouped read. */
export async function backupCounts(db: Db): Promise<Map<string | null, number>> {
  const rows = await db.select({ id: backups.storageTargetId, n: count() }).from(backups).groupBy(backups.storageTargetId);
  return new Map(rows.map((r) => [r.id, r.n]));
}

/** The latest check of every target (null key: the default target), one row each. */
export async function latestChecks(db: Db): Promise<Map<string | null, CheckRow>> {
  const rows = await db
    .selectDistinctOn([storageTargetChecks.storageTargetId])
    .from(storageTargetChecks)
    .orderBy(storageTargetChecks.storageTargetId, desc(storageTargetChecks.createdAt));
  return new Map(rows.map((r) => [r.storageTargetId, r]));
}

export async function latestCheck(db: Db, targetId: string | null): Promise<CheckRow | undefined> {
  const [row] = await db
    .select()
    .from(storageTargetChecks)
    .where(targetId === null ? isNull(storageTargetChecks.storageTargetId) : eq(storageTargetChecks.storageTargetId, targetId))
    .orderBy(desc(storageTargetChecks.createdAt))
    .limit(1);
  return row;
}

export async function countBackups(db: Db, targetId: string | null): Promise<number> {
  const [row] = await db
    .select({ n: count() })
    .from(backups)
    .where(targetId === null ? isNull(backups.storageTargetId) : eq(backups.storageTargetId, targetId));
  return row?.n ?? 0;
}

/** Stored archive backups on a target: how many, and their total size (the archive engine has no repository to ask). */
export async function archiveUsage(db: Db, targetId: string | null): Promise<{ files: number; bytes: number }> {
  const [row] = await db
    .select({ files: count(), bytes: sql<string | null>`sum(${backups.sizeBytes})` })
    .from(backups)
    .where(
      and(
        targetId === null ? isNull(backups.storageTargetId) : eq(backups.storageTargetId, targetId),
        eq(backups.status, 'completed'),
        sql`${backups.filePath} is not null`,
      ),
    );
  return { files: row?.files ?? 0, bytes: Number(row?.bytes ?? 0) };
}

/**
 * Deletes a target unless anything still names it: backups (their data is in it), servers and schedules (they
 * would silently fall back to the default). One statement, so nothing can start referencing it in between;
 * `blockers` says what is in the way.
 */
export async function deleteTargetIfUnused(
  db: Db,
  id: string,
): Promise<{ deleted: boolean; blockers: { backups: number; servers: number; schedules: number } }> {
  return db.transaction(async (tx) => {
    // Row lock first: a concurrent server PATCH naming this target waits for us (its FK check reads the row).
    const [locked] = await tx.select({ id: storageTargets.id }).from(storageTargets).where(eq(storageTargets.id, id)).for('update');
    if (!locked) return { deleted: false, blockers: { backups: 0, servers: 0, schedules: 0 } };
    const [b] = await tx.select({ n: count() }).from(backups).where(eq(backups.storageTargetId, id));
    const [s] = await tx.select({ n: count() }).from(servers).where(eq(servers.storageTargetId, id));
    const [c] = await tx.select({ n: count() }).from(backupSchedules).where(eq(backupSchedules.storageTargetId, id));
    const blockers = { backups: b?.n ?? 0, servers: s?.n ?? 0, schedules: c?.n ?? 0 };
    if (blockers.backups + blockers.servers + blockers.schedules > 0) return { deleted: false, blockers };
    await tx.delete(storageTargets).where(eq(storageTargets.id, id));
    return { deleted: true, blockers };
  });
}

export async function insertCheck(db: Db, check: { id: string; storageTargetId: string | null; requestedBy: string | null }): Promise<void> {
  await db.insert(storageTargetChecks).values({ ...check, status: 'pending' });
}

export async function deleteCheck(db: Db, id: string): Promise<void> {
  await db.delete(storageTargetChecks).where(eq(storageTargetChecks.id, id));
}

/** Whether a target id exists (for servers, schedules and triggers naming one). */
export async function targetExists(db: Db, id: string): Promise<boolean> {
  const [row] = await db.select({ id: storageTargets.id }).from(storageTargets).where(eq(storageTargets.id, id));
  return row !== undefined;
}
