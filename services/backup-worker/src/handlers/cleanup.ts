import { and, eq, inArray, isNull, sql } from 'drizzle-orm';
import type { ResticTarget } from '@mm/restic';
import { backups, deleteJobLogs, pruneJobLogs, restores, retentionPolicies, type Db, type RetentionPolicy } from '@mm/db';
import { UnrecoverableError, type Queue } from 'bullmq';
import { createQueue, openQueueBackend, defaultJobOptions, queueAliases, type CleanupPayload, type QueueAlias } from '@mm/jobs';
import type { JobContext } from '@mm/worker-runtime';
import { snapshotFileKey } from '../snapshot-file.js';
import { archiveKey } from '../archive-store.js';
import { PARTIAL_SUFFIX } from '../archive-writer.js';
import { planRetention } from '../retention-plan.js';
import { withServerBackupGuard } from '../server-backup-guard.js';
import { jobError, openRepository } from '../restic/open-repository.js';
import { archiveStorageOfRecord, repositoryOfRecord } from '../restic/resolve-target.js';
import { serverTag } from '@mm/restic';
import type { BackupSettings } from '../settings.js';

/** Cleanup reads BACKUP_DIR, the repositories and the queue settings. */
export type CleanupSettings = BackupSettings;

export interface RemovedBackup {
  id: string;
  serverId: string;
  status: string;
  filePath: string | null;
  /** Repository backups: the snapshot restic forgot. */
  snapshotId?: string | null;
  sizeBytes: number | null;
}

/** What backup:cleanup returns (kept with the finished job): everything it removed. */
export interface CleanupResult {
  backups: RemovedBackup[];
  /** Finished BullMQ jobs removed per queue and state. */
  bullmqJobs: Record<QueueAlias, { completed: number; failed: number }>;
  jobLogLines: number;
  /** Backups the policy would drop but that were left alone, with why. */
  skipped: { id: string; reason: string }[];
}

type CleanupContext = JobContext<'backup'>;

/** Finished jobs older than this go: the age BullMQ's own auto-removal uses (catalog defaultJobOptions). */
const FINISHED_JOB_AGE_MS = defaultJobOptions.removeOnComplete.age * 1_000;
const CLEAN_BATCH = 1_000;
const LIVE = ['pending', 'running'] as const;

/** Backups an active restore is reading: never pruned under it. */
async function inUseByRestores(db: Db): Promise<Set<string>> {
  const rows = await db.select({ backupId: restores.backupId, chain: restores.chain }).from(restores).where(inArray(restores.status, [...LIVE]));
  return new Set(rows.flatMap((r) => [...r.chain, ...(r.backupId ? [r.backupId] : [])]));
}

/** Applies every server's retention policy: the record first (re-checked in SQL), then its files and job log. */
async function applyRetention(settings: CleanupSettings, ctx: CleanupContext, result: CleanupResult): Promise<void> {
  const policies = await ctx.db.select().from(retentionPolicies);
  const protectedIds = policies.length ? await inUseByRestores(ctx.db) : new Set<string>();
  const pruneTargets = new Map<string, ResticTarget>();
  for (const policy of policies) {
    // Repository snapshots follow restic's own forget; the archive plan covers archive records only.
    await forgetSnapshots(settings, ctx, policy, protectedIds, result, pruneTargets);
    // Running rows too: planRetention never deletes them, and keeps the base a running incremental builds on.
    const rows = await ctx.db.select().from(backups).where(and(eq(backups.serverId, policy.serverId), eq(backups.engine, 'archive')));
    const doomed = new Set(planRetention(rows, policy, protectedIds));
    for (const row of rows) {
      if (!doomed.has(row.id) || (LIVE as readonly string[]).includes(row.status)) continue;
      const storage = await archiveStorageOfRecord(settings, ctx.db, row.storageTargetId);
      const key = row.filePath ? storage.keyOf(row.filePath) : undefined;
      if (row.filePath && !key) {
        result.skipped.push({ id: row.id, reason: 'file is outside BACKUP_DIR' });
        ctx.log.warn({ backupId: row.id, filePath: row.filePath }, 'retention: archive outside BACKUP_DIR left alone');
        continue;
      }
      // The record goes first, in one statement that re-checks what the plan was made on: still the same status, no
      // restore started since that reads it, no incremental started since that builds on it. Only then the file, so
      // a backup something still needs never loses its archive (at worst a file outlives its record).
      const deleted = await withServerBackupGuard(ctx.db, row.serverId, () => ctx.db
        .delete(backups)
        .where(
          and(
            eq(backups.id, row.id),
            eq(backups.status, row.status),
            sql`not exists (select 1 from ${restores} r where r.status in ('pending', 'running') and (r.backup_id = ${backups.id} or ${backups.id} = any(r.chain)))`,
            sql`not exists (select 1 from ${backups} i where i.base_backup_id = ${backups.id} and i.status in ('pending', 'running'))`,
          ),
        )
        .returning({ id: backups.id }));
      if (deleted.length === 0) {
        result.skipped.push({ id: row.id, reason: 'changed or came into use since the plan was made' });
        continue;
      }
      if (key) await storage.delete(key);
      await storage.delete(archiveKey(row.serverId, row.id, row) + PARTIAL_SUFFIX);
      // Its GNU tar snapshot file goes with it (an incremental on it is a newer record that retention keeps it for).
      const snapshotKey = snapshotFileKey(row.serverId, row.id, row.encryption);
      await storage.delete(snapshotKey);
      await storage.delete(snapshotKey + PARTIAL_SUFFIX);
      result.backups.push({ id: row.id, serverId: row.serverId, status: row.status, filePath: row.filePath, sizeBytes: row.sizeBytes });
    }
  }
  if (result.backups.length) await deleteJobLogs(ctx.db, result.backups.map((b) => b.id));
  // Only prune frees space; it takes restic's exclusive lock (bounded wait, then a retryable failure).
  for (const target of pruneTargets.values()) {
    const repo = await openRepository(settings, target);
    try {
      await repo.prune();
    } catch (err) {
      throw jobError(err);
    } finally {
      await repo.close();
    }
  }
}

/**
 * `restic forget --tag server:<id>` with the server's policy in each repository holding its snapshots, then the
 * records of exactly the snapshots restic removed. Skipped while a restore reads one of them (restic would not know
 * to keep it); the repositories that lost snapshots are pruned once at the end.
 */
async function forgetSnapshots(
  settings: CleanupSettings,
  ctx: CleanupContext,
  policy: RetentionPolicy,
  protectedIds: Set<string>,
  result: CleanupResult,
  pruneTargets: Map<string, ResticTarget>,
): Promise<void> {
  const rows = await ctx.db
    .select({ id: backups.id, snapshotId: backups.snapshotId, storageTargetId: backups.storageTargetId })
    .from(backups)
    .where(and(eq(backups.serverId, policy.serverId), eq(backups.engine, 'restic')));
  const inUse = rows.filter((r) => protectedIds.has(r.id));
  if (inUse.length) {
    for (const r of inUse) result.skipped.push({ id: r.id, reason: "a restore is reading it: the server's snapshots are forgotten on the next cleanup" });
    return;
  }
  const rules = { keepLast: policy.keepLast, keepDaily: policy.keepDaily, keepWeekly: policy.keepWeekly, keepMonthly: policy.keepMonthly, keepYearly: policy.keepYearly };
  const keep = Object.fromEntries(Object.entries(rules).filter(([, v]) => typeof v === 'number' && v > 0)) as Record<string, number>;
  if (Object.keys(keep).length === 0) return;
  for (const targetId of new Set(rows.filter((r) => r.snapshotId).map((r) => r.storageTargetId))) {
    const target = await repositoryOfRecord(settings, ctx.db, targetId);
    const repo = await openRepository(settings, target);
    let removed: string[];
    try {
      ({ removed } = await repo.forget([serverTag(policy.serverId)], keep));
    } catch (err) {
      throw jobError(err);
    } finally {
      await repo.close();
    }
    if (removed.length === 0) continue;
    pruneTargets.set(targetId ?? 'default', target);
    const sameTarget = targetId === null ? isNull(backups.storageTargetId) : eq(backups.storageTargetId, targetId);
    const deleted = await ctx.db
      .delete(backups)
      .where(and(eq(backups.serverId, policy.serverId), eq(backups.engine, 'restic'), sameTarget, inArray(backups.snapshotId, removed)))
      .returning({ id: backups.id, status: backups.status, snapshotId: backups.snapshotId, sizeBytes: backups.sizeBytes });
    for (const row of deleted) result.backups.push({ id: row.id, serverId: policy.serverId, status: row.status, filePath: null, snapshotId: row.snapshotId, sizeBytes: row.sizeBytes });
  }
}

async function cleanFinishedJobs(settings: CleanupSettings, result: CleanupResult): Promise<void> {
  if (!settings.queues) throw new UnrecoverableError('backup:cleanup needs the queue settings (CleanupSettings.queues) to reach the three queues');
  // One connection for the three queues, closed here: a Queue never closes a connection it was handed.
  const backend = openQueueBackend(settings.queues, 'worker');
  try {
    for (const alias of queueAliases) await cleanQueue(createQueue(alias, backend.queueConfig), alias, result);
  } finally {
    await backend.close();
  }
}

async function cleanQueue(queue: Queue, alias: QueueAlias, result: CleanupResult): Promise<void> {
  try {
    for (const state of ['completed', 'failed'] as const) {
      let removed = 0;
      // In batches, so one Lua call never blocks Redis for long.
      for (;;) {
        const ids = await queue.clean(FINISHED_JOB_AGE_MS, CLEAN_BATCH, state);
        removed += ids.length;
        if (ids.length < CLEAN_BATCH) break;
      }
      result.bullmqJobs[alias][state] = removed;
    }
  } finally {
    await queue.close();
  }
}

/**
 * backup:cleanup (daily from the `maintenance:cleanup` scheduler, or POST /api/maintenance/cleanup): retention
 * policies, finished BullMQ jobs past their age on all three queues, and job log lines of the same age.
 */
export async function runCleanup(settings: CleanupSettings, _payload: CleanupPayload, ctx: CleanupContext): Promise<CleanupResult> {
  const result: CleanupResult = {
    backups: [],
    bullmqJobs: { backup: { completed: 0, failed: 0 }, scan: { completed: 0, failed: 0 }, update: { completed: 0, failed: 0 } },
    jobLogLines: 0,
    skipped: [],
  };
  await applyRetention(settings, ctx, result);
  await ctx.progress(50);
  await cleanFinishedJobs(settings, result);
  result.jobLogLines = await pruneJobLogs(ctx.db, new Date(Date.now() - FINISHED_JOB_AGE_MS));
  await ctx.progress(100);
  ctx.log.info(
    { backups: result.backups.length, bytes: result.backups.reduce((n, b) => n + (b.sizeBytes ?? 0), 0), bullmqJobs: result.bullmqJobs, jobLogLines: result.jobLogLines },
    'cleanup done',
  );
  return result;
}
