import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Queue } from 'bullmq';
import { createFleetQueue, createQueue, openQueueBackend } from '@mm/jobs';
import { insertTestServer, startTestSshdFleet, type TestSshdFleet } from '@mm/testing';
import type { Server } from '@mm/db';
import { compare, type Measure, type Scenario } from '../core/scenario.js';
import { busyShare, cpuTimes } from '../core/machine.js';
import { median, msSince } from '../core/stats.js';
import { startApi, type RunningApi } from '../fixtures/api-server.js';
import { closeQuietly, createBenchRedis } from '../fixtures/bench-queue.js';
import { createBenchWorld } from '../fixtures/bench-world.js';
import { procCpuMs, spawnWorker, type WorkerProcess } from '../fixtures/worker-process.js';

interface JobView {
  state: string;
  createdAt: string;
  finishedAt: string | null;
  failedReason?: string | null;
}

interface RunView {
  state: string;
  reason: string | null;
  counts: Record<'pending' | 'queued' | 'completed' | 'failed' | 'cancelled' | 'skipped', number>;
}

/** The API as an operator's script uses it: JSON in and out, the admin's token. */
function client(api: RunningApi) {
  const headers = { 'content-type': 'application/json', authorization: `Bearer ${api.token}` };
  return async <T>(method: string, path: string, body?: unknown): Promise<T> => {
    const res = await fetch(`${api.url}${path}`, { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    const parsed = (await res.json()) as { data?: T };
    if (res.status >= 300 || parsed.data === undefined) throw new Error(`${method} ${path} answered ${res.status}: ${JSON.stringify(parsed).slice(0, 300)}`);
    return parsed.data;
  };
}

/** Polls `read` every `everyMs` until `done` holds; the deadline turns a stuck run into an error, not a hang. */
async function until<T>(read: () => Promise<T>, done: (value: T) => boolean, what: string, timeoutMs: number, everyMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not done within ${timeoutMs} ms (last: ${JSON.stringify(value).slice(0, 300)})`);
    await sleep(everyMs);
  }
}

/** Until BullMQ lists a worker on the queue: the worker process has connected (or it died, which stop() reports). */
async function untilWorkerListed(queue: Queue, worker: WorkerProcess): Promise<void> {
  try {
    await until(() => queue.getWorkersCount(), (count) => count > 0, `a worker on ${queue.name}`, 60_000, 100);
  } catch (err) {
    await worker.stop();
    throw err;
  }
}

/**
 * Issue #15: a fleet quick scan of N loopback servers at concurrency C (full: 200 at 50) finishes in under
 * 2 x (N / C x one quick scan's time). Both sides run through the product as an operator drives it: the API in this
 * process, a real scan-worker process (concurrency C) and a real fleet-worker process (its defaults), each server a distinct loopback address. The baseline is one quick scan of a fleet member alone, enqueued
 * to its end (the job's createdAt -> finishedAt), times N / C; the product is POST /api/fleet-runs -> the run completed.
 */
export const fleetScan: Scenario = {
  id: 'fleet-scan',
  title: '13. Fleet quick scan: N loopback servers at concurrency C (quick: 6 at 3, full: 200 at 50) vs N / C x one quick scan alone',
  async run(config) {
    const { servers: n, concurrency, singleSamples } = config.fleetScan;
    const world = await createBenchWorld();
    const redis = createBenchRedis('fleet-scan');
    let fleet: TestSshdFleet | undefined;
    const workers: WorkerProcess[] = [];
    let api: RunningApi | undefined;
    try {
      // The run's N servers, and apart from them one server per single scan: each is scanned once, cold (a new SSH
      // connection, as every server of a fleet run is on its first contact).
      fleet = await startTestSshdFleet(n + singleSamples);
      const members: Server[] = [];
      const singles: Server[] = [];
      for (const [i, member] of fleet.members.entries()) {
        const name = i < n ? `fleetscan-${String(i).padStart(4, '0')}` : `single-${String(i - n).padStart(4, '0')}`;
        (i < n ? members : singles).push(await insertTestServer(world.db.db, member, { credentialsKey: world.credentialsKey, name }));
      }
      api = await startApi({ db: world.db, login: world.login, redisUrl: redis.url, prefix: redis.prefix, credentialsKey: world.credentialsKey });
      const request = client(api);
      const common = { databaseUrl: world.db.url, redisUrl: redis.url, prefix: redis.prefix, credentialsKey: world.credentialsKey };
      const scanWorker = spawnWorker({ ...common, kind: 'scan', extraEnv: { SCAN_WORKER_CONCURRENCY: String(concurrency) } });
      workers.push(scanWorker);
      const fleetWorker = spawnWorker({ ...common, kind: 'fleet' });
      workers.push(fleetWorker);
      const backend = openQueueBackend({ QUEUE_BACKEND: 'redis', REDIS_URL: redis.url, QUEUE_PREFIX: redis.prefix, DATABASE_URL: world.db.url }, 'producer');
      const queues = [createQueue('scan', backend.queueConfig), createFleetQueue(backend.queueConfig)] as const;
      try {
        await untilWorkerListed(queues[0], scanWorker);
        await untilWorkerListed(queues[1], fleetWorker);
      } finally {
        for (const q of queues) await closeQuietly(q);
        await backend.close();
      }

      // One quick scan alone, one server after the other, each on its first contact.
      const single: number[] = [];
      for (const target of singles) {
        const { jobId } = await request<{ jobId: string }>('POST', `/api/servers/${target.id}/scan`, { scan_type: 'quick' });
        const job = await until(() => request<JobView>('GET', `/api/jobs/${jobId}`), (j) => j.state === 'completed' || j.state === 'failed', 'a single quick scan', 60_000, 20);
        if (job.state !== 'completed' || !job.finishedAt) throw new Error(`the single quick scan ${jobId} ended ${job.state}: ${job.failedReason ?? ''}`);
        single.push(Date.parse(job.finishedAt) - Date.parse(job.createdAt));
      }
      config.log(`fleet-scan: one quick scan alone ${median(single).toFixed(0)} ms (median of ${single.length})`);

      // The fleet's sshd masters: their reaped children's CPU is every SSH connection's and session's.
      const sshdPids = await Promise.all([...new Set(fleet.members.map((m) => m.dir))].map(async (dir) => Number((await readFile(join(dir, 'sshd.pid'), 'utf8')).trim())));
      const sshdCpu = async () => (await Promise.all(sshdPids.map((pid) => procCpuMs(pid, true)))).reduce((a, b) => a + b, 0);
      const sshdCpuBefore = await sshdCpu();
      const cpuBefore = cpuTimes();
      const workerCpuBefore = await scanWorker.cpuMs();
      const fleetCpuBefore = await fleetWorker.cpuMs();
      const apiCpuBefore = process.cpuUsage();
      const started = process.hrtime.bigint();
      const { runId } = await request<{ runId: string }>('POST', '/api/fleet-runs', { action: 'scan', options: { scan_type: 'quick' }, selector: { names: ['fleetscan-*'] }, concurrency });
      const run = await until(() => request<RunView>('GET', `/api/fleet-runs/${runId}`), (r) => ['completed', 'failed', 'aborted'].includes(r.state), 'the fleet run', 60_000 + n * 2_000, 50);
      const runMs = msSince(started);
      const machineBusy = busyShare(cpuBefore, cpuTimes());
      const workerCpuPerScan = ((await scanWorker.cpuMs()) - workerCpuBefore) / n;
      const fleetCpuPerScan = ((await fleetWorker.cpuMs()) - fleetCpuBefore) / n;
      const apiCpu = process.cpuUsage(apiCpuBefore);
      const apiCpuPerScan = (apiCpu.user + apiCpu.system) / 1_000 / n;
      const sshdCpuPerScan = ((await sshdCpu()) - sshdCpuBefore) / n;
      if (run.state !== 'completed' || run.counts.completed !== n) throw new Error(`the fleet run ended ${run.state} (${run.reason ?? ''}): ${JSON.stringify(run.counts)}`);
      config.log(`fleet-scan: ${n} servers at concurrency ${concurrency} in ${runMs.toFixed(0)} ms`);
      // Where the run's time went: each job's own run time (processed -> finished), and the time jobs waited for a slot.
      const detail = await request<{ createdAt: string; waves: { servers: { jobId: string }[] }[] }>('GET', `/api/fleet-runs/${runId}`);
      const jobs = await Promise.all(detail.waves.flatMap((w) => w.servers).map((srv) => request<JobView & { processedAt: string | null }>('GET', `/api/jobs/${srv.jobId}`)));
      const jobRun = jobs.map((j) => Date.parse(j.finishedAt ?? '') - Date.parse(j.processedAt ?? ''));
      const firstStart = Math.min(...jobs.map((j) => Date.parse(j.processedAt ?? ''))) - Date.parse(detail.createdAt);
      config.log(`fleet-scan: job run time median ${median(jobRun).toFixed(0)} ms; first job started ${firstStart} ms after the run was created`);

      const ideal = single.map((ms) => (ms * n) / concurrency);
      const product: Measure = { label: `API: POST /api/fleet-runs (scan quick, ${n} servers, concurrency ${concurrency}) -> completed`, median: runMs, samples: [runMs] };
      const baseline: Measure = { label: `${n} / ${concurrency} x one quick scan alone (enqueued -> finished)`, median: median(ideal), samples: ideal };
      return {
        metrics: [
          compare(`fleet quick scan, ${n} servers at concurrency ${concurrency}`, 'ms', product, baseline, { text: 'ratio < 2', check: ({ ratio }) => ratio !== undefined && ratio < 2 }),
          compare('one quick scan alone, for reference', 'ms', { label: 'enqueued -> finished', median: median(single), samples: single }, undefined),
          compare('a fleet run job, processed -> finished, for reference', 'ms', { label: 'scan job in the run', median: median(jobRun), samples: jobRun }, undefined),
          compare('fleet run created -> its first job started, for reference', 'ms', { label: 'orchestrator pickup + first step', median: firstStart, samples: [firstStart] }, undefined),
          compare('all cores busy during the run, for reference', '%', { label: 'machine (every process)', median: machineBusy * 100, samples: [machineBusy * 100] }, undefined),
          compare('scan worker CPU per scan in the run, for reference', 'ms', { label: 'scan-worker process', median: workerCpuPerScan, samples: [workerCpuPerScan] }, undefined),
          compare('fleet worker CPU per scan in the run, for reference', 'ms', { label: 'fleet-worker process', median: fleetCpuPerScan, samples: [fleetCpuPerScan] }, undefined),
          compare('API (this process, with its polling) CPU per scan in the run, for reference', 'ms', { label: 'bench process', median: apiCpuPerScan, samples: [apiCpuPerScan] }, undefined),
          compare('sshd CPU per scan in the run (connections and sessions), for reference', 'ms', { label: 'the servers (sshd)', median: sshdCpuPerScan, samples: [sshdCpuPerScan] }, undefined),
        ],
        notes: [
          `The fleet worker ran with its defaults: a server job's end wakes its run (run-wake.ts), the timed step (FLEET_STEP_INTERVAL_MS = 1 s) is the safety net; the scan worker ran with SCAN_WORKER_CONCURRENCY=${concurrency}.`,
          `${n} loopback addresses served by ${Math.ceil(n / 16)} sshd processes on this machine, which also runs the API, both workers, Redis and PostgreSQL.`,
        ],
      };
    } finally {
      for (const worker of workers.reverse()) await worker.stop().catch(() => undefined);
      await api?.close();
      await fleet?.stop();
      await redis.cleanup();
      await world.close();
    }
  },
};
