import { and, eq, inArray } from 'drizzle-orm';
import type { Db } from '@mm/db';
import { recordIdOfJobId, type QueueAlias } from '@mm/jobs';
import { recordKinds } from './record-kinds.js';

export type RecordStatusValue = 'pending' | 'running' | 'completed' | 'failed' | 'cancelled';
export const RECORD_STATUSES = ['pending', 'running', 'completed', 'failed', 'cancelled'] as const satisfies readonly RecordStatusValue[];

export interface RecordStatus {
  queue: QueueAlias;
  status: RecordStatusValue;
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

/** One still-open (pending or running) record of the server's, in any record table, or null: what a server delete waits for. */
export async function findOpenRecord(db: Db, serverId: string): Promise<{ id: string; kind: string } | null> {
  const rows = await Promise.all(
    recordKinds.map(async (kind) => {
      const t = kind.table;
      const [row] = await db
        .select({ id: t.id })
        .from(t)
        .where(and(eq(t.serverId, serverId), inArray(t.status, ['pending', 'running'])))
        .limit(1);
      return row ? { id: row.id, kind: kind.name } : null;
    }),
  );
  return rows.find((r) => r !== null) ?? null;
}
