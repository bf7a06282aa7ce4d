import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { ApiEnv } from '../../env.js';
import prometheusRoutes from './prometheus-routes.js';
import systemRoutes from './system-routes.js';

/** GET /metrics (Prometheus text) and the JSON metrics under /api/metrics. */
const metrics: FastifyPluginAsyncTypebox<{ env: ApiEnv }> = async (app, { env }) => {
  await app.register(prometheusRoutes, { token: env.METRICS_TOKEN });
  await app.register(systemRoutes, { degradedThreshold: env.DEGRADED_WAITING_THRESHOLD });
};

export default metrics;
