import type { Scenario } from '../core/scenario.js';
import { startApi, type RunningApi } from '../fixtures/api-server.js';
import { createBenchRedis } from '../fixtures/bench-queue.js';
import { createBenchWorld } from '../fixtures/bench-world.js';
import { holdJobs } from '../fixtures/held-jobs.js';
import { compareHttp, type HttpSide } from './http-compare.js';

// Throughput of the large case at least 1/1.5 of the small case's: "within 1.5x".
const MIN_RATIO = Math.round((1 / 1.5) * 100) / 100;

export const listing: Scenario = {
  id: 'listing',
  title: '3. Listing at scale: GET /api/jobs?limit=20 and ?state=failed&limit=20, small vs large job count',
  async run(config) {
    const { small, large } = config.listingSizes;
    const world = await createBenchWorld();
    const smallRedis = createBenchRedis('listing-small');
    const largeRedis = createBenchRedis('listing-large');
    const apis: RunningApi[] = [];
    try {
      const started = Date.now();
      const heldSmall = await holdJobs(smallRedis, small);
      const heldLarge = await holdJobs(largeRedis, large);
      config.log(`listing: ${small} + ${large} jobs held in ${((Date.now() - started) / 1_000).toFixed(1)} s`);
      const smallApi = await startApi({ db: world.db, login: world.login, redisUrl: smallRedis.url, prefix: smallRedis.prefix, credentialsKey: world.credentialsKey });
      apis.push(smallApi);
      const largeApi = await startApi({ db: world.db, login: world.login, redisUrl: largeRedis.url, prefix: largeRedis.prefix, credentialsKey: world.credentialsKey });
      apis.push(largeApi);
      const side = (api: RunningApi, count: number, path: string): HttpSide => ({
        label: `${count.toLocaleString('en-US')} jobs held`,
        spec: { url: api.url, headers: { authorization: `Bearer ${api.token}` }, requests: [{ method: 'GET', path }] },
      });
      const metrics = [];
      for (const path of ['/api/jobs?limit=20', '/api/jobs?state=failed&limit=20']) {
        metrics.push(...(await compareHttp(config, `GET ${path} (${large.toLocaleString('en-US')} vs ${small.toLocaleString('en-US')} jobs)`, side(smallApi, small, path), side(largeApi, large, path), MIN_RATIO)));
      }
      return {
        metrics,
        notes: [
          `Baseline column = the same request with ${small} jobs held (${heldSmall.failed} failed); product column = ${large} jobs held (${heldLarge.failed} failed, ${heldLarge.queued} queued).`,
          `Target "within 1.5x": the large case's throughput >= ${MIN_RATIO} of the small case's.`,
        ],
      };
    } finally {
      for (const api of apis) await api.close();
      await smallRedis.cleanup();
      await largeRedis.cleanup();
      await world.close();
    }
  },
};
