import { rm } from 'node:fs/promises';
import { join, relative, resolve, sep } from 'node:path';
import { and, eq, inArray, sql } from 'drizzle-orm';
import { backups, deleteJobLogs, pruneJobLogs, restores, retentionPolicies, type Db } from '@mm/db';
import { UnrecoverableError, type Queue } from 'bullmq';
import { createQueue, createRedisConnection, defaultJobOptions, queueAliases, type CleanupPayload, type QueueAlias } from '@mm/jobs';
import type { JobContext } from '@mm/worker-runtime';
import { archiveFileName, serverBackupDir } from '../archive-store.js';
import { PARTIAL_SUFFIX } from '../archive-writer.js';
import { planRetention } from '../retention-plan.js';

export interface CleanupSettings {
  /** Absolute BACKUP_DIR: archive files outside it are never deleted. */
  backupDir: string;
  /** REDIS_URL and QUEUE_PREFIX of the three queues whose finished jobs it removes; required to run backup:cleanup. */
  queues?: { redisUrl: string; prefix: string };
}

export interface RemovedBackup {
  id: string;
  serverId: string;
  status: string;
  filePath: string | null;
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

/** Deletes a file; one that is already gone is fine. */
const removeFile = (path: string) => rm(path, { force: true });

function insideDir(dir: string, path: string): boolean {
  const rel = relative(resolve(dir), resolve(path));
  return rel !== '' && !rel.startsWith('..') && !rel.startsWith(sep) && !rel.includes(`..${sep}`);
}

/** Backups an active restore is reading: never pruned under it. */
async function inUseByRestores(db: Db): Promise<Set<string>> {
  const rows = await db.select({ backupId: restores.backupId, chain: restores.chain }).from(restores).where(inArray(restores.status, [...LIVE]));
  return new Set(rows.flatMap((r) => [...r.chain, ...(r.backupId ? [r.backupId] : [])]));
}

/** Applies every server's retention policy: the record first (re-checked in SQL), then its files and job log. */
async function applyRetention(settings: CleanupSettings, ctx: CleanupContext, result: CleanupResult): Promise<void> {
  const policies = await ctx.db.select().from(retentionPolicies);
  const protectedIds = policies.length ? await inUseByRestores(ctx.db) : new Set<string>();
  for (const policy of policies) {
    // Running rows too: planRetention never deletes them, and keeps the base a running incremental builds on.
    const rows = await ctx.db.select().from(backups).where(eq(backups.serverId, policy.serverId));
    const doomed = new Set(planRetention(rows, policy, protectedIds));
    for (const row of rows) {
      if (!doomed.has(row.id) || (LIVE as readonly string[]).includes(row.status)) continue;
      if (row.filePath && !insideDir(settings.backupDir, row.filePath)) {
        result.skipped.push({ id: row.id, reason: 'file is outside BACKUP_DIR' });
        ctx.log.warn({ backupId: row.id, filePath: row.filePath }, 'retention: archive outside BACKUP_DIR left alone');
        continue;
      }
      // The record goes first, in one statement that re-checks what the plan was made on: still the same status, no
      // restore started since that reads it, no incremental started since that builds on it. Only then the file, so
      // a backup something still needs never loses its archive (at worst a file outlives its record).
      const deleted = await ctx.db
        .delete(backups)
        .where(
          and(
            eq(backups.id, row.id),
            eq(backups.status, row.status),
            sql`not exists (select 1 from ${restores} r where r.status in ('pending', 'running') and (r.backup_id = ${backups.id} or ${backups.id} = any(r.chain)))`,
            sql`not exists (select 1 from ${backups} i where i.base_backup_id = ${backups.id} and i.status in ('pending', 'running'))`,
          ),
        )
        .returning({ id: backups.id });
      if (deleted.length === 0) {
        result.skipped.push({ id: row.id, reason: 'changed or came into use since the plan was made' });
        continue;
      }
      const partial = join(serverBackupDir(settings.backupDir, row.serverId), archiveFileName(row.id, row) + PARTIAL_SUFFIX);
      if (row.filePath) await removeFile(row.filePath);
      await removeFile(partial);
      result.backups.push({ id: row.id, serverId: row.serverId, status: row.status, filePath: row.filePath, sizeBytes: row.sizeBytes });
    }
  }
  if (result.backups.length) await deleteJobLogs(ctx.db, result.backups.map((b) => b.id));
}

async function cleanFinishedJobs(settings: CleanupSettings, result: CleanupResult): Promise<void> {
  if (!settings.queues) throw new UnrecoverableError('backup:cleanup needs the queue settings (CleanupSettings.queues) to reach the three queues');
  // One connection for the three queues, closed here: a Queue never closes a connection it was handed.
  const connection = createRedisConnection(settings.queues.redisUrl, 'worker');
  try {
    for (const alias of queueAliases) await cleanQueue(createQueue(alias, { connection, prefix: settings.queues.prefix }), alias, result);
  } finally {
    connection.disconnect();
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
