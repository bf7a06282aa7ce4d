import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { notFound } from '../../shared/errors.js';
import { recordKinds } from '@mm/records';
import { fromJob, fromRow } from './record-view.js';
import { findRecord } from './repository.js';
import { jobState } from '../../shared/job-view.js';
import { withQueue } from '../../shared/queue-guard.js';
import { errors, IdParams, ok } from '../../shared/schemas.js';
import { RecordView } from './schemas.js';

/** GET /api/backups/:id, /api/scans/:id, /api/updates/:id: the worker's record, or the job until the record exists. */
const routes: FastifyPluginAsyncTypebox = async (app) => {
  for (const kind of recordKinds) {
    app.get(
      `/api/${kind.name}/:id`,
      {
        schema: {
          tags: ['records'],
          summary: `One ${kind.singular.toLowerCase()} with its result once done; pending from the job until the worker creates the record`,
          params: IdParams,
          response: { 200: ok(RecordView), ...errors(400, 401, 404, 429, 503) },
        },
      },
      async (request) => {
        const { id } = request.params;
        const row = await findRecord(app.db, kind, id);
        if (row) return { success: true as const, data: fromRow(row) };
        const found = await withQueue(app.queueBackend, async () => {
          const job = await app.producer.queue(kind.queue).getJob(id);
          return job ? { job, state: await jobState(job) } : null;
        });
        if (!found) throw notFound(`${kind.singular} ${id}`);
        return { success: true as const, data: fromJob(found.job, found.state) };
      },
    );
  }
};

export default routes;
