import fp from 'fastify-plugin';
import type { FastifyRequest } from 'fastify';
import { sql } from 'drizzle-orm';
import { auditLog } from '@mm/db';
import { AuditBuffer } from './audit-buffer.js';
import { auditAction, auditTarget, MUTATING_METHODS } from './audit-action.js';
import { withHook } from './route-hooks.js';

declare module 'fastify' {
  interface FastifyInstance {
    audit: AuditBuffer<AuditRow>;
  }
  interface FastifyContextConfig {
    /** Audit this route although it reads: it hands out data worth a trail (backup downloads). */
    audit?: boolean;
  }
  interface FastifyRequest {
    /** What the entry should hold beyond the route (a restore's destination); set by the handler, even before it refuses. */
    auditDetails: Record<string, unknown> | null;
  }
}

/** bull-board's API under the dashboard: its mutating calls are admin actions like any other. */
const DASHBOARD_API = '/admin/queues/api/';

export interface AuditPluginOptions {
  intervalMs: number;
  batchSize: number;
  maxEntries: number;
}

interface FromResponse {
  createdId?: string;
  user?: { id: string; email: string; role: string };
}

/** What the audit does for one route and method, worked out once when the route is registered. */
interface AuditPlan {
  action: string;
  login: boolean;
  /** Whether a 2xx answer can name what the call made (data.id) or let in (data.user): only then is it parsed. */
  readsResponse: boolean;
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

/** A NUL or any surrogate: the quick test before the exact one (both linear: no quantifiers). */
// eslint-disable-next-line no-control-regex -- a NUL is exactly the character PostgreSQL refuses
const MAYBE_UNSTORABLE = /[\u0000\ud800-\udfff]/;
/** A NUL, a high surrogate not followed by a low one, or a low one not preceded by a high one. */
// eslint-disable-next-line no-control-regex -- as above
const UNSTORABLE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/**
 * Text as PostgreSQL takes it: a NUL, or a lone UTF-16 surrogate (which JSON carries as an escape jsonb refuses),
 * becomes U+FFFD. Entries hold client-chosen text (the email a login tried, path parameters, a restore's target
 * path), and one entry PostgreSQL refuses would fail its whole batch at every retry, stalling the trail.
 */
function storable(text: string): string;
function storable(text: string | null): string | null;
function storable(text: string | null): string | null {
  if (text === null || !MAYBE_UNSTORABLE.test(text)) return text;
  return text.replace(UNSTORABLE, '\ufffd');
}

/** A details object with every string in it made storable (details are rare: restores and a few admin calls). */
const storableDetails = (details: Record<string, unknown> | null): Record<string, unknown> | null =>
  details === null ? null : (JSON.parse(JSON.stringify(details, (_key, value: unknown) => (typeof value === 'string' ? storable(value) : value))) as Record<string, unknown>);


type SchemaNode = { properties?: Record<string, SchemaNode> } | undefined;

/**
 * False only when every 2xx response schema of the route says its `data` has neither `id` nor `user` (the trigger
 * routes answer { scanId, jobId, status }): then readResponse could find nothing, and the body is not parsed.
 */
function mayNameTarget(response: unknown): boolean {
  if (!response || typeof response !== 'object') return true;
  const ok = Object.entries(response as Record<string, SchemaNode>).filter(([status]) => /^2/.test(status));
  if (ok.length === 0) return true;
  return ok.some(([, schema]) => {
    const data = schema?.properties?.data;
    return !data?.properties || 'id' in data.properties || 'user' in data.properties;
  });
}

/** One audit entry as the batch INSERT reads it: a JSON array, in the INSERT's column order, made when recorded. */
type AuditRow = string;

interface AuditEntry {
  /** Epoch milliseconds: a Date would become an ISO string per entry on the way out. */
  at: number;
  actorId: string | null;
  actorEmail: string | null;
  actorRole: string | null;
  action: string;
  method: string;
  route: string;
  targetId: string | null;
  statusCode: number;
  outcome: 'success' | 'failure';
  requestId: string;
  ip: string | null;
  tokenId: string | null;
  details: Record<string, unknown> | null;
}

/**
 * The entry as one flat string: what waits in the buffer is a string, not an object graph for the garbage collector
 * to trace until the batch goes out (each entry lives for up to a flush interval).
 */
const auditRow = (e: AuditEntry): AuditRow =>
  JSON.stringify([e.at, e.actorId, e.actorEmail, e.actorRole, e.action, e.method, e.route, e.targetId, e.statusCode, e.outcome, e.requestId, e.ip, e.tokenId, e.details]);

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
    // One JSON parameter per batch: drizzle building a 200-row VALUES list cost more CPU than the enqueue itself
    // (docs/PERFORMANCE.md). Each entry is its JSON array already (auditRow), joined here without another pass.
    const buffer = new AuditBuffer<AuditRow>(
      async (rows) => {
        await app.db.execute(sql`
          insert into ${auditLog} (at, actor_id, actor_email, actor_role, action, method, route, target_id, status_code, outcome, request_id, ip, token_id, details)
          select to_timestamp((e->>0)::numeric / 1000), (e->>1)::uuid, e->>2, e->>3, e->>4, e->>5, e->>6, e->>7, (e->>8)::integer, e->>9, e->>10, e->>11,
            (e->>12)::uuid, nullif(e->13, 'null'::jsonb)
          from jsonb_array_elements(${`[${rows.join(',')}]`}::jsonb) as e`);
      },
      { ...opts, log: app.log },
    );
    app.decorate('audit', buffer);
    buffer.start();
    app.decorateRequest('auditDetails', null);
    const responses = new WeakMap<FastifyRequest, FromResponse>();

    // Per route, at registration: whether and how it is audited. Only audited routes get the two hooks below, so a
    // read pays nothing for the audit and an audited call does no per-request route analysis (docs/PERFORMANCE.md).
    app.addHook('onRoute', (route) => {
      const url = route.url;
      if (url === undefined) return;
      const methods = Array.isArray(route.method) ? route.method : [route.method];
      const plans: Record<string, AuditPlan> = {};
      for (const method of methods) {
        const audited = route.config?.audit === true || (MUTATING_METHODS.has(method) && (url.startsWith('/api/') || url.startsWith(DASHBOARD_API)));
        if (!audited) continue;
        const action = url.startsWith(DASHBOARD_API) ? `dashboard.${auditAction(method, url.slice('/admin/queues'.length))}` : auditAction(method, url);
        const login = isLogin(url);
        plans[method] = { action, login, readsResponse: login || mayNameTarget(route.schema?.response) };
      }
      if (Object.keys(plans).length === 0) return;
      const planOf = (request: FastifyRequest) => plans[request.method];
      // A hook that could never read anything is not added: each hook is a step on every call (the trigger routes).
      if (Object.values(plans).some((plan) => plan.readsResponse)) {
        route.onSend = withHook(route.onSend, (request, reply, payload, done) => {
          if (reply.statusCode < 300 && planOf(request)?.readsResponse) responses.set(request, readResponse(payload));
          done(null, payload);
        });
      }
      route.onResponse = withHook(route.onResponse, (request, reply, done) => {
        const plan = planOf(request);
        if (plan) record(request, reply.statusCode, plan);
        done();
      });
    });

    function record(request: FastifyRequest, status: number, plan: AuditPlan): void {
      const { login } = plan;
      // A 401 means no valid user stands behind the token (request.user may hold an unverified or deleted id).
      const user = status === 401 ? undefined : (request.user as { id?: string; email?: string; role?: string; tokenId?: string } | undefined);
      if (!login && !user?.id) return;
      const fromResponse = responses.get(request);
      const actor = fromResponse?.user ?? (user?.id ? user : undefined);
      buffer.push(
        auditRow({
          at: Date.now(),
          actorId: actor?.id ?? null,
          actorEmail: storable(actor?.email || (login ? attemptedEmail(request) : null)),
          actorRole: actor?.role || null,
          action: plan.action,
          method: request.method,
          route: request.routeOptions.url as string,
          targetId: storable(auditTarget(request.params, login ? undefined : fromResponse?.createdId)),
          statusCode: status,
          outcome: status < 400 ? 'success' : 'failure',
          requestId: String(request.id),
          ip: storable(request.ip ?? null),
          tokenId: login ? null : (user?.tokenId ?? null),
          details: storableDetails(request.auditDetails),
        }),
      );
    }

    app.addHook('onClose', async () => {
      await buffer.close();
    });
  },
  { name: 'audit', dependencies: ['database', 'auth'] },
);
