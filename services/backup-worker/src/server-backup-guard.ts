import { sql } from 'drizzle-orm';
import type { Db } from '@mm/db';

/**
 * The per-server guard that choosing an incremental's base and inserting its record share with cleanup's delete of a
 * backup record (issue #12): a PostgreSQL transaction-level advisory lock keyed on the server id. While `fn` runs the
 * lock is held (its transaction stays open); `fn` may write through other connections, which commit on their own.
 */
export async function withServerBackupGuard<T>(db: Db, serverId: string, fn: () => Promise<T>): Promise<T> {
  return db.transaction(async (tx) => {
    await tx.execute(sql`select pg_advisory_xact_lock(hashtext(${`mm:backup-base:${serverId}`}))`);
    return fn();
  });
}
