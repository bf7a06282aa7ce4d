import type { Job } from 'bullmq';
import type { Static } from '@sinclair/typebox';
import type { JobState } from '../../shared/job-view.js';
import type { RecordView as RecordViewSchema } from './schemas.js';

export type RecordView = Static<typeof RecordViewSchema>;

/** A database row as JSON: dates as ISO strings, every other column as stored. */
export function fromRow(row: Record<string, unknown>): RecordView {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(row)) out[k] = v instanceof Date ? v.toISOString() : v;
  return { ...out, source: 'record' } as RecordView;
}

// Before the worker creates the row (its 30% milestone) the job is all there is.
const STATUS_BY_STATE: Partial<Record<JobState | 'unknown', RecordView['status']>> = { active: 'running', failed: 'failed', completed: 'completed' };

/** A record the worker has not written yet, answered from its job. */
export function fromJob(job: Job, state: JobState | 'unknown'): RecordView {
  const data = job.data as { serverId?: string; userId?: string | null; options?: unknown };
  const options = data.options ?? (job.name.startsWith('scan:') ? { scan_type: job.name.slice('scan:'.length) } : {});
  return {
    id: job.id as string,
    serverId: data.serverId ?? null,
    requestedBy: data.userId ?? null,
    status: STATUS_BY_STATE[state] ?? 'pending',
    progress: typeof job.progress === 'number' ? job.progress : 0,
    attempts: job.attemptsMade,
    options,
    result: null,
    error: state === 'failed' ? (job.failedReason ?? null) : null,
    createdAt: new Date(job.timestamp).toISOString(),
    startedAt: job.processedOn ? new Date(job.processedOn).toISOString() : null,
    finishedAt: job.finishedOn ? new Date(job.finishedOn).toISOString() : null,
    jobState: state,
    source: 'job',
  };
}
