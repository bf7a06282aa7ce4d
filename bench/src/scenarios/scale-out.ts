import { randomBytes } from 'node:crypto';
import { cpus } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { catalog, createQueue } from '@mm/jobs';
import { compare, type Measure, type Metric, type Scenario } from '../core/scenario.js';
import { closeQuietly, createBenchRedis, scanPayload } from '../fixtures/bench-queue.js';
import { JobWatch } from '../fixtures/job-watch.js';
import { startSshdFleet } from '../fixtures/sshd-fleet.js';
import { spawnWorker, waitForWorkers, type WorkerProcess } from '../fixtures/worker-process.js';
import { createTestDatabase } from '@mm/testing';
import type { Server } from '@mm/db';

const BATCH = 1_000;

/**
 * Queues `jobs` quick scans round-robin over the fleet while the queue is paused, starts `workers` scan-worker
 * processes, waits until all are connected, then resumes and times the drain: worker start-up is not counted.
 */
async function drainRate(opts: { databaseUrl: string; credentialsKey: string; servers: Server[]; jobs: number; workers: number }): Promise<{ jobsPerSecond: number; failed: number }> {
  const redis = createBenchRedis(`scale-${opts.workers}`);
  const queue = createQueue('scan', { connection: redis.url, prefix: redis.prefix });
  const watch = await JobWatch.start('scan', redis.url, redis.prefix);
  const procs: WorkerProcess[] = [];
  try {
    await queue.pause();
    for (let i = 0; i < opts.jobs; i += BATCH) {
      await queue.addBulk(
        Array.from({ length: Math.min(BATCH, opts.jobs - i) }, (_, k) => {
          const data = scanPayload((opts.servers[(i + k) % opts.servers.length] as Server).id);
          return { name: 'scan:quick', data, opts: { priority: catalog['scan:quick'].priority, jobId: data.scanId } };
        }),
      );
    }
    for (let w = 0; w < opts.workers; w++) {
      procs.push(spawnWorker({ kind: 'scan', databaseUrl: opts.databaseUrl, redisUrl: redis.url, prefix: redis.prefix, credentialsKey: opts.credentialsKey }));
    }
    await waitForWorkers(queue, opts.workers, procs);
    const started = process.hrtime.bigint();
    await queue.resume();
    // Generous: a tenth of a job per second per worker would already be a broken product.
    const deadline = Date.now() + (opts.jobs * 10_000) / opts.workers + 60_000;
    while (watch.completedCount + watch.failedCount < opts.jobs) {
      if (Date.now() > deadline) throw new Error(`only ${watch.completedCount} of ${opts.jobs} scans completed before the deadline`);
      await sleep(50);
    }
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    return { jobsPerSecond: watch.completedCount / seconds, failed: watch.failedCount };
  } finally {
    for (const p of procs) await p.stop();
    await watch.close();
    await closeQuietly(queue);
    await redis.cleanup();
  }
}

export const scaleOut: Scenario = {
  id: 'scale-out',
  title: '7. Scale-out: quick scans over loopback sshds drained by 1, 2 and 4 scan-worker processes',
  async run(config) {
    const db = await createTestDatabase();
    const credentialsKey = randomBytes(32).toString('hex');
    const fleet = await startSshdFleet(db, config.scaleOutServers, credentialsKey).catch(async (err: unknown) => {
      await db.drop();
      throw err;
    });
    try {
      const rates = new Map<number, { jobsPerSecond: number; failed: number }>();
      for (const workers of config.scaleOutWorkers) {
        const rate = await drainRate({ databaseUrl: db.url, credentialsKey, servers: fleet.servers, jobs: config.scaleOutJobs, workers });
        rates.set(workers, rate);
        config.log(`scale-out: ${workers} worker(s) ${rate.jobsPerSecond.toFixed(1)} jobs/s, ${rate.failed} failed`);
      }
      const one = rates.get(1);
      const single: Measure | undefined = one ? { label: '1 scan-worker process', median: one.jobsPerSecond, samples: [one.jobsPerSecond] } : undefined;
      const metrics: Metric[] = config.scaleOutWorkers.map((workers) => {
        const rate = rates.get(workers) as { jobsPerSecond: number };
        const measure: Measure = { label: `${workers} scan-worker process(es)`, median: rate.jobsPerSecond, samples: [rate.jobsPerSecond] };
        return compare(`quick scans drained, ${workers} worker(s) x concurrency 5 (ratio = speed-up)`, 'jobs/s', measure, workers === 1 ? undefined : single);
      });
      const failed = [...rates.values()].reduce((sum, r) => sum + r.failed, 0);
      return {
        metrics,
        notes: [
          `${config.scaleOutJobs} quick scans per worker count over ${config.scaleOutServers} sshds (127.0.0.2 ...), queued while paused, timed from resume to the last completed event; ${failed} failed.`,
          `This machine's ${cpus().length} cores are shared by sshd, the workers, Redis, PostgreSQL and the bench process: past that the speed-up is bounded by CPU, not by the design.`,
        ],
      };
    } finally {
      await fleet.stop();
      await db.drop();
    }
  },
};
