import { randomBytes, randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Queue } from 'bullmq';
import {
  createProducer,
  createQueue,
  createWorker,
  openQueueBackend,
  prepareQueueBackend,
  type AnyQueueConfig,
  type BackendEnv,
  type QueueBackendKind,
} from '@mm/jobs';
import { createTestDatabase, type TestDatabase } from '@mm/testing';
import type { Server } from '@mm/db';
import { compare, type Measure, type Metric, type Scenario } from '../core/scenario.js';
import { median, msSince, percentile } from '../core/stats.js';
import type { BenchConfig } from '../core/config.js';
import { benchEnv } from '../env.js';
import { closeQuietly, createBenchRedis, scanPayload } from '../fixtures/bench-queue.js';
import { startSshdFleet } from '../fixtures/sshd-fleet.js';
import { spawnWorker, type WorkerProcess } from '../fixtures/worker-process.js';

const BACKENDS: readonly QueueBackendKind[] = ['redis', 'postgres'];
const LABEL: Record<QueueBackendKind, string> = { redis: 'Redis', postgres: 'PostgreSQL' };
const IN_FLIGHT = 50;
// Long enough for an idle worker to be back in its wait (Redis: a blocking pop; PostgreSQL: LISTEN) before the next job.
const IDLE_MS = 20;

/**
 * One phase's own queue store, emptied afterwards: a fresh key prefix on Redis, a fresh database on PostgreSQL (BullMQ's
 * tables live in schema `bullmq` of the database, which no prefix separates). `db` gives PostgreSQL an existing database
 * (the one the records live in, as in the zero-setup deployment) instead of a new one.
 */
async function withBackend<T>(kind: QueueBackendKind, phase: string, run: (env: BackendEnv) => Promise<T>, db?: TestDatabase): Promise<T> {
  if (kind === 'redis') {
    const redis = createBenchRedis(`backends-${phase}`);
    try {
      return await run({ QUEUE_BACKEND: 'redis', REDIS_URL: redis.url, QUEUE_PREFIX: redis.prefix, DATABASE_URL: db?.url ?? 'postgres://unused/none' });
    } finally {
      await redis.cleanup();
    }
  }
  const own = db ? undefined : await createTestDatabase();
  const url = (db ?? own)!.url;
  try {
    const env: BackendEnv = { QUEUE_BACKEND: 'postgres', REDIS_URL: benchEnv.REDIS_URL, QUEUE_PREFIX: `mmbench-backends-${randomBytes(4).toString('hex')}`, DATABASE_URL: url };
    await prepareQueueBackend(env);
    return await run(env);
  } finally {
    await own?.drop();
  }
}

/** The product's enqueue (payload validated, the catalog's id and options), IN_FLIGHT at a time as concurrent HTTP requests would. */
async function enqueueRate(env: BackendEnv, count: number): Promise<number> {
  const backend = openQueueBackend(env, 'producer');
  const producer = createProducer(backend.queueConfig);
  try {
    const serverId = randomUUID();
    // Connections and (on PostgreSQL) pools warm up outside the timed part.
    await producer.enqueue('scan:quick', scanPayload(serverId));
    let next = 0;
    const started = process.hrtime.bigint();
    await Promise.all(
      Array.from({ length: IN_FLIGHT }, async () => {
        while (next < count) {
          next += 1;
          await producer.enqueue('scan:quick', scanPayload(serverId));
        }
      }),
    );
    return count / (msSince(started) / 1_000);
  } finally {
    await producer.close();
    await backend.close();
  }
}

/** add() called -> an idle worker's processor starts: one job at a time, both stamps on this process's clock. */
async function pickupSamples(env: BackendEnv, samples: number): Promise<number[]> {
  const backend = openQueueBackend(env, 'worker');
  const config: AnyQueueConfig = backend.queueConfig;
  const queue = createQueue('scan', config);
  const started = new Map<string, (at: bigint) => void>();
  const worker = createWorker(
    'scan',
    async (job) => {
      started.get(job.id ?? '')?.(process.hrtime.bigint());
    },
    { ...config, concurrency: 1 },
  );
  worker.on('error', () => undefined); // a closing connection during teardown is not a result
  try {
    await worker.waitUntilReady();
    const serverId = randomUUID();
    const out: number[] = [];
    for (let i = 0; i < samples + 1; i++) {
      await sleep(IDLE_MS);
      const data = scanPayload(serverId);
      const picked = new Promise<bigint>((resolve) => started.set(data.scanId, resolve));
      const called = process.hrtime.bigint();
      await queue.add('scan:quick', data, { jobId: data.scanId });
      const at = await Promise.race([picked, sleep(30_000).then(() => undefined)]);
      if (at === undefined) throw new Error(`${env.QUEUE_BACKEND}: job ${data.scanId} not picked up within 30 s`);
      started.delete(data.scanId);
      // The first job also pays for the worker's first fetch: not an idle pickup.
      if (i > 0) out.push(Number(at - called) / 1e6);
    }
    return out;
  } finally {
    await closeQuietly(worker);
    await closeQuietly(queue);
    await backend.close();
  }
}

async function finishedCounts(queue: Queue): Promise<{ completed: number; failed: number }> {
  const counts = await queue.getJobCounts('completed', 'failed');
  return { completed: counts.completed ?? 0, failed: counts.failed ?? 0 };
}

/** Until `total` more jobs than `before` have finished: the PostgreSQL rounds share one database, whose queue keeps finished jobs. */
async function waitForCounts(queue: Queue, before: { completed: number; failed: number }, total: number, deadline: number): Promise<{ completed: number; failed: number }> {
  for (;;) {
    const now = await finishedCounts(queue);
    const completed = now.completed - before.completed;
    const failed = now.failed - before.failed;
    if (completed + failed >= total) return { completed, failed };
    if (Date.now() > deadline) throw new Error(`only ${completed} of ${total} scans completed (${failed} failed) before the deadline`);
    await sleep(50);
  }
}

/**
 * `jobs` real quick scans (SSH to the loopback fleet, the record written) queued while the queue is paused, drained by
 * one scan-worker process (the bundle `pnpm start` runs, concurrency 5) on this backend: timed from resume to the last.
 */
async function scanThroughput(
  env: BackendEnv,
  opts: { databaseUrl: string; credentialsKey: string; servers: Server[]; jobs: number },
): Promise<{ jobsPerSecond: number; failed: number }> {
  const backend = openQueueBackend(env, 'producer');
  const producer = createProducer(backend.queueConfig);
  const queue = producer.queue('scan');
  let worker: WorkerProcess | undefined;
  try {
    await queue.pause();
    for (let i = 0; i < opts.jobs; i++) await producer.enqueue('scan:quick', scanPayload((opts.servers[i % opts.servers.length] as Server).id));
    worker = spawnWorker({
      kind: 'scan',
      databaseUrl: opts.databaseUrl,
      redisUrl: env.REDIS_URL,
      prefix: env.QUEUE_PREFIX,
      credentialsKey: opts.credentialsKey,
      extraEnv: { QUEUE_BACKEND: env.QUEUE_BACKEND },
    });
    await waitForWorker(queue, worker);
    const before = await finishedCounts(queue);
    const started = process.hrtime.bigint();
    await queue.resume();
    const { completed, failed } = await waitForCounts(queue, before, opts.jobs, Date.now() + opts.jobs * 2_000 + 60_000);
    return { jobsPerSecond: completed / (msSince(started) / 1_000), failed };
  } finally {
    await worker?.stop();
    await producer.close();
    await backend.close();
  }
}

/** Until the worker process has connected to the queue (BullMQ lists its workers on both backends), or has died. */
async function waitForWorker(queue: Queue, worker: WorkerProcess, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while ((await queue.getWorkersCount()) < 1) {
    if (Date.now() > deadline) {
      await worker.stop(); // reports why, if it died
      throw new Error(`the scan worker did not connect within ${timeoutMs} ms`);
    }
    await sleep(100);
  }
}

function measure(label: string, samples: number[]): Measure {
  return { label, median: median(samples), samples };
}

function latency(label: string, samples: number[]): Measure {
  return { label, median: median(samples), p99: percentile(samples, 99), samples };
}

async function runBackends(config: BenchConfig): Promise<{ metrics: Metric[]; notes: string[] }> {
  const sizes = config.backendSizes;
  const enqueue = new Map<QueueBackendKind, number[]>();
  const pickup = new Map<QueueBackendKind, number[]>();
  const scans = new Map<QueueBackendKind, number[]>();
  let failedScans = 0;

  // A, B rounds: Redis then PostgreSQL each round, so a busy moment of the shared machine falls on both.
  for (let round = 0; round < config.rounds; round++) {
    for (const kind of BACKENDS) {
      const rate = await withBackend(kind, 'enqueue', (env) => enqueueRate(env, sizes.enqueueJobs));
      enqueue.set(kind, [...(enqueue.get(kind) ?? []), rate]);
      config.log(`backends: ${LABEL[kind]} enqueue ${rate.toFixed(0)} jobs/s`);
    }
  }
  for (const kind of BACKENDS) {
    const samples = await withBackend(kind, 'pickup', (env) => pickupSamples(env, sizes.pickupSamples));
    pickup.set(kind, samples);
    config.log(`backends: ${LABEL[kind]} pickup p50 ${median(samples).toFixed(1)} ms`);
  }

  const db = await createTestDatabase();
  const credentialsKey = randomBytes(32).toString('hex');
  const fleet = await startSshdFleet(db, sizes.scanServers, credentialsKey).catch(async (err: unknown) => {
    await db.drop();
    throw err;
  });
  try {
    for (let round = 0; round < config.rounds; round++) {
      for (const kind of BACKENDS) {
        // PostgreSQL queues live in the records' database, as in the zero-setup deployment.
        const result = await withBackend(
          kind,
          'scans',
          (env) => scanThroughput(env, { databaseUrl: db.url, credentialsKey, servers: fleet.servers, jobs: sizes.scanJobs }),
          db,
        );
        scans.set(kind, [...(scans.get(kind) ?? []), result.jobsPerSecond]);
        failedScans += result.failed;
        config.log(`backends: ${LABEL[kind]} ${sizes.scanJobs} quick scans ${result.jobsPerSecond.toFixed(1)} jobs/s, ${result.failed} failed`);
      }
    }
  } finally {
    await fleet.stop();
    await db.drop();
  }

  const side = (name: string, unit: string, values: Map<QueueBackendKind, number[]>, make: (label: string, s: number[]) => Measure): Metric =>
    compare(name, unit, make('PostgreSQL', values.get('postgres') ?? []), make('Redis', values.get('redis') ?? []));
  return {
    metrics: [
      side(`enqueue: createProducer().enqueue('scan:quick'), ${IN_FLIGHT} in flight, ${sizes.enqueueJobs} jobs`, 'jobs/s', enqueue, measure),
      side(`pickup: add() -> an idle worker's processor starts (${sizes.pickupSamples} samples)`, 'ms', pickup, latency),
      side(`quick scans: ${sizes.scanJobs} over ${sizes.scanServers} loopback sshds, 1 scan-worker process (concurrency 5)`, 'jobs/s', scans, measure),
    ],
    notes: [
      'product = the PostgreSQL backend (BullMQ createPostgresBackend, schema bullmq), baseline = Redis; ratio = PostgreSQL / Redis (for pickup, lower is better).',
      `Each phase has its own store: a fresh Redis prefix, or a fresh database for PostgreSQL; the scans' PostgreSQL queues share the records' database (the zero-setup deployment). ${failedScans} scans failed.`,
    ],
  };
}

export const backends: Scenario = {
  id: 'backends',
  title: '12. Queue backends side by side: enqueue rate, pickup latency and quick-scan throughput on Redis and on PostgreSQL',
  run: runBackends,
};
