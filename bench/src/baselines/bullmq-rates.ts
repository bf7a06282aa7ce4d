import { randomUUID } from 'node:crypto';
import { catalog, createQueue, createWorker } from '@mm/jobs';
import type { BenchRedis } from '../fixtures/bench-queue.js';
import { closeQuietly, scanPayload } from '../fixtures/bench-queue.js';
import { msSince } from '../core/stats.js';

/** Adds `count` scan jobs with the catalog's options, `inFlight` at a time, as 50 HTTP connections would. Returns jobs/s. */
export async function bullmqAddRate(redis: BenchRedis, count: number, inFlight = 50): Promise<number> {
  const queue = createQueue('scan', { connection: redis.url, prefix: redis.prefix });
  try {
    await queue.waitUntilReady();
    const serverId = randomUUID();
    let next = 0;
    const started = process.hrtime.bigint();
    await Promise.all(
      Array.from({ length: inFlight }, async () => {
        while (next < count) {
          next += 1;
          const data = scanPayload(serverId);
          await queue.add('scan:quick', data, { priority: catalog['scan:quick'].priority, jobId: data.scanId });
        }
      }),
    );
    return count / (msSince(started) / 1_000);
  } finally {
    await closeQuietly(queue);
  }
}

/** Jobs/s of a worker whose processor does nothing, over `count` jobs queued beforehand. */
export async function bullmqNoopRate(redis: BenchRedis, count: number, concurrency: number): Promise<number> {
  const queue = createQueue('scan', { connection: redis.url, prefix: redis.prefix });
  try {
    const serverId = randomUUID();
    for (let i = 0; i < count; i += 1_000) {
      const batch = Array.from({ length: Math.min(1_000, count - i) }, () => {
        const data = scanPayload(serverId);
        return { name: 'scan:quick', data, opts: { priority: catalog['scan:quick'].priority, jobId: data.scanId } };
      });
      await queue.addBulk(batch);
    }
    const worker = createWorker('scan', async () => undefined, { connection: redis.url, prefix: redis.prefix, concurrency, autorun: false });
    worker.on('error', () => undefined); // a closing connection during teardown is not a result
    try {
      let done = 0;
      const finished = new Promise<void>((resolve) => {
        worker.on('completed', () => {
          done += 1;
          if (done === count) resolve();
        });
      });
      const started = process.hrtime.bigint();
      worker.run().catch(() => undefined); // run() resolves only at close; completion is awaited below
      await finished;
      return count / (msSince(started) / 1_000);
    } finally {
      await closeQuietly(worker);
    }
  } finally {
    await closeQuietly(queue);
  }
}
