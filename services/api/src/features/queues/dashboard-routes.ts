import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import { queueAliases } from '@mm/jobs';
import { SESSION_COOKIE, sessionUser } from '../../shared/admin-session.js';
import type { CachedUser } from '../../shared/user-cache.js';
import { loginPage, refusedPage } from './dashboard-pages.js';

export const DASHBOARD_PATH = '/admin/queues';

const wantsHtml = (request: FastifyRequest) => request.method === 'GET' && (request.headers.accept ?? '').includes('text/html');

/**
 * The bull-board dashboard (a maintained one, not home-made) at /admin/queues, for admins only, on the
 * producer's own queues. A page load carries no Bearer header, so the guard reads the session cookie
 * set by POST /api/auth/session (see domain/admin-session.ts).
 */
const dashboard: FastifyPluginAsync = async (app) => {
  app.get('/admin/login', { schema: { hide: true }, config: { auth: 'public' } }, async (_request, reply) =>
    reply.type('text/html; charset=utf-8').send(loginPage(DASHBOARD_PATH)),
  );

  await app.register(async (guarded) => {
    guarded.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
      let user: CachedUser | null;
      try {
        user = await sessionUser(request.cookies[SESSION_COOKIE], (token) => app.jwt.verify(token), app.users);
      } catch (err) {
        request.log.warn({ err }, 'dashboard session lookup failed');
        return reply.code(503).send({ success: false, error: { code: 'SERVICE_UNAVAILABLE', message: 'The database is unavailable; try again shortly.' } });
      }
      if (!user) {
        if (wantsHtml(request)) return reply.redirect('/admin/login');
        return reply.code(401).send({ success: false, error: { code: 'UNAUTHORIZED', message: 'Log in at /admin/login (an admin session cookie is required).' } });
      }
      // Who acted, for the audit of bull-board's mutating calls (plugins/audit.ts), refused ones included.
      request.user = user;
      if (user.role !== 'admin') {
        request.log.info({ userId: user.id, role: user.role }, 'dashboard refused');
        if (wantsHtml(request)) return reply.code(403).type('text/html; charset=utf-8').send(refusedPage());
        return reply.code(403).send({ success: false, error: { code: 'FORBIDDEN', message: 'The dashboard needs the admin role.' } });
      }
      return undefined;
    });

    const serverAdapter = new FastifyAdapter();
    serverAdapter.setBasePath(DASHBOARD_PATH);
    createBullBoard({
      queues: queueAliases.map((alias) => new BullMQAdapter(app.producer.queue(alias))),
      serverAdapter,
      options: { uiConfig: { boardTitle: 'Medicine Man' } },
    });
    await guarded.register(serverAdapter.registerPlugin(), { prefix: DASHBOARD_PATH });
  });
};

export default dashboard;
