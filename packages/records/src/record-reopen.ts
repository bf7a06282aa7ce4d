import { and, eq } from 'drizzle-orm';
import type { Db } from '@mm/db';
import { catalog, isJobName, recordIdOf, validatePayload, InvalidPayloadError, type JobName, type PayloadOf } from '@mm/jobs';
import { recordKindOf } from './record-kinds.js';
import type { RecordStatusValue } from './record-lookups.js';

/**
 * What a retry found on the job's record: `reopened` (it was failed, it is pending again, the job was retried),
 * `no-record` (the job writes none, or failed before making it: the job was retried), or `refused` with the record's
 * status when it is not failed (nothing changed, the job was not retried). A payload the worker would refuse counts as `no-record`.
 */
export type ReopenOutcome = { outcome: 'reopened' } | { outcome: 'no-record' } | { outcome: 'refused'; status: RecordStatusValue };

/**
 * The one exception to "records only move forward": a failed job retried by hand is a new attempt of the same
 * operation, so its failed record goes back to pending (error and attempts kept; the next attempt's start moves it
 * to running, then completed or failed as usual). Only a failed record reopens: a cancelled one stays cancelled (the
 * operator stopped it on purpose), and a stale re-run of a job nobody retried never reopens anything (the workers'
 * writes stay forward-only). `retry` re-queues the job (BullMQ `job.retry('failed')`); it runs after the record is
 * reopened, so the worker that takes the job finds it open, and if it throws the record is put back to failed.
 * `job` is the BullMQ job as found in Redis.
 */
export async function reopenFailedRecord(
  db: Db,
  job: { name: string; data: unknown; id?: string | undefined },
  retry: () => Promise<void>,
): Promise<ReopenOutcome> {
  const name = isJobName(job.name) && catalog[job.name].record !== null ? job.name : null;
  const kind = name === null ? null : recordKindOf(name);
  const id = name === null || job.id === undefined ? null : recordIdOfValid(name, job.data, job.id);
  if (kind === null || id === null) {
    await retry();
    return { outcome: 'no-record' };
  }
  const table = kind.table;
  const [prior] = await db.select({ status: table.status, progress: table.progress, finishedAt: table.finishedAt }).from(table).where(eq(table.id, id));
  if (!prior) {
    // The job failed before it could create its record (or the server is gone): the retry creates it as usual.
    await retry();
    return { outcome: 'no-record' };
  }
  if (prior.status !== 'failed') return { outcome: 'refused', status: prior.status };
  const reopened = await db
    .update(table)
    .set({ status: 'pending', progress: 0, finishedAt: null, updatedAt: new Date() })
    .where(and(eq(table.id, id), eq(table.status, 'failed')))
    .returning({ id: table.id });
  // Someone else's retry reopened it between the read and the write.
  if (reopened.length === 0) {
    const [now] = await db.select({ status: table.status }).from(table).where(eq(table.id, id));
    return { outcome: 'refused', status: now?.status ?? 'pending' };
  }
  try {
    await retry();
  } catch (err) {
    // The job is no longer failed (removed, or retried elsewhere): the record goes back to what it was.
    await db
      .update(table)
      .set({ status: 'failed', progress: prior.progress, finishedAt: prior.finishedAt, updatedAt: new Date() })
      .where(and(eq(table.id, id), eq(table.status, 'pending')));
    throw err;
  }
  return { outcome: 'reopened' };
}

/** The record id of a job whose payload the worker would accept, or null (no trustworthy record id). */
function recordIdOfValid(name: JobName, data: unknown, jobId: string): string | null {
  let payload: PayloadOf<JobName>;
  try {
    payload = validatePayload(name, data);
  } catch (err) {
    if (err instanceof InvalidPayloadError) return null;
    throw err;
  }
  return recordIdOf(name, payload, jobId);
}
