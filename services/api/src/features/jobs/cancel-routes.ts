import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { notFound } from '../../shared/errors.js';
import { createJobCanceller } from './job-cancel.js';
import { findJob } from '../../shared/job-view.js';
import { withQueue } from '../../shared/queue-guard.js';
import { errors, JobIdParams, ok } from '../../shared/schemas.js';

/** A cancel takes a few Redis round trips, a record write and (the first time) the relay's registration. */
const CANCEL_TIMEOUT_MS = 5_000;

const Cancelled = Type.Object({ jobId: Type.String(), state: Type.Literal('cancelled') });
const Cancelling = Type.Object({ jobId: Type.String(), state: Type.Literal('cancelling') });

const routes: FastifyPluginAsyncTypebox = async (app) => {
  const canceller = createJobCanceller({
    db: app.db,
    backend: app.queueBackend,
    onRelayError: (err) => app.log.warn({ err: { message: err.message } }, 'cancel relay error'),
  });
  app.addHook('onClose', () => canceller.close());

  app.post(
    '/api/jobs/:id/cancel',
    {
      config: { auth: 'operator' },
      schema: {
        tags: ['jobs'],
        summary: 'Cancel a job: a queued one is removed (200 cancelled), a running one is stopped by its worker (202 cancelling)',
        params: JobIdParams,
        response: { 200: ok(Cancelled), 202: ok(Cancelling), ...errors(400, 401, 403, 404, 409, 429, 503) },
      },
    },
    async (request, reply) => {
      const { id } = request.params;
      const state = await withQueue(app.queueBackend, async () => {
        const found = await findJob(app.producer, id, app.queueBackend);
        if (!found) throw notFound(`Job ${id}`);
        const outcome = await canceller.cancel(found.job, `by user ${request.user.id}`);
        const serverId = (found.job.data as { serverId?: unknown }).serverId;
        if (outcome === 'cancelled' && typeof serverId === 'string') await app.serverJobs.remove(serverId, found.queue, id);
        return outcome;
      }, CANCEL_TIMEOUT_MS);
      request.log.info({ jobId: id, state }, state === 'cancelled' ? 'job cancelled' : 'job cancel requested');
      if (state === 'cancelled') return reply.code(200).send({ success: true as const, data: { jobId: id, state } });
      return reply.code(202).send({ success: true as const, data: { jobId: id, state } });
    },
  );
};

export default routes;
