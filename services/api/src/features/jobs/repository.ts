import { asc, count, eq } from 'drizzle-orm';
import { backups, jobLogs, type Db, type JobLogKind } from '@mm/db';

/** The server a backup came from, or null once its record is gone (what a restore retry is judged by). */
export async function backupServerId(db: Db, backupId: string): Promise<string | null> {
  const [row] = await db.select({ serverId: backups.serverId }).from(backups).where(eq(backups.id, backupId));
  return row?.serverId ?? null;
}

export interface JobLogPage {
  jobId: string;
  lines: { seq: number; at: string; kind: JobLogKind; line: string }[];
  total: number;
  offset: number;
  limit: number;
}

/** A page of a job's log lines from PostgreSQL, in seq order (served by the table's (job_id, seq) primary key). */
export async function readJobLogPage(db: Db, jobId: string, offset: number, limit: number): Promise<JobLogPage> {
  const [rows, [counted]] = await Promise.all([
    db
      .select({ seq: jobLogs.seq, at: jobLogs.createdAt, kind: jobLogs.kind, line: jobLogs.line })
      .from(jobLogs)
      .where(eq(jobLogs.jobId, jobId))
      .orderBy(asc(jobLogs.seq))
      .offset(offset)
      .limit(limit),
    db.select({ total: count() }).from(jobLogs).where(eq(jobLogs.jobId, jobId)),
  ]);
  return {
    jobId,
    lines: rows.map((r) => ({ seq: r.seq, at: r.at.toISOString(), kind: r.kind, line: r.line })),
    total: counted?.total ?? 0,
    offset,
    limit,
  };
}
