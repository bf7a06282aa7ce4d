import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { queueStoreName } from '../../shared/queue-guard.js';

const Up = Type.Union([Type.Literal('up'), Type.Literal('down')]);
// `redis` is the queue store, whichever backend runs it (its name kept for existing probes); `queueBackend` says which.
const HealthBody = Type.Object({
  status: Type.Union([Type.Literal('ok'), Type.Literal('unavailable')]),
  redis: Up,
  database: Up,
  queueBackend: Type.Union([Type.Literal('redis'), Type.Literal('postgres')]),
  message: Type.Optional(Type.String()),
});

/** GET /health: no auth, for load balancers. 503 names what is down. */
const health: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/health',
    {
      config: { auth: 'public', rateLimit: false },
      schema: { tags: ['health'], summary: 'Liveness of the queue store (Redis, or PostgreSQL on the PostgreSQL queue backend) and PostgreSQL', security: [], response: { 200: HealthBody, 503: HealthBody } },
    },
    async (_request, reply) => {
      const [redis, database] = await Promise.all([
        withTimeout(app.queueBackend.ping()),
        withTimeout(app.sql`select 1`),
      ]);
      // On the PostgreSQL queue backend both are the same server: named once.
      const down = [...new Set([redis ? null : queueStoreName(app.queueBackend), database ? null : 'PostgreSQL'])].filter((d): d is string => d !== null);
      const body = { status: down.length ? ('unavailable' as const) : ('ok' as const), redis: redis ? ('up' as const) : ('down' as const), database: database ? ('up' as const) : ('down' as const), queueBackend: app.queueBackend.kind };
      if (down.length === 0) return body;
      return reply.code(503).send({ ...body, message: `${down.join(' and ')} ${down.length > 1 ? 'are' : 'is'} down.` });
    },
  );
};

async function withTimeout(p: Promise<unknown>, ms = 1_500): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p.then(() => true), new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms)))]);
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}

export default health;
