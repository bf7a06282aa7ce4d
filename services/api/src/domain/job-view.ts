import type { Job } from 'bullmq';
import type { Producer, QueueAlias } from '@mm/jobs';
import { queueAliases } from '@mm/jobs';

/** BullMQ's own state names, as `GET /api/jobs/:id` reports them. */
export const jobStates = ['waiting', 'active', 'completed', 'failed', 'delayed', 'prioritized', 'waiting-children'] as const;
export type JobState = (typeof jobStates)[number];

export interface JobView {
  id: string;
  queue: QueueAlias;
  name: string;
  state: JobState | 'unknown';
  progress: number;
  /** Attempts made so far (BullMQ's attemptsMade). */
  attempts: number;
  maxAttempts: number;
  serverId: string | null;
  createdAt: string;
  processedAt: string | null;
  finishedAt: string | null;
  failedReason?: string;
  result?: unknown;
}

const iso = (ms: number | undefined | null) => (ms ? new Date(ms).toISOString() : null);

export function toJobView(job: Job, queue: QueueAlias, state: JobState | 'unknown'): JobView {
  const data = job.data as { serverId?: unknown };
  return {
    id: job.id as string,
    queue,
    name: job.name,
    state,
    progress: typeof job.progress === 'number' ? job.progress : 0,
    attempts: job.attemptsMade,
    maxAttempts: job.opts.attempts ?? 1,
    serverId: typeof data.serverId === 'string' ? data.serverId : null,
    createdAt: new Date(job.timestamp).toISOString(),
    processedAt: iso(job.processedOn),
    finishedAt: iso(job.finishedOn),
    ...(job.failedReason ? { failedReason: job.failedReason } : {}),
    ...(job.returnvalue !== undefined && job.returnvalue !== null ? { result: job.returnvalue } : {}),
  };
}

/** Job ids are unique across the three queues (they are record ids), so the first queue holding the id owns it. */
export async function findJob(producer: Producer, id: string): Promise<{ job: Job; queue: QueueAlias } | null> {
  const found = await Promise.all(queueAliases.map(async (queue) => ({ queue, job: await producer.queue(queue).getJob(id) })));
  const hit = found.find((f) => f.job);
  return hit?.job ? { job: hit.job, queue: hit.queue } : null;
}

export async function jobState(job: Job): Promise<JobState | 'unknown'> {
  return (await job.getState()) as JobState | 'unknown';
}
