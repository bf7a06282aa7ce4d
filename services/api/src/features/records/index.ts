import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import serverRecordRoutes from './server-record-routes.js';
import recordRoutes from './record-routes.js';

/** The workers' records (backups, scans, updates): one by id, or a server's, newest first. */
const records: FastifyPluginAsyncTypebox = async (app) => {
  await app.register(serverRecordRoutes);
  await app.register(recordRoutes);
};

export default records;
