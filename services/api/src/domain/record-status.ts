import { eq } from 'drizzle-orm';
import type { Db } from '@mm/db';
import { recordIdOfJobId, type QueueAlias } from '@mm/jobs';
import { recordKinds } from './record-kinds.js';

export interface RecordStatus {
  queue: QueueAlias;
  status: 'pending' | 'running' | 'completed' | 'failed' | 'cancelled';
  progress: number;
  result: unknown;
  error: string | null;
}

/** A job's record in PostgreSQL, which outlives the job's removal from Redis (record id = job id, or derived from it). */
export async function findRecordStatus(db: Db, jobId: string): Promise<RecordStatus | null> {
  const id = recordIdOfJobId(jobId);
  const rows = await Promise.all(
    recordKinds.map(async (kind) => {
      const [row] = await db
        .select({ status: kind.table.status, progress: kind.table.progress, result: kind.table.result, error: kind.table.error })
        .from(kind.table)
        .where(eq(kind.table.id, id));
      return row ? { queue: kind.queue, ...row } : null;
    }),
  );
  return rows.find((r) => r !== null) ?? null;
}
