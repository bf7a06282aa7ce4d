import type { Backup, Db } from '@mm/db';

/** What an incremental backup builds on: the base record and the server-clock time it takes changes from. */
export interface IncrementalBase {
  baseBackupId: string;
  /** Epoch seconds on the server's clock. */
  sinceEpochSeconds: number;
  /** The base's stored GNU tar snapshot file (a storage key); undefined for backups made before them. */
  snapshotFile?: string;
}

/** What the handler keeps in a backup record's `result`, read back here when the record becomes a base. */
export interface BackupResultDetails {
  /** The server's clock (epoch seconds) just before tar started. */
  remoteStartedAt: number;
  tarExitCode: number | null;
  /** Storage key of the GNU tar snapshot file stored beside the archive (absent: a --newer fallback or an older backup). */
  snapshotFile?: string;
}

function remoteStartOf(record: Backup): number | undefined {
  const result = record.result as Partial<BackupResultDetails> | null;
  return typeof result?.remoteStartedAt === 'number' ? result.remoteStartedAt : undefined;
}

function snapshotFileOf(record: Backup): string | undefined {
  const result = record.result as Partial<BackupResultDetails> | null;
  return typeof result?.snapshotFile === 'string' ? result.snapshotFile : undefined;
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
 * The base's snapshot file (when it has one) is what the new level compares against; `since` is the --newer fallback.
 */
export async function findIncrementalBase(
  db: Db,
  want: { serverId: string; backupId: string; paths: readonly string[]; storageTargetId: string | null },
): Promise<IncrementalBase | undefined> {
  const { serverId, backupId, paths, storageTargetId } = want;
  // Only an archive on the same target: a chain is restored from one storage, and a snapshot is no tar level.
  const candidates = await db.query.backups.findMany({
    where: (b, { and, eq, ne, isNull }) =>
      and(
        eq(b.serverId, serverId),
        eq(b.status, 'completed'),
        ne(b.id, backupId),
        eq(b.engine, 'archive'),
        storageTargetId === null ? isNull(b.storageTargetId) : eq(b.storageTargetId, storageTargetId),
      ),
    orderBy: (b, { desc }) => [desc(b.startedAt)],
    limit: 20,
  });
  const base = candidates.find((b) => samePaths(b.paths, paths));
  if (!base) return undefined;
  const since = remoteStartOf(base) ?? (base.startedAt ? Math.floor(base.startedAt.getTime() / 1000) : undefined);
  return since === undefined ? undefined : { baseBackupId: base.id, sinceEpochSeconds: since, snapshotFile: snapshotFileOf(base) };
}
