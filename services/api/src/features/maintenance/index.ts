import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { withQueue } from '../../shared/queue-guard.js';
import { errors, ok } from '../../shared/schemas.js';

const maintenance: FastifyPluginAsyncTypebox = async (app) => {
  app.post(
    '/api/maintenance/cleanup',
    {
      config: { auth: 'admin' },
      schema: {
        tags: ['maintenance'],
        summary: 'Run the cleanup now (job backup:cleanup, priority LOW): retention policies, old finished jobs, old job logs',
        response: { 202: ok(Type.Object({ jobId: Type.String() })), ...errors(401, 403, 429, 503) },
      },
    },
    async (request, reply) => {
      const job = await withQueue(app.queueBackend, () => app.producer.enqueue('backup:cleanup', { userId: request.user.id }));
      request.log.info({ jobId: job.id }, 'cleanup enqueued');
      return reply.code(202).send({ success: true as const, data: { jobId: String(job.id) } });
    },
  );
};

export default maintenance;
