import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { catalog, type JobName, type PayloadOf } from '@mm/jobs';
import { notFound, unavailable } from '../errors.js';
import { batchWritesThisTick, withRedis } from './redis-guard.js';

/**
 * The hot path shared by the three trigger routes: the server must exist (cached), then exactly one job is
 * enqueued with id = the record id. Nothing is written to PostgreSQL; the worker creates the record.
 */
export async function trigger<N extends JobName>(
  app: FastifyInstance,
  request: FastifyRequest,
  reply: FastifyReply,
  job: { name: N; serverId: string; payload: PayloadOf<N>; answer: Record<string, string> },
): Promise<FastifyReply> {
  const run = async () => {
    const exists = await app.servers.exists(job.serverId).catch((err: unknown) => {
      request.log.warn({ err }, 'server lookup failed');
      throw unavailable('The database is unavailable; try again shortly.');
    });
    if (!exists) throw notFound(`Server ${job.serverId}`);
    const queue = catalog[job.name].queue;
    const jobId = job.answer.jobId as string;
    await withRedis(app.redis, async () => {
      // Both writes go out together, in one socket write: one round trip of latency, one syscall instead of two
      // (a write syscall was ~7 % of the route's CPU).
      batchWritesThisTick(app.redis);
      const [indexed, enqueued] = await Promise.allSettled([
        app.serverJobs.add(job.serverId, queue, jobId),
        app.producer.enqueue(job.name, job.payload),
      ]);
      if (enqueued.status === 'rejected') {
        if (indexed.status === 'fulfilled') await app.serverJobs.remove(job.serverId, queue, jobId).catch(() => undefined);
        throw enqueued.reason;
      }
      // The job exists; an index entry that failed to land only hides it from `?serverId=` until the next write.
      if (indexed.status === 'rejected') request.log.warn({ err: indexed.reason, jobId }, 'server job index not updated');
    });
    // Carried by the request's one log line (plugins/request-log.ts), not a line of its own.
    request.logSummary = { msg: 'job enqueued', fields: { jobId, queue, jobName: job.name, serverId: job.serverId } };
    return { status: 202, body: { success: true, data: job.answer } };
  };

  const key = request.headers['idempotency-key'];
  if (typeof key !== 'string') {
    const answer = await run();
    return reply.code(answer.status).send(answer.body);
  }
  const result = await withRedis(app.redis, () =>
    app.idempotency.run(request.user.id, key, { method: request.method, url: request.url, body: request.body }, run),
  );
  if (result.replayed) void reply.header('idempotent-replayed', 'true');
  return reply.code(result.status).send(result.body);
}
