import { UnrecoverableError } from 'bullmq';
import { eq } from 'drizzle-orm';
import { backups } from '@mm/db';
import type { VerifyPayload } from '@mm/jobs';
import type { JobContext } from '@mm/worker-runtime';
import { checkArchive } from '../archive-reader.js';
import { verifySnapshot } from '../restic/verify-snapshot.js';
import { createProgressMapper } from '../transfer-progress.js';
import { archiveStorageOfRecord } from '../restic/resolve-target.js';
import type { BackupSettings } from '../settings.js';

/** The job's result and what lands on the backup record (verified_at, verify_status, verify_error, verify_entries). */
export interface VerifyJobResult {
  backupId: string;
  status: 'passed' | 'failed';
  error: string | null;
  entries: number | null;
  sha256: string | null;
  sizeBytes: number;
  verifiedAt: string;
}

export const VerifyProgress = { STARTED: 10, READ_STARTED: 20, READ_DONE: 90, RECORD_UPDATED: 100 } as const;

/**
 * Re-reads a stored backup and records the outcome on it. A damaged archive is an outcome, not a job failure:
 * the job completes with status 'failed' in its result, and the backup's own status stays 'completed'.
 */
export async function runVerify(settings: BackupSettings, payload: VerifyPayload, ctx: JobContext<'backup'>): Promise<VerifyJobResult> {
  await ctx.progress(VerifyProgress.STARTED);
  const backup = await ctx.db.query.backups.findFirst({ where: (b, { eq: equals }) => equals(b.id, payload.backupId) });
  if (!backup) throw new UnrecoverableError(`backup ${payload.backupId} no longer exists`);
  if (backup.status !== 'completed') throw new UnrecoverableError(`backup ${payload.backupId} is ${backup.status}; only a completed backup can be verified`);
  if (backup.engine === 'archive' && backup.encryption && !settings.encryptionKey) throw new UnrecoverableError('BACKUP_ENCRYPTION_KEY is not set: an encrypted backup cannot be verified');

  await ctx.progress(VerifyProgress.READ_STARTED);
  const progress = createProgressMapper(ctx, backup.sizeBytes ?? 0, VerifyProgress.READ_STARTED, VerifyProgress.READ_DONE);
  const check =
    backup.engine === 'restic'
      ? await verifySnapshot(settings, ctx.db, backup, progress.report)
      : await checkArchive(await archiveStorageOfRecord(settings, ctx.db, backup.storageTargetId), backup, settings.encryptionKey, { signal: ctx.signal, onBytes: progress.report });
  await progress.settled();
  await ctx.progress(VerifyProgress.READ_DONE);

  const verifiedAt = new Date();
  await ctx.db
    .update(backups)
    .set({ verifiedAt, verifyStatus: check.status, verifyError: check.error, verifyEntries: check.entries })
    .where(eq(backups.id, backup.id));
  await ctx.progress(VerifyProgress.RECORD_UPDATED);
  if (check.status === 'failed') {
    await ctx.output(`verification failed: ${check.error ?? 'unknown reason'}`);
    ctx.log.warn({ backupId: backup.id, reason: check.error }, 'backup verification failed');
  } else {
    ctx.log.info({ backupId: backup.id, entries: check.entries, sizeBytes: check.sizeBytes }, 'backup verified');
  }
  return {
    backupId: backup.id,
    status: check.status,
    error: check.error,
    entries: check.entries,
    sha256: check.sha256,
    sizeBytes: check.sizeBytes,
    verifiedAt: verifiedAt.toISOString(),
  };
}
