import { and, inArray, lt, sql } from 'drizzle-orm';
import type { Db } from './client.js';
import { jobLogs } from './schema/job-logs.js';

/**
 * Deletes the log lines of every job whose newest line is older than `olderThan`, so a job's log goes as a whole,
 * never its first half only. job_logs has no foreign key to the three record tables: the cleanup that deletes old
 * records calls this with the same cutoff. Returns the number of lines deleted.
 */
export async function pruneJobLogs(db: Db, olderThan: Date): Promise<number> {
  const deleted = await db
    .delete(jobLogs)
    .where(
      and(
        lt(jobLogs.createdAt, olderThan),
        sql`not exists (select 1 from ${jobLogs} as newer where newer.job_id = ${jobLogs.jobId} and newer.created_at >= ${olderThan.toISOString()}::timestamptz)`,
      ),
    );
  return deleted.count;
}

/** Deletes the log lines of these jobs (with their records, when a record is deleted on purpose). Returns the count. */
export async function deleteJobLogs(db: Db, jobIds: readonly string[]): Promise<number> {
  if (jobIds.length === 0) return 0;
  const deleted = await db.delete(jobLogs).where(inArray(jobLogs.jobId, [...jobIds]));
  return deleted.count;
}
