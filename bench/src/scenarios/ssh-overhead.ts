import { createProducer, type JobName, type Producer } from '@mm/jobs';
import { FULL_SCAN_SCRIPT, QUICK_SCAN_SCRIPT } from '@mm/scan-worker/test-kit';
import { warmExecSamples } from '../baselines/ssh-exec.js';
import { compare, type Metric, type Scenario } from '../core/scenario.js';
import { percentile } from '../core/stats.js';
import { createBenchRedis, scanPayload } from '../fixtures/bench-queue.js';
import { createBenchWorld } from '../fixtures/bench-world.js';
import { JobWatch } from '../fixtures/job-watch.js';
import { spawnWorker, waitForWorkers } from '../fixtures/worker-process.js';

/** Where a job's time went, from BullMQ's own timestamps and the scan result's commandMs. */
interface Breakdown {
  /** timestamp -> processedOn: waiting for the worker. */
  waitMs: number[];
  /** processedOn -> finishedOn minus the remote command: lookups, probe, record and progress writes. */
  aroundCommandMs: number[];
  /** The remote command as the handler timed it. */
  commandMs: number[];
}

/** Enqueue -> completed event, one job at a time, so the worker's pooled SSH connection stays warm. */
async function scanJobSamples(
  producer: Producer,
  watch: JobWatch,
  name: JobName & `scan:${string}`,
  serverId: string,
  samples: number,
  breakdown?: Breakdown,
): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < samples; i++) {
    const data = scanPayload(serverId);
    const started = process.hrtime.bigint();
    await producer.enqueue(name, data);
    const done = await watch.completed(data.scanId);
    out.push(Number(done - started) / 1e6);
    if (!breakdown) continue;
    const job = await producer.queue('scan').getJob(data.scanId);
    const commandMs = (job?.returnvalue as { commandMs?: unknown } | undefined)?.commandMs;
    if (job?.processedOn && job.finishedOn && typeof commandMs === 'number') {
      breakdown.waitMs.push(job.processedOn - job.timestamp);
      breakdown.aroundCommandMs.push(job.finishedOn - job.processedOn - commandMs);
      breakdown.commandMs.push(commandMs);
    }
  }
  return out;
}

export const sshOverhead: Scenario = {
  id: 'ssh-overhead',
  title: '5. SSH overhead: scan jobs end to end on a warm connection vs one node-ssh exec of the same script',
  async run(config) {
    const world = await createBenchWorld();
    const redis = createBenchRedis('ssh-overhead');
    const worker = spawnWorker({ kind: 'scan', databaseUrl: world.db.url, redisUrl: redis.url, prefix: redis.prefix, credentialsKey: world.credentialsKey });
    const producer = createProducer({ connection: redis.url, prefix: redis.prefix });
    const watch = await JobWatch.start('scan', redis.url, redis.prefix);
    try {
      await waitForWorkers(producer.queue('scan'), 1, [worker]);
      // Warm-up: opens the worker's pooled connection and JIT-compiles both handlers.
      await scanJobSamples(producer, watch, 'scan:quick', world.server.id, 2);
      const per = Math.max(1, Math.ceil(config.sshSamples / config.rounds));
      const fullPer = Math.ceil(config.fullScanSamples / config.rounds);
      if (fullPer > 0) await scanJobSamples(producer, watch, 'scan:full', world.server.id, 1);
      const quick = { product: [] as number[], baseline: [] as number[] };
      const breakdown: Breakdown = { waitMs: [], aroundCommandMs: [], commandMs: [] };
      const full = { product: [] as number[], baseline: [] as number[] };
      for (let round = 0; round < config.rounds; round++) {
        quick.baseline.push(...(await warmExecSamples(world.sshd, QUICK_SCAN_SCRIPT, per)));
        quick.product.push(...(await scanJobSamples(producer, watch, 'scan:quick', world.server.id, per, breakdown)));
        if (fullPer === 0) continue;
        full.baseline.push(...(await warmExecSamples(world.sshd, FULL_SCAN_SCRIPT, fullPer)));
        full.product.push(...(await scanJobSamples(producer, watch, 'scan:full', world.server.id, fullPer)));
      }
      const row = (name: string, samples: { product: number[]; baseline: number[] }, script: string, max: number, text: string): Metric =>
        compare(
          name,
          'ms',
          { label: `${name}: enqueue -> completed event`, median: percentile(samples.product, 50), p99: percentile(samples.product, 99), samples: samples.product },
          { label: `node-ssh execCommand(${script}) on a warm connection`, median: percentile(samples.baseline, 50), p99: percentile(samples.baseline, 99), samples: samples.baseline },
          { text, check: ({ ratio }) => ratio !== undefined && ratio <= max },
        );
      const metrics = [row('quick scan job', quick, 'quick-scan script', 1.3, 'ratio <= 1.3')];
      const part = (label: string, samples: number[]): Metric =>
        compare(`quick scan job: ${label}`, 'ms', { label, median: percentile(samples, 50), p99: percentile(samples, 99), samples }, undefined);
      if (breakdown.commandMs.length > 0) {
        metrics.push(
          part('remote command inside the worker (commandMs)', breakdown.commandMs),
          part('handler time around the command (lookups, TCP probe, record and progress writes)', breakdown.aroundCommandMs),
          part('queue wait (BullMQ timestamp -> processedOn)', breakdown.waitMs),
        );
      }
      if (full.product.length > 0) metrics.push(row('full scan job', full, 'full-scan script', 2, '<= 2 round trips (ratio <= 2)'));
      return {
        metrics,
        notes: [
          `${quick.product.length} quick and ${full.product.length} full scan jobs, one at a time; the scan worker process runs with concurrency 5 and its SSH pool stays warm.`,
          ...(full.product.length === 0 ? ['Full scans are not run in quick mode: one takes ~13 s of remote work (apt-get -s upgrade) on this machine.'] : []),
          'Product time includes pickup, the server lookup, the TCP probe, the record writes, every progress update and the completed event; the baseline is the same script run once over a warm node-ssh connection.',
        ],
      };
    } finally {
      await watch.close();
      await producer.close();
      await worker.stop();
      await redis.cleanup();
      await world.close();
    }
  },
};
