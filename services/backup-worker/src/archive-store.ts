import { archiveFileName, type ArchiveFormat } from '@mm/restic';
import { PARTIAL_SUFFIX } from './archive-writer.js';
import type { BackupStorage } from './storage/backup-storage.js';

/*
 * Layout (keys of the BackupStorage): <serverId>/<backupId>.tar[.gz][.enc], and beside it the GNU tar snapshot file
 * <serverId>/<backupId>.snar[.enc] (see snapshot-file.ts). Bytes are written to `<name>.partial` in the
 * same folder and renamed on success, so a file without the suffix is always complete.
 * A failed attempt deletes its partial itself; a crashed worker (kill -9, power loss) cannot, so every
 * attempt first removes the partials of its own backup and of backups whose record is already final.
 */

/** The storage key of a backup's archive: `<server id>/<backup id>.tar[.gz][.enc]`. */
export function archiveKey(serverId: string, backupId: string, format: ArchiveFormat): string {
  return `${serverId}/${archiveFileName(backupId, format)}`;
}

/** The backup id a partial file belongs to, or undefined for any other file. */
export function backupIdOfPartial(fileName: string): string | undefined {
  if (!fileName.endsWith(PARTIAL_SUFFIX)) return undefined;
  return /^([0-9a-fA-F-]{36})\.(?:tar|snar)/.exec(fileName)?.[1];
}

/**
 * Deletes the server's partial objects whose backup `isAbandoned` (the current job's own leftovers, or those of
 * finished records). Returns the names it removed. A partial another worker is still writing is never abandoned.
 */
export async function removeAbandonedPartials(
  storage: BackupStorage,
  serverId: string,
  isAbandoned: (backupIds: string[]) => Promise<Set<string>>,
): Promise<string[]> {
  const keys = await storage.list(`${serverId}/`);
  const partials = keys.flatMap((key) => {
    const name = key.slice(key.lastIndexOf('/') + 1);
    const id = backupIdOfPartial(name);
    return id ? [{ key, name, id }] : [];
  });
  if (partials.length === 0) return [];
  const abandoned = await isAbandoned([...new Set(partials.map((p) => p.id))]);
  const removed = partials.filter((p) => abandoned.has(p.id));
  await Promise.all(removed.map((p) => storage.delete(p.key)));
  return removed.map((p) => p.name);
}
