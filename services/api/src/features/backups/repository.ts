import { and, asc, eq, gt } from 'drizzle-orm';
import { backupFiles, backups, servers, type Backup, type BackupFile, type Db } from '@mm/db';

export async function findBackup(db: Db, id: string): Promise<Backup | null> {
  const [backup] = await db.select().from(backups).where(eq(backups.id, id));
  return backup ?? null;
}

/** The server's name, for a download's file name; null when the server is gone. */
export async function serverName(db: Db, serverId: string): Promise<string | null> {
  const [server] = await db.select({ name: servers.name }).from(servers).where(eq(servers.id, serverId));
  return server?.name ?? null;
}

export type ListingEntry = Pick<BackupFile, 'path' | 'name' | 'type' | 'size' | 'mtime'>;

/** One page of a directory of a backup's file listing (backup_files), by name, after `afterName` (keyset). */
export async function listDirectory(db: Db, backupId: string, parent: string, afterName: string | null, limit: number): Promise<ListingEntry[]> {
  return db
    .select({ path: backupFiles.path, name: backupFiles.name, type: backupFiles.type, size: backupFiles.size, mtime: backupFiles.mtime })
    .from(backupFiles)
    .where(and(eq(backupFiles.backupId, backupId), eq(backupFiles.parent, parent), afterName === null ? undefined : gt(backupFiles.name, afterName)))
    .orderBy(asc(backupFiles.name))
    .limit(limit);
}

export async function findListingEntry(db: Db, backupId: string, path: string): Promise<ListingEntry | null> {
  const [row] = await db
    .select({ path: backupFiles.path, name: backupFiles.name, type: backupFiles.type, size: backupFiles.size, mtime: backupFiles.mtime })
    .from(backupFiles)
    .where(and(eq(backupFiles.backupId, backupId), eq(backupFiles.path, path)));
  return row ?? null;
}

/** Whether anything of the listing lies under `path` (a folder tar may not list on its own). */
export async function hasEntriesUnder(db: Db, backupId: string, path: string): Promise<boolean> {
  const [row] = await db
    .select({ path: backupFiles.path })
    .from(backupFiles)
    .where(and(eq(backupFiles.backupId, backupId), eq(backupFiles.parent, path)))
    .limit(1);
  return row !== undefined;
}
