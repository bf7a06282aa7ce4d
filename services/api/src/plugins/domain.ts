import fp from 'fastify-plugin';
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import { Idempotency } from '../domain/idempotency.js';
import { ServerLookup } from '../domain/server-lookup.js';
import { ServerJobIndex } from '@mm/jobs';

declare module 'fastify' {
  interface FastifyInstance {
    servers: ServerLookup;
    serverJobs: ServerJobIndex;
    idempotency: Idempotency;
    eventLoopDelay: IntervalHistogram;
  }
}

/** The domain services routes share, built on the infrastructure plugins. */
export default fp(
  async (app) => {
    app.decorate('servers', new ServerLookup(app.db));
    app.decorate('serverJobs', new ServerJobIndex(app.redis, app.queuePrefix));
    app.decorate('idempotency', new Idempotency(app.redis, app.queuePrefix));
    const histogram = monitorEventLoopDelay({ resolution: 20 });
    histogram.enable();
    app.decorate('eventLoopDelay', histogram);
    app.addHook('onClose', async () => {
      histogram.disable();
    });
  },
  { name: 'domain', dependencies: ['database', 'queues'] },
);
