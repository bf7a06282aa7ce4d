import fp from 'fastify-plugin';
import { EventHub } from '../domain/event-hub.js';
import type { SseStream } from '../domain/sse-stream.js';

declare module 'fastify' {
  interface FastifyInstance {
    events: EventHub;
    /** Open SSE responses, ended before the server closes (they would otherwise hold `close()` forever). */
    sseStreams: Set<SseStream>;
  }
}

const HEARTBEAT_MS = 15_000;

/** The process-wide event hub (one QueueEvents per queue, opened on first use) and the open SSE streams. */
export default fp(
  async (app) => {
    const hub = new EventHub(app.redis, app.queuePrefix, app.log);
    const streams = new Set<SseStream>();
    app.decorate('events', hub);
    app.decorate('sseStreams', streams);
    // One timer for every stream, not one per client.
    const heartbeat = setInterval(() => {
      for (const stream of streams) stream.ping();
    }, HEARTBEAT_MS);
    heartbeat.unref();
    app.addHook('preClose', async () => {
      clearInterval(heartbeat);
      for (const stream of [...streams]) stream.end();
    });
    app.addHook('onClose', async () => {
      await hub.close();
    });
  },
  { name: 'events', dependencies: ['queues'] },
);
