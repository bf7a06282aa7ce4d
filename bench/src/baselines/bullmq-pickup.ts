import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { catalog, createQueue, createWorker } from '@mm/jobs';
import type { BenchRedis } from '../fixtures/bench-queue.js';
import { closeQuietly, scanPayload } from '../fixtures/bench-queue.js';

// Long enough for the idle worker to be back in its blocking wait before the next job.
const IDLE_MS = 20;

/** BullMQ add -> processor start, in one process, with an idle worker: the floor under the API's pickup latency. */
export async function bullmqPickupSamples(redis: BenchRedis, samples: number): Promise<number[]> {
  const queue = createQueue('scan', { connection: redis.url, prefix: redis.prefix });
  const started = new Map<string, (at: bigint) => void>();
  const worker = createWorker(
    'scan',
    async (job) => {
      started.get(job.id as string)?.(process.hrtime.bigint());
    },
    { connection: redis.url, prefix: redis.prefix, concurrency: 1 },
  );
  worker.on('error', () => undefined);
  try {
    await worker.waitUntilReady();
    await queue.waitUntilReady();
    const serverId = randomUUID();
    const out: number[] = [];
    for (let i = 0; i < samples + 1; i++) {
      await sleep(IDLE_MS);
      const data = scanPayload(serverId);
      const pickedUp = new Promise<bigint>((resolve) => started.set(data.scanId, resolve));
      const t0 = process.hrtime.bigint();
      await queue.add('scan:quick', data, { priority: catalog['scan:quick'].priority, jobId: data.scanId });
      const t1 = await pickedUp;
      started.delete(data.scanId);
      // The first job also pays for the worker's first fetch: not an idle pickup.
      if (i > 0) out.push(Number(t1 - t0) / 1e6);
    }
    return out;
  } finally {
    await closeQuietly(worker);
    await closeQuietly(queue);
  }
}

