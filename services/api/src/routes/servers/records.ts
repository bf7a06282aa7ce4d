import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { desc, eq, sql } from 'drizzle-orm';
import { servers } from '@mm/db';
import { notFound } from '../../errors.js';
import { recordKinds } from '../../domain/record-kinds.js';
import { fromRow } from '../../domain/record-view.js';
import { errors, IdParams, okList, Pagination } from '../../schemas/common.js';
import { RecordView } from '../../schemas/records.js';

/** GET /api/servers/:id/backups|scans|updates: the server's records, newest first, paginated. */
const routes: FastifyPluginAsyncTypebox = async (app) => {
  for (const kind of recordKinds) {
    app.get(
      `/api/servers/:id/${kind.path}`,
      {
        schema: {
          tags: ['records'],
          summary: `A server's ${kind.path}, newest first`,
          params: IdParams,
          querystring: Type.Object(Pagination, { additionalProperties: false }),
          response: { 200: okList(RecordView), ...errors(400, 401, 404, 429, 503) },
        },
      },
      async (request) => {
        const { id } = request.params;
        const { limit, offset } = request.query;
        const t = kind.table;
        const [[server], rows, [{ total } = { total: 0 }]] = await Promise.all([
          app.db.select({ id: servers.id }).from(servers).where(eq(servers.id, id)),
          app.db.select().from(t).where(eq(t.serverId, id)).orderBy(desc(t.createdAt), desc(t.id)).limit(limit).offset(offset),
          app.db.select({ total: sql<number>`count(*)::int` }).from(t).where(eq(t.serverId, id)),
        ]);
        if (!server) throw notFound(`Server ${id}`);
        return { success: true as const, data: rows.map(fromRow), meta: { limit, offset, total } };
      },
    );
  }
};

export default routes;
