import fp from 'fastify-plugin';
import type { Redis } from 'ioredis';
import { createProducer, createRedisConnection, type Producer } from '@mm/jobs';

declare module 'fastify' {
  interface FastifyInstance {
    producer: Producer;
    /** The producer's fail-fast connection, shared with idempotency keys, indexes and metrics. */
    redis: Redis;
    queuePrefix: string;
  }
}

export interface QueuesPluginOptions {
  redisUrl: string;
  prefix: string;
}

export default fp<QueuesPluginOptions>(
  async (app, { redisUrl, prefix }) => {
    const redis = createRedisConnection(redisUrl, 'producer');
    let lastErrorLog = 0;
    redis.on('error', (err: Error) => {
      // ioredis emits an error on every reconnect attempt: one line every 10 s is enough.
      if (Date.now() - lastErrorLog < 10_000) return;
      lastErrorLog = Date.now();
      app.log.warn({ err: { message: err.message } }, 'redis connection error');
    });
    // Serve only once the connection is ready (or has failed once), so the first requests do not see a Redis still connecting.
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 3_000);
      const done = () => {
        clearTimeout(timer);
        redis.off('ready', done);
        redis.off('error', done);
        resolve();
      };
      if (redis.status === 'ready') return done();
      redis.once('ready', done);
      redis.once('error', done);
    });
    const producer = createProducer({ connection: redis, prefix });
    for (const [alias, queue] of Object.entries(producer.queues)) {
      queue.on('error', (err) => app.log.warn({ queue: alias, err: { message: err.message } }, 'queue error'));
    }
    app.decorate('producer', producer);
    app.decorate('redis', redis);
    app.decorate('queuePrefix', prefix);
    app.addHook('onClose', async () => {
      await producer.close();
      redis.disconnect();
    });
  },
  { name: 'queues' },
);
