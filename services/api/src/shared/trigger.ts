import type { FastifyBaseLogger } from 'fastify';
import { catalog, type JobName, type PayloadOf, type Producer, type QueueBackend, type ServerJobIndex } from '@mm/jobs';
import { notFound, unavailable } from './errors.js';
import type { Idempotency, StoredAnswer } from './idempotency.js';
import { batchWritesThisTick, withQueue } from './queue-guard.js';
import type { ServerLookup } from './server-lookup.js';

/** What enqueueing needs, all built once at start-up (plugins/shared-services.ts, plugins/queues.ts). */
export interface TriggerDeps {
  servers: ServerLookup;
  serverJobs: ServerJobIndex;
  idempotency: Idempotency;
  producer: Producer;
  queueBackend: QueueBackend;
}

export interface TriggerInput<N extends JobName> {
  job: { name: N; serverId: string; payload: PayloadOf<N>; answer: Record<string, string> };
  userId: string;
  /** The `Idempotency-Key` header, when the client sent one, and what makes two requests "the same". */
  idempotency?: { key: string; request: { method: string; url: string; body: unknown } };
  log: FastifyBaseLogger;
}

export interface TriggerResult extends StoredAnswer {
  /** The first answer returned again for a repeated Idempotency-Key: nothing was enqueued this time. */
  replayed: boolean;
  /** What was enqueued, for the request's one log line; absent on a replay. */
  enqueued?: { jobId: string; queue: string; jobName: JobName; serverId: string };
}

/**
 * The hot path shared by the trigger routes: the server must exist (cached), then exactly one job is
 * enqueued with id = the record id. Nothing is written to PostgreSQL; the worker creates the record.
 */
export async function trigger<N extends JobName>(deps: TriggerDeps, input: TriggerInput<N>): Promise<TriggerResult> {
  const { job, log } = input;
  let enqueued: TriggerResult['enqueued'];
  const run = async (): Promise<StoredAnswer> => {
    const exists = await deps.servers.exists(job.serverId).catch((err: unknown) => {
      log.warn({ err }, 'server lookup failed');
      throw unavailable('The database is unavailable; try again shortly.');
    });
    if (!exists) throw notFound(`Server ${job.serverId}`);
    const queue = catalog[job.name].queue;
    const jobId = job.answer.jobId as string;
    await withQueue(deps.queueBackend, async () => {
      // Both writes go out together, in one socket write: one round trip of latency, one syscall instead of two
      // (a write syscall was ~7 % of the route's CPU).
      batchWritesThisTick(deps.queueBackend);
      const [indexed, added] = await Promise.allSettled([deps.serverJobs.add(job.serverId, queue, jobId), deps.producer.enqueue(job.name, job.payload)]);
      if (added.status === 'rejected') {
        if (indexed.status === 'fulfilled') await deps.serverJobs.remove(job.serverId, queue, jobId).catch(() => undefined);
        throw added.reason;
      }
      // The job exists; an index entry that failed to land only hides it from `?serverId=` until the next write.
      if (indexed.status === 'rejected') log.warn({ err: indexed.reason, jobId }, 'server job index not updated');
    });
    enqueued = { jobId, queue, jobName: job.name, serverId: job.serverId };
    return { status: 202, body: { success: true, data: job.answer } };
  };

  if (!input.idempotency) return { ...(await run()), replayed: false, enqueued };
  const { key, request } = input.idempotency;
  const result = await withQueue(deps.queueBackend, () => deps.idempotency.run(input.userId, key, request, run));
  return { ...result, enqueued };
}
