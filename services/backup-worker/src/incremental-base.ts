import type { Backup, Db } from '@mm/db';

/** What an incremental backup builds on: the base record and the server-clock time it takes changes from. */
export interface IncrementalBase {
  baseBackupId: string;
  /** Epoch seconds on the server's clock. */
  sinceEpochSeconds: number;
}

/** What the handler keeps in a backup record's `result`, read back here when the record becomes a base. */
export interface BackupResultDetails {
  /** The server's clock (epoch seconds) just before tar started. */
  remoteStartedAt: number;
  tarExitCode: number | null;
}

function remoteStartOf(record: Backup): number | undefined {
  const result = record.result as Partial<BackupResultDetails> | null;
  return typeof result?.remoteStartedAt === 'number' ? result.remoteStartedAt : undefined;
}

function samePaths(a: readonly string[], b: readonly string[]): boolean {
  const sa = [...a].sort();
  const sb = [...b].sort();
  return sa.length === sb.length && sa.every((p, i) => p === sb[i]);
}

/**
 * The server's latest completed backup (full or incremental) of the same paths; undefined means "take a full".
 * Changes are taken from the base's start on the server's own clock, so clock skew between worker and
 * server cannot hide a change, and a file changed while the base ran is simply archived again.
 * Limitation of the mtime approach: deletions are not recorded, and a restored chain keeps deleted files.
 */
export async function findIncrementalBase(db: Db, serverId: string, backupId: string, paths: readonly string[]): Promise<IncrementalBase | undefined> {
  const candidates = await db.query.backups.findMany({
    where: (b, { and, eq, ne }) => and(eq(b.serverId, serverId), eq(b.status, 'completed'), ne(b.id, backupId)),
    orderBy: (b, { desc }) => [desc(b.startedAt)],
    limit: 20,
  });
  const base = candidates.find((b) => samePaths(b.paths, paths));
  if (!base) return undefined;
  const since = remoteStartOf(base) ?? (base.startedAt ? Math.floor(base.startedAt.getTime() / 1000) : undefined);
  return since === undefined ? undefined : { baseBackupId: base.id, sinceEpochSeconds: since };
}
