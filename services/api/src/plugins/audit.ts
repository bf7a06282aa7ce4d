import fp from 'fastify-plugin';
import type { FastifyRequest } from 'fastify';
import { sql } from 'drizzle-orm';
import { auditLog } from '@mm/db';
import { AuditBuffer } from '../domain/audit-buffer.js';
import { auditAction, auditTarget, MUTATING_METHODS } from '../domain/audit-action.js';

declare module 'fastify' {
  interface FastifyInstance {
    audit: AuditBuffer;
  }
}

export interface AuditPluginOptions {
  intervalMs: number;
  batchSize: number;
  maxEntries: number;
}

interface FromResponse {
  createdId?: string;
  user?: { id: string; email: string; role: string };
}

const isLogin = (route: string) => route.startsWith('/api/auth/');

/** What a successful response tells the audit: the id a create made, the user a login let in. Bodies are not kept. */
function readResponse(payload: unknown): FromResponse {
  if (typeof payload !== 'string' || payload.length > 65_536) return {};
  try {
    const data = (JSON.parse(payload) as { data?: { id?: unknown; user?: { id?: unknown; email?: unknown; role?: unknown } } }).data;
    const user = data?.user;
    return {
      ...(typeof data?.id === 'string' ? { createdId: data.id } : {}),
      ...(user && typeof user.id === 'string' ? { user: { id: user.id, email: String(user.email), role: String(user.role) } } : {}),
    };
  } catch {
    return {};
  }
}

/** The email a login attempt named (an address, not a secret), so failed logins are attributable. */
function attemptedEmail(request: FastifyRequest): string | null {
  const email = (request.body as { email?: unknown } | undefined)?.email;
  return typeof email === 'string' ? email.toLowerCase().slice(0, 254) : null;
}

/**
 * Records every mutating /api call made with a valid token (including refused ones: 400, 403, 404, 409) and every
 * login attempt. Anonymous calls refused with 401 are left to the access log, so unauthenticated noise cannot flood
 * the trail. Entries are buffered and batch-written (AuditBuffer), never on the request path.
 */
export default fp<AuditPluginOptions>(
  async (app, opts) => {
    const buffer = new AuditBuffer(
      async (rows) => {
        // One JSON parameter per batch: drizzle building a 200-row, 13-column VALUES list cost the API more CPU on the
        // trigger path than the enqueue itself (docs/PERFORMANCE.md).
        await app.db.execute(sql`
          insert into ${auditLog} (at, actor_id, actor_email, actor_role, action, method, route, target_id, status_code, outcome, request_id, ip)
          select at, "actorId", "actorEmail", "actorRole", action, method, route, "targetId", "statusCode", outcome, "requestId", ip
          from jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) as r(
            at timestamptz, "actorId" uuid, "actorEmail" text, "actorRole" text, action text, method text, route text,
            "targetId" text, "statusCode" integer, outcome text, "requestId" text, ip text)`);
      },
      { ...opts, log: app.log },
    );
    app.decorate('audit', buffer);
    buffer.start();
    const responses = new WeakMap<FastifyRequest, FromResponse>();

    const audited = (request: FastifyRequest): request is FastifyRequest & { routeOptions: { url: string } } =>
      MUTATING_METHODS.has(request.method) && request.routeOptions.url?.startsWith('/api/') === true;

    app.addHook('onSend', async (request, reply, payload) => {
      if (audited(request) && reply.statusCode < 300) responses.set(request, readResponse(payload));
      return payload;
    });

    app.addHook('onResponse', async (request, reply) => {
      if (!audited(request)) return;
      const route = request.routeOptions.url;
      const login = isLogin(route);
      const status = reply.statusCode;
      // A 401 means no valid user stands behind the token (request.user may hold an unverified or deleted id).
      const user = status === 401 ? undefined : (request.user as { id?: string; email?: string; role?: string } | undefined);
      if (!login && !user?.id) return;
      const fromResponse = responses.get(request) ?? {};
      const actor = fromResponse.user ?? (user?.id ? { id: user.id, email: user.email ?? '', role: user.role ?? '' } : undefined);
      buffer.push({
        at: new Date(),
        actorId: actor?.id ?? null,
        actorEmail: actor?.email || (login ? attemptedEmail(request) : null),
        actorRole: actor?.role || null,
        action: auditAction(request.method, route),
        method: request.method,
        route,
        targetId: auditTarget(request.params, login ? undefined : fromResponse.createdId),
        statusCode: status,
        outcome: status < 400 ? 'success' : 'failure',
        requestId: String(request.id),
        ip: request.ip ?? null,
      });
    });

    app.addHook('onClose', async () => {
      await buffer.close();
    });
  },
  { name: 'audit', dependencies: ['database', 'auth'] },
);
