import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import jobRoutes from './job-routes.js';
import cancelRoutes from './cancel-routes.js';
import logRoutes from './log-routes.js';

/** Jobs in the queues: read, list, stats, delete, retry, cancel, and their log lines. */
const jobs: FastifyPluginAsyncTypebox = async (app) => {
  await app.register(jobRoutes);
  await app.register(cancelRoutes);
  await app.register(logRoutes);
};

export default jobs;
