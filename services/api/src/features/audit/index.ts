import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { AuditLogEntry } from '@mm/db';
import { decodeAuditCursor, encodeAuditCursor } from './audit-cursor.js';
import { errors } from '../../shared/schemas.js';
import { AuditPage, AuditQuery } from './schemas.js';
import { listAuditEntries } from './repository.js';

const view = (e: AuditLogEntry) => ({
  id: e.id,
  at: e.at.toISOString(),
  actor: { id: e.actorId, email: e.actorEmail, role: e.actorRole },
  action: e.action,
  method: e.method,
  route: e.route,
  targetId: e.targetId,
  statusCode: e.statusCode,
  outcome: e.outcome,
  requestId: e.requestId,
  ip: e.ip,
  tokenId: e.tokenId,
  details: e.details ?? null,
});

const audit: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/api/audit',
    {
      config: { auth: 'admin' },
      schema: {
        tags: ['audit'],
        summary: 'The audit log, newest first (admin); keyset-paginated with meta.nextCursor',
        querystring: AuditQuery,
        response: { 200: AuditPage, ...errors(400, 401, 403, 429, 503) },
      },
    },
    async (request) => {
      const { userId, tokenId, action, targetId, outcome, from, to, limit, cursor } = request.query;
      const after = cursor ? decodeAuditCursor(cursor) : undefined;
      const rows = await listAuditEntries(app.db, { userId, tokenId, action, targetId, outcome, from, to, after }, limit + 1);
      const page = rows.slice(0, limit);
      const last = page.at(-1);
      return { success: true as const, data: page.map(view), meta: { limit, nextCursor: rows.length > limit && last ? encodeAuditCursor(last) : null } };
    },
  );
};

export default audit;
