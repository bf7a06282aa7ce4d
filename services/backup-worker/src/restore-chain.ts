import { UnrecoverableError } from 'bullmq';
import type { Backup, Db } from '@mm/db';

// Far beyond any real chain; stops a corrupted base_backup_id loop.
const MAX_CHAIN_LENGTH = 10_000;

/**
 * The archives that restore `backupId`, in extraction order: for a full backup itself; for an incremental its full
 * base, then every incremental after it, up to and including the one asked for (following base_backup_id).
 * Every link must be a completed backup of the same server with a stored file and digest.
 */
export async function resolveRestoreChain(db: Db, backupId: string): Promise<Backup[]> {
  const chain: Backup[] = [];
  const seen = new Set<string>();
  let nextId: string | null = backupId;
  while (nextId !== null) {
    const id: string = nextId;
    if (seen.has(id) || chain.length >= MAX_CHAIN_LENGTH) throw new UnrecoverableError(`backup chain of ${backupId} loops or is too long (at ${id})`);
    seen.add(id);
    const row: Backup | undefined = await db.query.backups.findFirst({ where: (b, { eq }) => eq(b.id, id) });
    const what = id === backupId ? `backup ${id}` : `backup ${id} (a base of ${backupId})`;
    if (!row) throw new UnrecoverableError(`${what} no longer exists: the chain cannot be restored`);
    if (row.status !== 'completed') throw new UnrecoverableError(`${what} is ${row.status}, not completed`);
    if (!row.filePath || !row.sha256 || row.sizeBytes === null) throw new UnrecoverableError(`${what} has no stored file`);
    const first = chain[0];
    if (first && row.serverId !== first.serverId) throw new UnrecoverableError(`${what} belongs to another server`);
    chain.push(row);
    if (row.backupType === 'full') nextId = null;
    else if (row.baseBackupId) nextId = row.baseBackupId;
    else throw new UnrecoverableError(`${what} is incremental but names no base backup`);
  }
  return chain.reverse();
}
