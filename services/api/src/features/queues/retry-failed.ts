import type { Queue } from 'bullmq';
import type { Db } from '@mm/db';
import { reopenFailedRecord } from '@mm/records';

const PAGE = 100;

export interface RetryFailedResult {
  /** Jobs moved back to waiting (their failed record, if any, reopened with them). */
  retried: number;
  /** Failed jobs left failed: their record was cancelled (a cancelled operation is not re-run) or is no longer failed. */
  skipped: number;
}

/**
 * The bulk form of `POST /api/jobs/:id/retry`: every job failed by `until`, oldest first, each through
 * `reopenFailedRecord`, so a retried job's failed record reopens with it (without that the worker would refuse the
 * re-run: records only move forward) and a cancelled one stays cancelled. A job that fails while this runs has a
 * later time and is left for the next call; one removed or retried elsewhere meanwhile is counted in neither.
 */
export async function retryFailedJobs(db: Db, queue: Queue, until: number): Promise<RetryFailedResult> {
  let retried = 0;
  let skipped = 0;
  for (;;) {
    // Skipped jobs stay in the failed set ahead of the rest; retried ones leave it.
    const page = await queue.getJobs(['failed'], skipped, skipped + PAGE - 1, true);
    if (page.length === 0) return { retried, skipped };
    for (const job of page) {
      if ((job.finishedOn ?? 0) > until) return { retried, skipped };
      const moved = await reopenFailedRecord(db, job, () => job.retry('failed')).catch(() => null);
      if (moved === null) continue;
      if (moved.outcome === 'refused') skipped += 1;
      else retried += 1;
    }
  }
}
