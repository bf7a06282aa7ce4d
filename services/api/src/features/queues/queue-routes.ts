import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { QueueName, queueAliases, type QueueAlias } from '@mm/jobs';
import { queueCounts } from '../../shared/queue-metrics.js';
import { withQueue } from '../../shared/queue-guard.js';
import { retryFailedJobs } from './retry-failed.js';
import { errors, ok } from '../../shared/schemas.js';
import { CleanBody, CleanResult, PauseResult, PromoteResult, QueueParams, QueueView, RetryResult } from './schemas.js';

// Retrying or cleaning thousands of jobs takes BullMQ several round trips: a longer ceiling than a read.
const BULK_TIMEOUT_MS = 30_000;

/** Queue administration, admin only. Pause and resume are global (every worker process stops taking jobs). */
const routes: FastifyPluginAsyncTypebox = async (app) => {
  const admin = { auth: 'admin' as const };
  const describeQueue = async (queue: QueueAlias) => {
    const q = app.producer.queue(queue);
    const [paused, workers, counts] = await Promise.all([q.isPaused(), q.getWorkersCount(), queueCounts(app.producer, queue)]);
    return { queue, name: QueueName[queue], paused, workers, counts };
  };

  app.get(
    '/api/queues',
    {
      config: admin,
      schema: { tags: ['queues'], summary: 'Every queue: paused flag, job counts and connected workers', response: { 200: ok(Type.Array(QueueView)), ...errors(401, 403, 429, 503) } },
    },
    async () => ({ success: true as const, data: await withQueue(app.queueBackend, () => Promise.all(queueAliases.map(describeQueue))) }),
  );

  app.post(
    '/api/queues/:queue/pause',
    {
      config: admin,
      schema: { tags: ['queues'], summary: 'Pause a queue: workers finish their active jobs and take no new ones', params: QueueParams, response: { 200: ok(PauseResult), ...errors(400, 401, 403, 429, 503) } },
    },
    async (request) => {
      const { queue } = request.params;
      await withQueue(app.queueBackend, () => app.producer.queue(queue).pause());
      request.log.info({ queue, userId: request.user.id }, 'queue paused');
      return { success: true as const, data: { queue, paused: true } };
    },
  );

  app.post(
    '/api/queues/:queue/resume',
    {
      config: admin,
      schema: { tags: ['queues'], summary: 'Resume a paused queue', params: QueueParams, response: { 200: ok(PauseResult), ...errors(400, 401, 403, 429, 503) } },
    },
    async (request) => {
      const { queue } = request.params;
      await withQueue(app.queueBackend, () => app.producer.queue(queue).resume());
      request.log.info({ queue, userId: request.user.id }, 'queue resumed');
      return { success: true as const, data: { queue, paused: false } };
    },
  );

  app.post(
    '/api/queues/:queue/retry-failed',
    {
      config: admin,
      schema: { tags: ['queues'], summary: 'Retry every failed job of a queue, reopening their failed records; jobs whose record was cancelled stay failed (skipped)', params: QueueParams, response: { 200: ok(RetryResult), ...errors(400, 401, 403, 429, 503) } },
    },
    async (request) => {
      const { queue } = request.params;
      const { retried, skipped } = await withQueue(
        app.queueBackend,
        // Only the jobs failed by now: one failing while this runs is left for the next call, and the counts stay true.
        () => retryFailedJobs(app.db, app.producer.queue(queue), Date.now()),
        BULK_TIMEOUT_MS,
      );
      request.log.info({ queue, retried, skipped, userId: request.user.id }, 'failed jobs retried');
      return { success: true as const, data: { queue, retried, skipped } };
    },
  );

  app.post(
    '/api/queues/:queue/clean',
    {
      config: admin,
      schema: {
        tags: ['queues'],
        summary: 'Remove the jobs of one state older than olderThanMs (never active ones)',
        params: QueueParams,
        body: CleanBody,
        response: { 200: ok(CleanResult), ...errors(400, 401, 403, 429, 503) },
      },
    },
    async (request) => {
      const { queue } = request.params;
      const { state, olderThanMs, limit } = request.body;
      const removed = await withQueue(app.queueBackend, () => app.producer.queue(queue).clean(olderThanMs, limit, state), BULK_TIMEOUT_MS);
      request.log.info({ queue, state, olderThanMs, removed: removed.length, userId: request.user.id }, 'queue cleaned');
      return { success: true as const, data: { queue, state, removed: removed.length } };
    },
  );

  app.post(
    '/api/queues/:queue/promote-delayed',
    {
      config: admin,
      schema: { tags: ['queues'], summary: 'Move every delayed job (backoff or schedule) to waiting now', params: QueueParams, response: { 200: ok(PromoteResult), ...errors(400, 401, 403, 429, 503) } },
    },
    async (request) => {
      const { queue } = request.params;
      const q = app.producer.queue(queue);
      const promoted = await withQueue(
        app.queueBackend,
        async () => {
          const count = await q.getDelayedCount();
          await q.promoteJobs();
          return count;
        },
        BULK_TIMEOUT_MS,
      );
      request.log.info({ queue, promoted, userId: request.user.id }, 'delayed jobs promoted');
      return { success: true as const, data: { queue, promoted } };
    },
  );
};

export default routes;
