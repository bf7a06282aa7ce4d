import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import cookie from '@fastify/cookie';
import queueRoutes from './queue-routes.js';
import dashboardRoutes from './dashboard-routes.js';

/** Queue administration: the /api/queues routes and the bull-board dashboard under /admin. */
const queues: FastifyPluginAsyncTypebox = async (app) => {
  await app.register(queueRoutes);
  // The dashboard's session cookie (set by POST /api/auth/session); no other route reads cookies.
  await app.register(async (dashboard) => {
    await dashboard.register(cookie);
    await dashboard.register(dashboardRoutes);
  });
};

export default queues;
