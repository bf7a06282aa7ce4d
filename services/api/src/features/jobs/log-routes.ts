import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { notFound, unavailable } from '../../shared/errors.js';
import { findJob } from '../../shared/job-view.js';
import { readJobLogPage } from './repository.js';
import { findRecordStatus } from '@mm/records';
import { withQueue } from '../../shared/queue-guard.js';
import { errors, JobIdParams, ok } from '../../shared/schemas.js';
import { JobLogPage, JobLogsQuery } from './log-schemas.js';


const routes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/api/jobs/:id/logs',
    {
      schema: {
        tags: ['jobs'],
        summary: "A job's log lines (remote output, milestones, warnings), redacted, from PostgreSQL: they outlive the job in Redis",
        params: JobIdParams,
        querystring: JobLogsQuery,
        response: { 200: ok(JobLogPage), ...errors(400, 401, 404, 429, 503) },
      },
    },
    async (request) => {
      const { id } = request.params;
      const { offset, limit } = request.query;
      const page = await readJobLogPage(app.db, id, offset, limit).catch((err: unknown) => {
        request.log.warn({ err }, 'job log read failed');
        throw unavailable('The database is unavailable; try again shortly.');
      });
      if (page.total === 0) {
        // No line yet: a job still waiting, or one whose lines were pruned, has a record or a job; anything else is unknown.
        const record = await findRecordStatus(app.db, id);
        if (!record && !(await withQueue(app.queueBackend, () => findJob(app.producer, id)))) throw notFound(`Job ${id}`);
      }
      return { success: true as const, data: page };
    },
  );
};

export default routes;
