import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { historyPage } from './repository.js';
import { errors } from '../../shared/schemas.js';
import { HistoryPage, HistoryQuery } from './schemas.js';

/** GET /api/history: backups, scans and updates from PostgreSQL, so history outlives the finished jobs Redis drops. */
const history: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/api/history',
    {
      schema: {
        tags: ['records'],
        summary: 'Backups, scans and updates, newest first, filtered and searchable, paged by cursor',
        querystring: HistoryQuery,
        response: { 200: HistoryPage, ...errors(400, 401, 429, 503) },
      },
    },
    async (request) => {
      const { items, nextCursor } = await historyPage(app.db, request.query);
      return { success: true as const, data: items, meta: { limit: request.query.limit, nextCursor } };
    },
  );
};

export default history;
