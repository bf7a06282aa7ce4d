import { setTimeout as sleep } from 'node:timers/promises';
import { createQueue } from '@mm/jobs';
import { bullmqPickupSamples } from '../baselines/bullmq-pickup.js';
import { compare, type Scenario } from '../core/scenario.js';
import { percentile } from '../core/stats.js';
import { startApi, type RunningApi } from '../fixtures/api-server.js';
import { closeQuietly, createBenchRedis } from '../fixtures/bench-queue.js';
import { createBenchWorld } from '../fixtures/bench-world.js';
import { JobWatch } from '../fixtures/job-watch.js';
import { spawnWorker, waitForWorkers } from '../fixtures/worker-process.js';

const IDLE_MS = 20;

/** POST -> 202 -> (worker picks the job up, reports progress 10) -> the progress event reaches this process. */
async function apiPickupSamples(api: RunningApi, serverId: string, watch: JobWatch, samples: number): Promise<{ fromAccepted: number[]; fromSent: number[] }> {
  const out = { fromAccepted: [] as number[], fromSent: [] as number[] };
  for (let i = 0; i < samples; i++) {
    await sleep(IDLE_MS);
    const sent = process.hrtime.bigint();
    const res = await fetch(`${api.url}/api/servers/${serverId}/scan`, {
      method: 'POST',
      headers: { authorization: `Bearer ${api.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ scan_type: 'quick' }),
    });
    const accepted = process.hrtime.bigint();
    const body = (await res.json()) as { data?: { jobId?: string } };
    const jobId = body.data?.jobId;
    if (res.status !== 202 || !jobId) throw new Error(`scan trigger answered ${res.status}`);
    const progressed = await watch.firstProgress(jobId);
    // Wait for the whole scan so the next sample meets an idle worker again.
    await watch.completed(jobId);
    out.fromAccepted.push(Number(progressed - accepted) / 1e6);
    out.fromSent.push(Number(progressed - sent) / 1e6);
  }
  return out;
}

export const pickup: Scenario = {
  id: 'pickup',
  title: "4. Pickup latency: API 202 -> the scan worker's first progress event, idle worker",
  async run(config) {
    const world = await createBenchWorld();
    const productRedis = createBenchRedis('pickup-api');
    const baselineRedis = createBenchRedis('pickup-bare');
    const api = await startApi({ db: world.db, login: world.login, redisUrl: productRedis.url, prefix: productRedis.prefix, credentialsKey: world.credentialsKey });
    const worker = spawnWorker({ kind: 'scan', databaseUrl: world.db.url, redisUrl: productRedis.url, prefix: productRedis.prefix, credentialsKey: world.credentialsKey });
    const queue = createQueue('scan', { connection: productRedis.url, prefix: productRedis.prefix });
    const watch = await JobWatch.start('scan', productRedis.url, productRedis.prefix);
    try {
      await waitForWorkers(queue, 1, [worker]);
      // One unmeasured job: the worker's first SSH connection and JIT warm-up are not pickup.
      await apiPickupSamples(api, world.server.id, watch, 1);
      const per = Math.max(1, Math.ceil(config.pickupSamples / config.rounds));
      const product: number[] = [];
      const fromSent: number[] = [];
      const baseline: number[] = [];
      for (let round = 0; round < config.rounds; round++) {
        baseline.push(...(await bullmqPickupSamples(baselineRedis, per)));
        const samples = await apiPickupSamples(api, world.server.id, watch, per);
        product.push(...samples.fromAccepted);
        fromSent.push(...samples.fromSent);
      }
      const p50 = percentile(product, 50);
      const b50 = percentile(baseline, 50);
      return {
        metrics: [
          compare(
            'pickup latency p50 (p99)',
            'ms',
            { label: 'API 202 -> first progress event (real scan worker process)', median: p50, p99: percentile(product, 99), samples: product },
            { label: 'BullMQ add -> processor start, one process', median: b50, p99: percentile(baseline, 99), samples: baseline },
            { text: 'p50 <= baseline p50 + 3 ms', check: () => p50 <= b50 + 3 },
          ),
          compare(
            'request sent -> first progress p50 (p99), for reference',
            'ms',
            { label: 'POST sent -> first progress event', median: percentile(fromSent, 50), p99: percentile(fromSent, 99), samples: fromSent },
            { label: 'BullMQ add -> processor start, one process', median: b50, p99: percentile(baseline, 99), samples: baseline },
          ),
        ],
        notes: [
          `${product.length} samples per side, ${IDLE_MS} ms idle before each; the product side waits for each scan to finish before the next.`,
          'The worker starts on the job while the 202 is still on its way to the client, so "from the 202" can be below the baseline; "from request sent" adds the HTTP round trip.',
        ],
      };
    } finally {
      await watch.close();
      await closeQuietly(queue);
      await worker.stop();
      await api.close();
      await productRedis.cleanup();
      await baselineRedis.cleanup();
      await world.close();
    }
  },
};
