import { UnrecoverableError } from 'bullmq';

// No space, quota exhausted, file-size limit: the local disk refuses the archive, whoever reported it.
const DISK_FULL_CODES = new Set(['ENOSPC', 'EDQUOT', 'EFBIG']);

function diskFullCode(err: unknown): string | undefined {
  for (let e = err as { code?: unknown; cause?: unknown } | undefined, depth = 0; e && depth < 5; e = e.cause as typeof e, depth++) {
    if (typeof e.code === 'string' && DISK_FULL_CODES.has(e.code)) return e.code;
  }
  return undefined;
}

/**
 * A write to BACKUP_DIR that failed because the disk is full, as a failure naming the disk instead of the SSH
 * stream it surfaced through. Not retried: the next attempt would re-read the whole archive over the network
 * only to fail at the same byte; once space is freed, the job is retried by hand (POST /api/jobs/:id/retry).
 */
export function diskFullError(err: unknown, backupDir: string): UnrecoverableError | undefined {
  const code = diskFullCode(err);
  if (!code) return undefined;
  return new UnrecoverableError(`backup storage is full: no space left in ${backupDir} (${code}); free space there or point BACKUP_DIR at a larger disk, then retry the job`);
}
