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
  title: "4. Pickup latency: a scan request -> the worker's first progress event, idle worker",
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
      const fromSent: number[] = [];
      const fromAccepted: number[] = [];
      const fromAddCall: number[] = [];
      const fromAdded: number[] = [];
      for (let round = 0; round < config.rounds; round++) {
        const base = await bullmqPickupSamples(baselineRedis, per);
        fromAddCall.push(...base.fromAddCall);
        fromAdded.push(...base.fromAdded);
        const samples = await apiPickupSamples(api, world.server.id, watch, per);
        fromSent.push(...samples.fromSent);
        fromAccepted.push(...samples.fromAccepted);
      }
      const p50 = percentile(fromSent, 50);
      const b50 = percentile(fromAddCall, 50);
      return {
        metrics: [
          compare(
            'pickup latency p50 (p99), clocks started before the request / the add call',
            'ms',
            { label: 'POST sent -> first progress event (API, real scan worker process)', median: p50, p99: percentile(fromSent, 99), samples: fromSent },
            { label: 'queue.add called -> first progress event (bare BullMQ worker)', median: b50, p99: percentile(fromAddCall, 99), samples: fromAddCall },
            { text: 'p50 <= baseline p50 + 3 ms', check: () => p50 <= b50 + 3 },
          ),
          compare(
            'pickup latency p50 (p99), clocks started when the 202 arrived / the add resolved',
            'ms',
            { label: '202 received -> first progress event', median: percentile(fromAccepted, 50), p99: percentile(fromAccepted, 99), samples: fromAccepted },
            { label: 'queue.add resolved -> first progress event', median: percentile(fromAdded, 50), p99: percentile(fromAdded, 99), samples: fromAdded },
          ),
        ],
        notes: [
          `${fromSent.length} samples per side, ${IDLE_MS} ms idle before each; both sides wait for each job to finish before the next, and both end at the progress event seen through QueueEvents.`,
          'The first pair is the comparison: the product side includes the HTTP request, auth, validation and the audit entry, as a client sees it. The second starts both clocks after the enqueue returned; there the worker may already be on the job while the 202 travels back, so it can be below the baseline.',
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
