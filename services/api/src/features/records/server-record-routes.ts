import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { notFound } from '../../shared/errors.js';
import { recordKinds } from '@mm/records';
import { fromRow } from './record-view.js';
import { listServerRecords } from './repository.js';
import { errors, IdParams, okList, Pagination } from '../../shared/schemas.js';
import { RecordView } from './schemas.js';

/** GET /api/servers/:id/backups|scans|updates: the server's records, newest first, paginated. */
const routes: FastifyPluginAsyncTypebox = async (app) => {
  for (const kind of recordKinds) {
    app.get(
      `/api/servers/:id/${kind.name}`,
      {
        schema: {
          tags: ['records'],
          summary: `A server's ${kind.name}, newest first`,
          params: IdParams,
          querystring: Type.Object(Pagination, { additionalProperties: false }),
          response: { 200: okList(RecordView), ...errors(400, 401, 404, 429, 503) },
        },
      },
      async (request) => {
        const { id } = request.params;
        const { limit, offset } = request.query;
        const page = await listServerRecords(app.db, kind, id, { limit, offset });
        if (!page) throw notFound(`Server ${id}`);
        return { success: true as const, data: page.rows.map(fromRow), meta: { limit, offset, total: page.total } };
      },
    );
  }
};

export default routes;
