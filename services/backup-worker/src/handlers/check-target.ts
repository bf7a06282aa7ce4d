import { and, count, eq, inArray, isNull, sql } from 'drizzle-orm';
import { backups, storageTargetChecks } from '@mm/db';
import type { ResticRepository } from '@mm/restic';
import type { CheckTargetPayload } from '@mm/jobs';
import type { JobContext } from '@mm/worker-runtime';
import { jobError, openRepository } from '../restic/open-repository.js';
import { repositoryOfRecord } from '../restic/resolve-target.js';
import type { BackupSettings } from '../settings.js';

/** Packs are read in this many slices: every pack is read once every CHECK_ROTATION scheduled checks. */
export const CHECK_ROTATION = 12;

export interface CheckTargetResult {
  checkId: string;
  status: 'passed' | 'failed';
  readDataSubset: string;
  message: string;
  /** A failed check: the backups using a damaged pack (null when they could not be traced). */
  affectedBackupIds: string[] | null;
}

/**
 * backup:check-target: `restic check --read-data-subset=n/t` on one target, n rotating with the number of earlier
 * finished checks of that target. Damage is an outcome (status 'failed' with restic's words), not a job failure;
 * an unreachable or locked repository fails the job (retried).
 */
export async function runCheckTarget(settings: BackupSettings, payload: CheckTargetPayload, ctx: JobContext<'backup'>): Promise<CheckTargetResult> {
  const targetId = payload.storageTargetId === 'default' ? null : payload.storageTargetId;
  const sameTarget = targetId === null ? isNull(storageTargetChecks.storageTargetId) : eq(storageTargetChecks.storageTargetId, targetId);
  const [done] = await ctx.db
    .select({ n: count() })
    .from(storageTargetChecks)
    .where(and(sameTarget, inArray(storageTargetChecks.status, ['passed', 'failed'])));
  const subset = { n: ((done?.n ?? 0) % CHECK_ROTATION) + 1, t: CHECK_ROTATION };
  const readDataSubset = `${subset.n}/${subset.t}`;
  const open = and(eq(storageTargetChecks.id, payload.checkId), inArray(storageTargetChecks.status, ['pending', 'running']));
  await ctx.db.update(storageTargetChecks).set({ status: 'running', readDataSubset, startedAt: sql`coalesce(${storageTargetChecks.startedAt}, now())` }).where(open);
  await ctx.progress(20);

  const repo = await openRepository(settings, await repositoryOfRecord(settings, ctx.db, targetId));
  let outcome;
  let affected: AffectedBackups | undefined;
  try {
    outcome = await repo.check(subset);
    if (!outcome.ok) affected = await affectedBackups(ctx, repo, targetId, outcome.damagedPacks);
  } catch (err) {
    throw jobError(err);
  } finally {
    await repo.close();
  }
  const status = outcome.ok ? 'passed' : 'failed';
  const message = outcome.ok ? `no errors in packs ${readDataSubset}` : `${affected?.summary ?? ''}\n${outcome.output}`.trim().slice(-4_000);
  const affectedBackupIds = affected?.ids ?? null;
  await ctx.db.update(storageTargetChecks).set({ status, message, affectedBackupIds, finishedAt: new Date() }).where(open);
  await ctx.progress(100);
  if (!outcome.ok) await ctx.output(`check failed: ${affected?.summary ?? message.split('\n').slice(-3).join(' / ')}`);
  ctx.log.info({ checkId: payload.checkId, status, readDataSubset, affectedBackups: affectedBackupIds?.length }, 'storage target checked');
  return { checkId: payload.checkId, status, readDataSubset, message, affectedBackupIds };
}

interface AffectedBackups {
  /** null: the damaged packs could not be traced to snapshots (restic could not read the trees). */
  ids: string[] | null;
  summary: string;
}

/**
 * The backups whose snapshots use a damaged pack: restic finds the snapshots (`find --pack`), the records of this
 * target map them to backups. Snapshots without a record (a plain-restic user's own) are counted, not named.
 */
async function affectedBackups(ctx: JobContext<'backup'>, repo: ResticRepository, targetId: string | null, packs: string[]): Promise<AffectedBackups> {
  if (packs.length === 0) return { ids: null, summary: 'restic named no damaged pack; verify the backups of this target one by one' };
  let snapshots: string[];
  try {
    snapshots = await repo.snapshotsUsingPacks(packs);
  } catch (err) {
    ctx.log.warn({ err, packs: packs.length }, 'could not trace damaged packs to snapshots');
    return { ids: null, summary: `${packs.length} damaged pack(s); the snapshots using them could not be found (${(err as Error).message}); verify the backups of this target` };
  }
  const sameTarget = targetId === null ? isNull(backups.storageTargetId) : eq(backups.storageTargetId, targetId);
  const rows = snapshots.length
    ? await ctx.db.select({ id: backups.id }).from(backups).where(and(sameTarget, inArray(backups.snapshotId, snapshots))).orderBy(backups.createdAt)
    : [];
  const ids = rows.map((r) => r.id);
  const others = snapshots.length - ids.length;
  const named = ids.length ? `damaged data affects backup(s) ${ids.join(', ')}` : 'damaged data affects no backup of this service';
  return { ids, summary: `${named}${others > 0 ? ` and ${others} snapshot(s) without a backup record` : ''} (${packs.length} damaged pack(s))` };
}
