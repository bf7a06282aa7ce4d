import { and, eq, inArray, isNull, sql } from 'drizzle-orm';
import { UnrecoverableError } from 'bullmq';
import { backupSchedules, backups, deleteJobLogs, restores, servers } from '@mm/db';
import { createQueue, openQueueBackend, removeBackupScheduler, type PurgeServerPayload } from '@mm/jobs';
import type { JobContext } from '@mm/worker-runtime';
import { archiveKey } from '../archive-store.js';
import { PARTIAL_SUFFIX } from '../archive-writer.js';
import { withServerBackupGuard } from '../server-backup-guard.js';
import { jobError, openRepository } from '../restic/open-repository.js';
import { archiveStorageOfRecord, repositoryOfRecord } from '../restic/resolve-target.js';
import { serverTag } from '@mm/restic';
import { storageOf, type BackupSettings } from '../settings.js';
import type { BackupStorage } from '../storage/backup-storage.js';

/** What backup:purge-server returns (kept with the finished job). */
export interface PurgeServerResult {
  serverId: string;
  /** Backup records deleted (both engines). */
  backups: number;
  /** Archive objects deleted from backup storage (including partial ones and leftovers under the server's prefix). */
  archiveFiles: number;
  /** Snapshots restic forgot (by the `server:<id>` tag), per storage target ('default' for the environment's one). */
  snapshots: Record<string, number>;
  /** Archives recorded outside BACKUP_DIR: this worker cannot reach them, their records went, the files stay. */
  leftAlone: { id: string; filePath: string }[];
  serverDeleted: boolean;
}

type PurgeContext = JobContext<'backup'>;

/**
 * backup:purge-server (`DELETE /api/servers/:id?deleteBackups=true`): every backup of one server, through the same
 * storage code retention uses, then the server row (schedules and other records cascade) and its job schedulers.
 * The job is exclusive per server, so no backup of this server runs meanwhile; a restore still reading one of its
 * backups (onto another server) makes it fail and retry later. A retry after a partial run finds less and goes on.
 */
export async function runPurgeServer(settings: BackupSettings, payload: PurgeServerPayload, ctx: PurgeContext): Promise<PurgeServerResult> {
  const { serverId } = payload;
  const result: PurgeServerResult = { serverId, backups: 0, archiveFiles: 0, snapshots: {}, leftAlone: [], serverDeleted: false };
  const [server] = await ctx.db.select({ id: servers.id }).from(servers).where(eq(servers.id, serverId));
  if (!server) throw new UnrecoverableError(`server ${serverId} no longer exists`);
  await refuseWhileRestoring(ctx, serverId);
  await ctx.progress(10);

  await forgetSnapshots(settings, ctx, serverId, result);
  await ctx.progress(40);
  await deleteArchives(settings, ctx, serverId, result);
  await ctx.progress(80);

  // The cascade takes the schedules; their job schedulers go here, as the API's plain delete does.
  const scheduleIds = (await ctx.db.select({ id: backupSchedules.id }).from(backupSchedules).where(eq(backupSchedules.serverId, serverId))).map((r) => r.id);
  const deleted = await ctx.db.delete(servers).where(eq(servers.id, serverId)).returning({ id: servers.id });
  result.serverDeleted = deleted.length > 0;
  await dropQueueState(settings, ctx, serverId, scheduleIds);
  await ctx.progress(100);
  ctx.log.info({ serverId, backups: result.backups, archiveFiles: result.archiveFiles, snapshots: result.snapshots }, 'server and its backups deleted');
  return result;
}

async function refuseWhileRestoring(ctx: PurgeContext, serverId: string): Promise<void> {
  const [busy] = await ctx.db
    .select({ id: restores.id })
    .from(restores)
    .where(
      and(
        inArray(restores.status, ['pending', 'running']),
        sql`exists (select 1 from ${backups} b where b.server_id = ${serverId} and (b.id = ${restores.backupId} or b.id = any(${restores.chain})))`,
      ),
    )
    .limit(1);
  // Retryable: the restore ends on its own, and then the purge can go on.
  if (busy) throw new Error(`restore ${busy.id} is reading a backup of server ${serverId}; the purge waits for it (retried)`);
}

/**
 * In each repository the server's restic backups used: every snapshot tagged `server:<id>` (recorded or left over by
 * a killed run) is forgotten and the repository pruned, so the data goes, not only the index; then those records.
 */
async function forgetSnapshots(settings: BackupSettings, ctx: PurgeContext, serverId: string, result: PurgeServerResult): Promise<void> {
  const rows = await ctx.db
    .select({ storageTargetId: backups.storageTargetId })
    .from(backups)
    .where(and(eq(backups.serverId, serverId), eq(backups.engine, 'restic')));
  for (const targetId of new Set(rows.map((r) => r.storageTargetId))) {
    const target = await repositoryOfRecord(settings, ctx.db, targetId);
    const repo = await openRepository(settings, target);
    try {
      const ids = (await repo.snapshots({ tags: [serverTag(serverId)] })).map((s) => s.id);
      await repo.forgetIds(ids);
      if (ids.length) await repo.prune();
      result.snapshots[targetId ?? 'default'] = ids.length;
    } catch (err) {
      throw jobError(err);
    } finally {
      await repo.close();
    }
    const sameTarget = targetId === null ? isNull(backups.storageTargetId) : eq(backups.storageTargetId, targetId);
    const gone = await ctx.db
      .delete(backups)
      .where(and(eq(backups.serverId, serverId), eq(backups.engine, 'restic'), sameTarget))
      .returning({ id: backups.id });
    result.backups += gone.length;
    await deleteJobLogs(ctx.db, gone.map((r) => r.id));
  }
}

/**
 * Archive records first (under the per-server guard cleanup takes), then their files and partial files, then
 * whatever is still stored under `<server id>/`: a file whose record went in an earlier, interrupted attempt too.
 */
async function deleteArchives(settings: BackupSettings, ctx: PurgeContext, serverId: string, result: PurgeServerResult): Promise<void> {
  const gone = await withServerBackupGuard(ctx.db, serverId, () =>
    ctx.db.delete(backups).where(and(eq(backups.serverId, serverId), eq(backups.engine, 'archive'))).returning(),
  );
  result.backups += gone.length;
  // BACKUP_DIR, and the folder of every named archive target these records were stored on.
  const storages = new Map<string | null, BackupStorage>([[null, storageOf(settings)]]);
  for (const id of new Set(gone.map((r) => r.storageTargetId))) {
    if (id !== null) storages.set(id, await archiveStorageOfRecord(settings, ctx.db, id));
  }
  for (const row of gone) {
    const storage = storages.get(row.storageTargetId) ?? storageOf(settings);
    const key = row.filePath ? storage.keyOf(row.filePath) : undefined;
    if (row.filePath && !key) {
      result.leftAlone.push({ id: row.id, filePath: row.filePath });
      ctx.warning(`backup ${row.id}: its archive ${row.filePath} is outside BACKUP_DIR and was left in place`);
      continue;
    }
    if (key) {
      await storage.delete(key);
      result.archiveFiles += 1;
    }
    await storage.delete(archiveKey(serverId, row.id, row) + PARTIAL_SUFFIX);
  }
  for (const storage of storages.values()) {
    for (const key of await storage.list(`${serverId}/`)) {
      await storage.delete(key);
      result.archiveFiles += 1;
    }
  }
  await deleteJobLogs(ctx.db, gone.map((r) => r.id));
}

/** The deleted schedules' job schedulers and the server's job index; without queue settings the reconciler removes them. */
async function dropQueueState(settings: BackupSettings, ctx: PurgeContext, serverId: string, scheduleIds: string[]): Promise<void> {
  if (!settings.queues) {
    if (scheduleIds.length) ctx.warning('no queue settings: the deleted schedules\' job schedulers are removed by the next reconcile');
    return;
  }
  const backend = openQueueBackend(settings.queues, 'worker');
  const queue = createQueue('backup', backend.queueConfig);
  try {
    for (const scheduleId of scheduleIds) await removeBackupScheduler(queue, scheduleId);
    await backend.serverJobs.drop(serverId);
  } catch (err) {
    // The server is gone already: a scheduler left behind fails its runs ("no longer exists") until the reconcile.
    ctx.log.warn({ err, serverId }, 'could not remove the deleted server\'s job schedulers or job index');
  } finally {
    await queue.close();
    await backend.close();
  }
}
