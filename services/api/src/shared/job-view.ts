import { Job } from 'bullmq';
import type { Producer, QueueAlias, QueueBackend } from '@mm/jobs';
import { queueAliases } from '@mm/jobs';
import { batchWritesThisTick } from './queue-guard.js';

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

// Lookups in flight per producer and job id: concurrent callers (a reconnect storm of SSE clients on one job) share one.
const inFlight = new WeakMap<Producer, Map<string, Promise<{ job: Job; queue: QueueAlias } | null>>>();

/**
 * Job ids are unique across the three queues (they are record ids), so the first queue holding the id owns
 * it. With `backend`: its inspector reads the job from that queue in one round trip (findJobWithState), and
 * concurrent lookups of one id share it.
 */
export async function findJob(producer: Producer, id: string, backend?: QueueBackend): Promise<{ job: Job; queue: QueueAlias } | null> {
  if (!backend) {
    const found = await Promise.all(queueAliases.map(async (queue) => ({ queue, job: await producer.queue(queue).getJob(id) })));
    const hit = found.find((f) => f.job);
    return hit?.job ? { job: hit.job, queue: hit.queue } : null;
  }
  let pending = inFlight.get(producer);
  if (!pending) inFlight.set(producer, (pending = new Map()));
  const shared = pending.get(id);
  if (shared) return shared;
  const lookup = findJobWithState(producer, id, backend).then((found) => (found ? { job: found.job, queue: found.queue } : null));
  pending.set(id, lookup);
  try {
    return await lookup;
  } finally {
    pending.delete(id);
  }
}

/**
 * findJob and the job's state in one read (one script on Redis, one SELECT on PostgreSQL): the status route's hot
 * path. The Job is built as BullMQ's getJob builds it after its own read (Job.fromId: Job.fromJSON of the stored job).
 */
export async function findJobWithState(producer: Producer, id: string, backend: QueueBackend): Promise<{ job: Job; queue: QueueAlias; state: JobState | 'unknown' } | null> {
  batchWritesThisTick(backend);
  const found = await backend.inspector.read(id);
  if (!found) return null;
  const job = Job.fromJSON(producer.queue(found.queue), found.job, id);
  return { job, queue: found.queue, state: found.state as JobState | 'unknown' };
}

export async function jobState(job: Job): Promise<JobState | 'unknown'> {
  return (await job.getState()) as JobState | 'unknown';
}
