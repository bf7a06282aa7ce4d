import fp from 'fastify-plugin';
import { collectDefaultMetrics, Histogram, Registry } from 'prom-client';
import { registerQueueGauges } from './queue-gauges.js';

declare module 'fastify' {
  interface FastifyInstance {
    metricsRegistry: Registry;
  }
}

/**
 * Prometheus metrics of this API process: default process metrics, HTTP latency by route pattern
 * (never the raw URL, whose ids would make one series per job), and queue gauges read at scrape time.
 * A registry per app, so several apps in one test process do not collide.
 */
export default fp(
  async (app) => {
    const registry = new Registry();
    collectDefaultMetrics({ register: registry });
    const latency = new Histogram({
      name: 'http_request_duration_seconds',
      help: 'HTTP request latency by method, route pattern and status code',
      labelNames: ['method', 'route', 'status_code'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    });
    registerQueueGauges(registry, app.producer, app.queueBackend);
    app.decorate('metricsRegistry', registry);

    // In memory only: the hot path gains no I/O. A callback hook (no promise per request); the route's label is read
    // from its config (one routeOptions object per request, not two).
    app.addHook('onResponse', (request, reply, done) => {
      const config = request.routeOptions.config;
      // An SSE response lasts as long as the client stays: not a latency.
      if (!config?.sse) {
        latency.observe({ method: request.method, route: config?.url ?? 'unmatched', status_code: String(reply.statusCode) }, reply.elapsedTime / 1_000);
      }
      done();
    });
  },
  { name: 'prometheus', dependencies: ['queues'] },
);
