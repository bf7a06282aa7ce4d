import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { catalog, createQueue, createWorker } from '@mm/jobs';
import type { BenchRedis } from '../fixtures/bench-queue.js';
import { closeQuietly, scanPayload } from '../fixtures/bench-queue.js';
import { JobWatch } from '../fixtures/job-watch.js';

// Long enough for the idle worker to be back in its blocking wait before the next job.
const IDLE_MS = 20;

/** Pickup samples in ms, on the same clocks as the product's: from before the add call, and from the add resolving. */
export interface PickupSamples {
  fromAddCall: number[];
  fromAdded: number[];
}

/**
 * BullMQ add -> a bare processor reports progress 10 -> the progress event reaches this process, with an idle
 * worker: the floor under the API's pickup latency, ending where the product's ends (a progress event seen through
 * QueueEvents), so the two differ only by what the product adds (HTTP, auth, validation, audit, the worker runtime).
 */
export async function bullmqPickupSamples(redis: BenchRedis, samples: number): Promise<PickupSamples> {
  const queue = createQueue('scan', { connection: redis.url, prefix: redis.prefix });
  const worker = createWorker(
    'scan',
    async (job) => {
      await job.updateProgress(10);
    },
    { connection: redis.url, prefix: redis.prefix, concurrency: 1 },
  );
  worker.on('error', () => undefined);
  const watch = await JobWatch.start('scan', redis.url, redis.prefix);
  try {
    await worker.waitUntilReady();
    await queue.waitUntilReady();
    const serverId = randomUUID();
    const out: PickupSamples = { fromAddCall: [], fromAdded: [] };
    for (let i = 0; i < samples + 1; i++) {
      await sleep(IDLE_MS);
      const data = scanPayload(serverId);
      const called = process.hrtime.bigint();
      await queue.add('scan:quick', data, { priority: catalog['scan:quick'].priority, jobId: data.scanId });
      const added = process.hrtime.bigint();
      const progressed = await watch.firstProgress(data.scanId);
      // The next sample meets an idle worker again.
      await watch.completed(data.scanId);
      // The first job also pays for the worker's first fetch: not an idle pickup.
      if (i > 0) {
        out.fromAddCall.push(Number(progressed - called) / 1e6);
        out.fromAdded.push(Number(progressed - added) / 1e6);
      }
    }
    return out;
  } finally {
    await watch.close();
    await closeQuietly(worker);
    await closeQuietly(queue);
  }
}
