import { mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { PARTIAL_SUFFIX } from './archive-writer.js';

/*
 * Layout: BACKUP_DIR/<serverId>/<backupId>.tar[.gz][.enc]. Bytes are written to `<name>.partial` in the
 * same folder and renamed on success, so a file without the suffix is always complete.
 * A failed attempt deletes its partial itself; a crashed worker (kill -9, power loss) cannot, so every
 * attempt first removes the partials of its own backup and of backups whose record is already final.
 */

export interface ArchiveFormat {
  compression: boolean;
  encryption: boolean;
}

export function archiveFileName(backupId: string, format: ArchiveFormat): string {
  return `${backupId}.tar${format.compression ? '.gz' : ''}${format.encryption ? '.enc' : ''}`;
}

export function serverBackupDir(backupDir: string, serverId: string): string {
  return join(backupDir, serverId);
}

/** Creates the server's folder (owner-only) and returns the archive's final path. */
export async function prepareArchivePath(backupDir: string, serverId: string, backupId: string, format: ArchiveFormat): Promise<string> {
  const dir = serverBackupDir(backupDir, serverId);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  return join(dir, archiveFileName(backupId, format));
}

/** The backup id a partial file belongs to, or undefined for any other file. */
export function backupIdOfPartial(fileName: string): string | undefined {
  if (!fileName.endsWith(PARTIAL_SUFFIX)) return undefined;
  return /^([0-9a-fA-F-]{36})\.tar/.exec(fileName)?.[1];
}

/**
 * Deletes the server's partial files whose backup `isAbandoned` (the current job's own leftovers, or those of
 * finished records). Returns the names it removed. A partial another worker is still writing is never abandoned.
 */
export async function removeAbandonedPartials(
  backupDir: string,
  serverId: string,
  isAbandoned: (backupIds: string[]) => Promise<Set<string>>,
): Promise<string[]> {
  const dir = serverBackupDir(backupDir, serverId);
  const names = await readdir(dir).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return [];
    throw err;
  });
  const partials = names.flatMap((name) => {
    const id = backupIdOfPartial(name);
    return id ? [{ name, id }] : [];
  });
  if (partials.length === 0) return [];
  const abandoned = await isAbandoned([...new Set(partials.map((p) => p.id))]);
  const removed = partials.filter((p) => abandoned.has(p.id));
  await Promise.all(removed.map((p) => rm(join(dir, p.name), { force: true })));
  return removed.map((p) => p.name);
}
