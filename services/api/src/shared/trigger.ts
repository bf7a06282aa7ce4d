import type { FastifyBaseLogger } from 'fastify';
import { catalog, type JobName, type PayloadOf, type Producer, type QueueAlias, type QueueBackend, type ServerJobIndex } from '@mm/jobs';
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

/** The server must exist (cached: no promise for a server seen within seconds); a lookup that fails is a 503. */
async function checkServer(deps: TriggerDeps, serverId: string, log: FastifyBaseLogger): Promise<void> {
  const exists = await deps.servers.exists(serverId).catch((err: unknown) => {
    log.warn({ err }, 'server lookup failed');
    throw unavailable('The database is unavailable; try again shortly.');
  });
  if (!exists) throw notFound(`Server ${serverId}`);
}

/** Adds the job and its per-server index entry, in one socket write on Redis. */
async function addIndexed<N extends JobName>(deps: TriggerDeps, job: TriggerInput<N>['job'], queue: QueueAlias, jobId: string, log: FastifyBaseLogger): Promise<void> {
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
}

/** One enqueue: the server must exist, then exactly one job goes in with id = the record id. */
async function enqueueOne<N extends JobName>(deps: TriggerDeps, job: TriggerInput<N>['job'], log: FastifyBaseLogger): Promise<StoredAnswer> {
  if (!deps.servers.isKnown(job.serverId)) await checkServer(deps, job.serverId, log);
  const queue = catalog[job.name].queue;
  const jobId = job.answer.jobId as string;
  await withQueue(deps.queueBackend, () => addIndexed(deps, job, queue, jobId, log));
  return { status: 202, body: { success: true, data: job.answer } };
}

/**
 * The hot path shared by the trigger routes: the server must exist (cached), then exactly one job is
 * enqueued with id = the record id. Nothing is written to PostgreSQL; the worker creates the record.
 */
export async function trigger<N extends JobName>(deps: TriggerDeps, input: TriggerInput<N>): Promise<TriggerResult> {
  const { job, log } = input;
  const enqueued = { jobId: job.answer.jobId as string, queue: catalog[job.name].queue, jobName: job.name, serverId: job.serverId };
  if (!input.idempotency) return { ...(await enqueueOne(deps, job, log)), replayed: false, enqueued };
  const { key, request } = input.idempotency;
  let ran = false;
  const result = await withQueue(deps.queueBackend, () =>
    deps.idempotency.run(input.userId, key, request, () => {
      ran = true;
      return enqueueOne(deps, job, log);
    }),
  );
  // A replay enqueued nothing: the log line names no job then.
  return { ...result, ...(ran ? { enqueued } : {}) };
}
