import fp from 'fastify-plugin';
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import { Idempotency } from '../shared/idempotency.js';
import { ServerLookup } from '../shared/server-lookup.js';
import type { ServerJobIndex } from '@mm/jobs';

declare module 'fastify' {
  interface FastifyInstance {
    servers: ServerLookup;
    serverJobs: ServerJobIndex;
    idempotency: Idempotency;
    eventLoopDelay: IntervalHistogram;
  }
}

/** The services the features share, built on the infrastructure plugins. */
export default fp(
  async (app) => {
    app.decorate('servers', new ServerLookup(app.db));
    app.decorate('serverJobs', app.queueBackend.serverJobs);
    app.decorate('idempotency', new Idempotency(app.queueBackend.kv, app.queuePrefix));
    const histogram = monitorEventLoopDelay({ resolution: 20 });
    histogram.enable();
    app.decorate('eventLoopDelay', histogram);
    app.addHook('onClose', async () => {
      histogram.disable();
    });
  },
  { name: 'shared-services', dependencies: ['database', 'queues'] },
);
