import Fastify, { type FastifyInstance } from 'fastify';
import { catalog, createProducer, createRedisConnection, type Producer } from '@mm/jobs';
import { scanPayload } from '../fixtures/bench-queue.js';

export interface BareApp {
  url: string;
  producer: Producer;
  close(): Promise<void>;
}

/**
 * The baselines of scenarios 1 and 2: Fastify with no plugins, one route that does only `queue.add` with the
 * catalog's options (the API's design writes nothing to PostgreSQL per enqueue), one that does only
 * `getJob` + `getState`. Same Redis connection kind as the API's producer.
 */
export async function startBareApp(redisUrl: string, prefix: string): Promise<BareApp> {
  const redis = createRedisConnection(redisUrl, 'producer');
  const producer = createProducer({ connection: redis, prefix });
  const queue = producer.queue('scan');
  const app: FastifyInstance = Fastify({ logger: false });

  app.post<{ Params: { serverId: string } }>('/bare/servers/:serverId/scan', async (request, reply) => {
    const data = scanPayload(request.params.serverId);
    await queue.add('scan:quick', data, { priority: catalog['scan:quick'].priority, jobId: data.scanId });
    return reply.code(202).send({ success: true, data: { scanId: data.scanId, jobId: data.scanId, status: 'pending' } });
  });

  app.get<{ Params: { id: string } }>('/bare/jobs/:id', async (request, reply) => {
    const job = await queue.getJob(request.params.id);
    if (!job) return reply.code(404).send({ success: false });
    const state = await job.getState();
    return { success: true, data: { id: job.id, name: job.name, state, progress: job.progress, createdAt: new Date(job.timestamp).toISOString() } };
  });

  const address = await app.listen({ host: '127.0.0.1', port: 0 });
  return {
    url: address,
    producer,
    async close() {
      await app.close();
      await producer.close();
      redis.disconnect();
    },
  };
}
