import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { eq } from 'drizzle-orm';
import { notFound } from '../errors.js';
import { recordKinds } from '../domain/record-kinds.js';
import { fromJob, fromRow } from '../domain/record-view.js';
import { jobState } from '../domain/job-view.js';
import { withRedis } from '../domain/redis-guard.js';
import { errors, IdParams, ok } from '../schemas/common.js';
import { RecordView } from '../schemas/records.js';

/** GET /api/backups/:id, /api/scans/:id, /api/updates/:id: the worker's record, or the job until the record exists. */
const routes: FastifyPluginAsyncTypebox = async (app) => {
  for (const kind of recordKinds) {
    app.get(
      `/api/${kind.path}/:id`,
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
        const [row] = await app.db.select().from(kind.table).where(eq(kind.table.id, id));
        if (row) return { success: true as const, data: fromRow(row) };
        const found = await withRedis(app.redis, async () => {
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
