import fp from 'fastify-plugin';
import { createProducer, openQueueBackend, type BackendEnv, type Producer, type QueueBackend } from '@mm/jobs';

declare module 'fastify' {
  interface FastifyInstance {
    producer: Producer;
    /**
     * The queue backend (QUEUE_BACKEND, chosen once in @mm/jobs' openQueueBackend): its config, the stores for
     * idempotency keys, cancel markers and the job index, the inspector (job location, events replay) and the
     * broadcast (token revocation). Nothing in the API talks to Redis or BullMQ's tables but through it.
     */
    queueBackend: QueueBackend;
    queuePrefix: string;
  }
}

export type QueuesPluginOptions = BackendEnv;

/** Serve only once the connection is ready (or has failed once), so the first requests do not see a store still connecting. */
async function settleRedis(backend: QueueBackend, log: { warn(obj: object, msg: string): void }): Promise<void> {
  const redis = backend.redis;
  if (!redis) return;
  let lastErrorLog = 0;
  redis.on('error', (err: Error) => {
    // ioredis emits an error on every reconnect attempt: one line every 10 s is enough.
    if (Date.now() - lastErrorLog < 10_000) return;
    lastErrorLog = Date.now();
    log.warn({ err: { message: err.message } }, 'redis connection error');
  });
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
}

const SETTLE_MS = 10_000;

async function settlePostgres(queues: { waitUntilReady(): Promise<unknown> }[], log: { warn(obj: object, msg: string): void }): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<void>((resolve) => (timer = setTimeout(resolve, SETTLE_MS)));
  await Promise.race([Promise.all(queues.map((q) => q.waitUntilReady())), late])
    .catch((err: unknown) => log.warn({ err }, 'queue store (PostgreSQL) not ready at start'))
    .finally(() => clearTimeout(timer));
}

export default fp<QueuesPluginOptions>(
  async (app, env) => {
    const backend = openQueueBackend(env, 'producer');
    if (backend.redis) await settleRedis(backend, app.log);
    // PostgreSQL: one query tells whether it answers (isReady() follows every ping and pool error afterwards).
    else await backend.ping().catch((err: unknown) => app.log.warn({ err }, 'queue store (PostgreSQL) not answering at start'));
    const producer = createProducer(backend.queueConfig);
    for (const [alias, queue] of Object.entries(producer.queues)) {
      queue.on('error', (err) => app.log.warn({ queue: alias, err: { message: err.message } }, 'queue error'));
    }
    // PostgreSQL: each queue's pool connects on first use, which under load can take longer than a request's 1.5 s
    // ceiling (withQueue): connect now, so the first trigger does not answer 503. A failure here is only logged.
    if (!backend.redis) await settlePostgres(Object.values(producer.queues), app.log);
    app.decorate('producer', producer);
    app.decorate('queueBackend', backend);
    app.decorate('queuePrefix', env.QUEUE_PREFIX);
    app.addHook('onClose', async () => {
      await producer.close();
      await backend.close();
    });
  },
  { name: 'queues' },
);
