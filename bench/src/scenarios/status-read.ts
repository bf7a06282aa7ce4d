import { randomUUID } from 'node:crypto';
import { createProducer } from '@mm/jobs';
import { startBareApp } from '../baselines/bare-app.js';
import type { Scenario } from '../core/scenario.js';
import { startApi } from '../fixtures/api-server.js';
import { createBenchRedis, scanPayload, type BenchRedis } from '../fixtures/bench-queue.js';
import { createBenchWorld } from '../fixtures/bench-world.js';
import { compareHttp } from './http-compare.js';

/** Enqueues the same job ids on a prefix through the producer, as the API would. */
async function seedJobs(redis: BenchRedis, ids: string[], serverId: string): Promise<void> {
  const producer = createProducer({ connection: redis.url, prefix: redis.prefix });
  try {
    for (const scanId of ids) await producer.enqueue('scan:quick', { ...scanPayload(serverId), scanId });
  } finally {
    await producer.close();
  }
}

export const statusRead: Scenario = {
  id: 'status-read',
  title: '2. Status read: GET /api/jobs/:id vs a bare route doing getJob + getState',
  async run(config) {
    const world = await createBenchWorld();
    const productRedis = createBenchRedis('status-api');
    const baselineRedis = createBenchRedis('status-bare');
    try {
      const ids = Array.from({ length: config.quick ? 20 : 500 }, () => randomUUID());
      await seedJobs(productRedis, ids, world.server.id);
      await seedJobs(baselineRedis, ids, world.server.id);
      const api = await startApi({ db: world.db, login: world.login, redisUrl: productRedis.url, prefix: productRedis.prefix, credentialsKey: world.credentialsKey });
      const bare = await startBareApp(baselineRedis.url, baselineRedis.prefix);
      try {
        const metrics = await compareHttp(
          config,
          'status read',
          { label: 'bare route: getJob + getState', spec: { url: bare.url, headers: {}, requests: ids.map((id) => ({ method: 'GET' as const, path: `/bare/jobs/${id}` })) } },
          { label: 'API: JWT + job and state in one read + view', spec: { url: api.url, headers: { authorization: `Bearer ${api.token}` }, requests: ids.map((id) => ({ method: 'GET' as const, path: `/api/jobs/${id}` })) } },
          // Issue 13: 0.85 of a bare getJob + getState route at least, with auth and a log line on it.
          0.85,
        );
        return { metrics, notes: [`${ids.length} queued jobs read in rotation on each side.`] };
      } finally {
        await bare.close();
        await api.close();
      }
    } finally {
      await productRedis.cleanup();
      await baselineRedis.cleanup();
      await world.close();
    }
  },
};
