import { startBareApp } from '../baselines/bare-app.js';
import type { Scenario } from '../core/scenario.js';
import { startApi } from '../fixtures/api-server.js';
import { createBenchRedis } from '../fixtures/bench-queue.js';
import { createBenchWorld } from '../fixtures/bench-world.js';
import { compareHttp } from './http-compare.js';

const BODY = JSON.stringify({ scan_type: 'quick' });

export const enqueue: Scenario = {
  id: 'enqueue',
  title: '1. Enqueue: POST /api/servers/:id/scan vs a bare Fastify route doing only queue.add',
  async run(config) {
    const world = await createBenchWorld();
    const productRedis = createBenchRedis('enqueue-api');
    const baselineRedis = createBenchRedis('enqueue-bare');
    try {
      const api = await startApi({ db: world.db, login: world.login, redisUrl: productRedis.url, prefix: productRedis.prefix, credentialsKey: world.credentialsKey });
      const bare = await startBareApp(baselineRedis.url, baselineRedis.prefix);
      try {
        const metrics = await compareHttp(
          config,
          'enqueue',
          { label: 'bare route: queue.add', spec: { url: bare.url, headers: { 'content-type': 'application/json' }, requests: [{ method: 'POST', path: `/bare/servers/${world.server.id}/scan`, body: BODY }] } },
          {
            label: 'API: JWT + validation + server check + index + enqueue',
            spec: { url: api.url, headers: { 'content-type': 'application/json', authorization: `Bearer ${api.token}` }, requests: [{ method: 'POST', path: `/api/servers/${world.server.id}/scan`, body: BODY }] },
          },
          // Issue 13: the enqueue route at 0.7 of a bare queue.add route at least, with auth, validation, audit and a log line on it.
          0.7,
        );
        const held = await productRedis.redis.zcard(`${productRedis.prefix}:scan-queue:prioritized`);
        return { metrics, notes: [`The API wrote ${held} jobs during the run; no worker ran, so every job stayed queued (prioritized).`] };
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
