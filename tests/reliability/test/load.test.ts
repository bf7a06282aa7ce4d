import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QueueName } from '@mm/jobs';
import { acceptedJobId } from './support/envelope.js';
import { percentiles } from './support/latency.js';
import { rssKiB } from './support/rss.js';
import { sizes } from './support/sizes.js';
import { createStack, type Api, type Stack } from './support/stack.js';

/*
 * Load against the API child process: C concurrent enqueue loops plus C concurrent status polls for N seconds
 * (CI: 10 s x 50; `pnpm soak`: 60 s x 200, then 10 minutes x 200). No worker runs, so every accepted job must
 * still be in Redis afterwards. RATE_LIMIT_MAX is raised for the child: all requests come from one client IP,
 * and the default (300/min) would answer 429 to nearly all of them. RSS (VmRSS) is sampled every second and
 * reported; it is asserted only loosely (final < 2x after warm-up). Latencies are reported, never asserted.
 */

let stack: Stack;
let api: Api;
let serverId: string;

beforeAll(async () => {
  stack = await createStack();
  api = await stack.startApi({ RATE_LIMIT_MAX: '100000000', LOG_LEVEL: 'warn' });
  const res = await api.client.request('POST', '/api/servers', {
    name: 'load-target',
    host: '127.0.0.1',
    username: 'deploy',
    auth: { type: 'password', password: randomBytes(12).toString('hex') },
  });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  serverId = (res.body as { data: { id: string } }).data.id;
});

afterAll(async () => {
  await stack?.cleanup();
});

describe('load', () => {
  for (const [phase, { seconds, concurrency }] of sizes.loadPhases.entries()) {
    it(`phase ${phase + 1}: ${seconds} s of ${concurrency} enqueuers + ${concurrency} pollers: no 5xx, no lost job, flat RSS`, async () => {
      const accepted: string[] = [];
      const statuses = new Map<number, number>();
      const errors: string[] = [];
      const enqueueMs: number[] = [];
      const pollMs: number[] = [];
      const rss: number[] = [];
      const until = Date.now() + seconds * 1_000;
      const count = (status: number) => statuses.set(status, (statuses.get(status) ?? 0) + 1);

      const timed = async (samples: number[], call: () => Promise<{ status: number; body: unknown }>) => {
        const started = performance.now();
        try {
          const res = await call();
          samples.push(performance.now() - started);
          count(res.status);
          return res;
        } catch (err) {
          errors.push((err as Error).message);
          return undefined;
        }
      };
      const enqueuer = async () => {
        while (Date.now() < until) {
          const res = await timed(enqueueMs, () => api.client.request('POST', `/api/servers/${serverId}/scan`, { scan_type: 'quick' }));
          if (res?.status === 202) accepted.push(acceptedJobId(res));
        }
      };
      const poller = async () => {
        while (Date.now() < until) {
          const id = accepted[Math.floor(Math.random() * accepted.length)];
          // Nothing accepted yet: poll the listing instead of a job.
          await timed(pollMs, () => api.client.request('GET', id ? `/api/jobs/${id}` : '/api/jobs?limit=5'));
        }
      };
      const sampler = async () => {
        while (Date.now() < until) {
          rss.push(await rssKiB(api.process.pid));
          await delay(1_000);
        }
      };
      await Promise.all([sampler(), ...Array.from({ length: concurrency }, enqueuer), ...Array.from({ length: concurrency }, poller)]);
      rss.push(await rssKiB(api.process.pid));

      const fiveXX = [...statuses].filter(([status]) => status >= 500);
      const warm = rss[Math.min(rss.length - 1, Math.max(2, Math.floor(rss.length / 5)))] as number;
      const final = rss[rss.length - 1] as number;
      const report = {
        phase: phase + 1,
        seconds,
        concurrency,
        requests: enqueueMs.length + pollMs.length,
        perSecond: Math.round((enqueueMs.length + pollMs.length) / seconds),
        statuses: Object.fromEntries(statuses),
        accepted: accepted.length,
        enqueueMs: percentiles(enqueueMs),
        pollMs: percentiles(pollMs),
        rssMiB: { start: Math.round((rss[0] ?? 0) / 1024), afterWarmUp: Math.round(warm / 1024), max: Math.round(Math.max(...rss) / 1024), final: Math.round(final / 1024) },
      };
      console.info(`load report ${JSON.stringify(report)}`);

      expect(errors.slice(0, 5)).toEqual([]);
      expect(fiveXX).toEqual([]);
      expect([...statuses.keys()].filter((s) => s !== 200 && s !== 202)).toEqual([]);
      expect(accepted.length).toBeGreaterThan(0);
      // Zero lost jobs: each 202's job is in Redis under its id (no worker runs, so none has left).
      const queueKey = `${stack.prefix}:${QueueName.scan}:`;
      for (let i = 0; i < accepted.length; i += 1_000) {
        const batch = accepted.slice(i, i + 1_000);
        const present = await stack.redis.exists(...batch.map((id) => queueKey + id));
        expect(present).toBe(batch.length);
      }
      expect(final).toBeLessThan(2 * warm);
    });
  }
});
