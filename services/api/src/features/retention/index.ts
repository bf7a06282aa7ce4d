import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { RetentionPolicy } from '@mm/db';
import { notFound } from '../../shared/errors.js';
import { errors, IdParams, ok } from '../../shared/schemas.js';
import { RetentionBody, RetentionView } from './schemas.js';
import { deleteRetentionPolicy, findRetentionPolicy, putRetentionPolicy } from './repository.js';

const view = (serverId: string, row: RetentionPolicy | undefined) => ({
  serverId,
  configured: row !== undefined,
  keepLast: row?.keepLast ?? null,
  keepDaily: row?.keepDaily ?? null,
  keepWeekly: row?.keepWeekly ?? null,
  updatedAt: row ? row.updatedAt.toISOString() : null,
});

/** A server's backup retention policy, applied by the backup:cleanup job (docs/API.md, "Retention and cleanup"). */
const retention: FastifyPluginAsyncTypebox = async (app) => {
  const requireServer = async (id: string) => {
    if (!(await app.servers.exists(id))) throw notFound(`Server ${id}`);
  };

  app.get(
    '/api/servers/:id/retention',
    {
      schema: {
        tags: ['retention'],
        summary: "A server's backup retention policy (configured: false = keep everything)",
        params: IdParams,
        response: { 200: ok(RetentionView), ...errors(400, 401, 404, 429, 503) },
      },
    },
    async (request) => {
      const { id } = request.params;
      await requireServer(id);
      const row = await findRetentionPolicy(app.db, id);
      return { success: true as const, data: view(id, row) };
    },
  );

  app.put(
    '/api/servers/:id/retention',
    {
      config: { auth: 'operator' },
      schema: {
        tags: ['retention'],
        summary: 'Set the retention policy (replaces it: an omitted count keeps nothing on its own)',
        params: IdParams,
        body: RetentionBody,
        response: { 200: ok(RetentionView), ...errors(400, 401, 403, 404, 413, 415, 429, 503) },
      },
    },
    async (request) => {
      const { id } = request.params;
      await requireServer(id);
      const values = {
        keepLast: request.body.keepLast ?? null,
        keepDaily: request.body.keepDaily ?? null,
        keepWeekly: request.body.keepWeekly ?? null,
        updatedBy: request.user.id,
        updatedAt: new Date(),
      };
      const row = await putRetentionPolicy(app.db, id, values);
      request.log.info({ serverId: id, keepLast: values.keepLast, keepDaily: values.keepDaily, keepWeekly: values.keepWeekly }, 'retention policy set');
      return { success: true as const, data: view(id, row) };
    },
  );

  app.delete(
    '/api/servers/:id/retention',
    {
      config: { auth: 'operator' },
      schema: {
        tags: ['retention'],
        summary: 'Remove the retention policy: the cleanup keeps every backup of this server again',
        params: IdParams,
        response: { 200: ok(RetentionView), ...errors(400, 401, 403, 404, 429, 503) },
      },
    },
    async (request) => {
      const { id } = request.params;
      await requireServer(id);
      await deleteRetentionPolicy(app.db, id);
      request.log.info({ serverId: id }, 'retention policy removed');
      return { success: true as const, data: view(id, undefined) };
    },
  );
};

export default retention;
