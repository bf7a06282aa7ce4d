import type { FastifyReply, FastifyRequest } from 'fastify';
import type { JobName } from '@mm/jobs';
import { trigger, type TriggerInput } from './trigger.js';

/** Runs `trigger` for a route: reads the Idempotency-Key header, sends the answer, puts the job on the request's one log line. */
export async function sendTrigger<N extends JobName>(
  request: FastifyRequest,
  reply: FastifyReply,
  job: TriggerInput<N>['job'],
): Promise<FastifyReply> {
  const key = request.headers['idempotency-key'];
  const app = request.server;
  const result = await trigger(app, {
    job,
    userId: request.user.id,
    log: request.log,
    ...(typeof key === 'string' ? { idempotency: { key, request: { method: request.method, url: request.url, body: request.body } } } : {}),
  });
  // Carried by the request's one log line (plugins/request-log.ts), not a line of its own.
  if (result.enqueued) request.logSummary = { msg: 'job enqueued', fields: result.enqueued };
  if (result.replayed) void reply.header('idempotent-replayed', 'true');
  return reply.code(result.status).send(result.body);
}
