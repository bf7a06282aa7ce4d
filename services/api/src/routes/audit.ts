import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { and, desc, eq, gte, like, lt, sql, type SQL } from 'drizzle-orm';
import { auditLog, type AuditLogEntry } from '@mm/db';
import { decodeAuditCursor, encodeAuditCursor } from '../domain/audit-cursor.js';
import { errors } from '../schemas/common.js';
import { AuditPage, AuditQuery } from '../schemas/audit.js';

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
});

const escapeLike = (s: string) => s.replace(/[\\%_]/g, (c) => `\\${c}`);

const routes: FastifyPluginAsyncTypebox = async (app) => {
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
      const { userId, action, targetId, outcome, from, to, limit, cursor } = request.query;
      const where: SQL[] = [];
      if (userId) where.push(eq(auditLog.actorId, userId));
      if (action) where.push(action.endsWith('.*') ? like(auditLog.action, `${escapeLike(action.slice(0, -1))}%`) : eq(auditLog.action, action));
      if (targetId) where.push(eq(auditLog.targetId, targetId));
      if (outcome) where.push(eq(auditLog.outcome, outcome));
      // No entry predates the epoch, and PostgreSQL has no year 0: bounds before it are clamped, never sent.
      if (from && Date.parse(from) > 0) where.push(gte(auditLog.at, new Date(from)));
      if (to) where.push(Date.parse(to) > 0 ? lt(auditLog.at, new Date(to)) : sql`false`);
      if (cursor) {
        const after = decodeAuditCursor(cursor);
        where.push(sql`(${auditLog.at}, ${auditLog.id}) < (${after.at.toISOString()}::timestamptz, ${after.id}::uuid)`);
      }
      const rows = await app.db
        .select()
        .from(auditLog)
        .where(and(...where))
        .orderBy(desc(auditLog.at), desc(auditLog.id))
        .limit(limit + 1);
      const page = rows.slice(0, limit);
      const last = page.at(-1);
      return { success: true as const, data: page.map(view), meta: { limit, nextCursor: rows.length > limit && last ? encodeAuditCursor(last) : null } };
    },
  );
};

export default routes;
