import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { QueueAlias } from '@mm/jobs';
import type { FailureReason } from './failure-reason.js';

/**
 * How an attempt ended: `retried` is a failed attempt BullMQ will try again, `failed` the last one, `deferred` one
 * put back without using an attempt (PostgreSQL unavailable).
 */
export type JobOutcome = 'completed' | 'failed' | 'retried' | 'cancelled' | 'deferred';

export interface WorkerMetrics {
  registry: Registry;
  /** Call when an attempt starts; call the returned function once with how it ended. */
  jobStarted(jobName: string): (outcome: JobOutcome, reason?: FailureReason) => void;
  logLinesDropped(count: number, reason: 'buffer_full' | 'write_failed' | 'live_rate_limit'): void;
}

/**
 * Prometheus metrics of one worker process, served at /metrics on its health port. A registry per worker (not
 * prom-client's global one), so tests can run several workers in one process. Names follow the API's (`mm_` prefix,
 * prom-client's default process metrics alongside).
 */
export function createWorkerMetrics(queue: QueueAlias, sshConnections: () => number): WorkerMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const duration = new Histogram({
    name: 'mm_job_duration_seconds',
    help: 'Job attempt duration in this worker by job name and outcome (completed, failed, retried, cancelled, deferred)',
    labelNames: ['queue', 'name', 'outcome'],
    // From a quick scan (about a second) to a backup near its 6 h limit.
    buckets: [0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 1_800, 3_600, 10_800, 21_600],
    registers: [registry],
  });
  const failures = new Counter({
    name: 'mm_job_failures_total',
    help: 'Failed job attempts by job name and reason class; final="false" when BullMQ retries it',
    labelNames: ['queue', 'name', 'reason', 'final'],
    registers: [registry],
  });
  const active = new Gauge({ name: 'mm_jobs_active', help: 'Jobs this worker is running now', labelNames: ['queue'], registers: [registry] });
  active.set({ queue }, 0);
  new Gauge({
    name: 'mm_ssh_pool_connections',
    help: 'SSH connections open (or opening) in this worker process, one per server in use',
    labelNames: ['queue'],
    registers: [registry],
    collect() {
      this.set({ queue }, sshConnections());
    },
  });
  const dropped = new Counter({
    name: 'mm_job_log_lines_dropped_total',
    help: 'Job log lines not stored (buffer_full, write_failed) or not streamed live (live_rate_limit; still stored)',
    labelNames: ['queue', 'reason'],
    registers: [registry],
  });

  return {
    registry,
    jobStarted(name) {
      const started = process.hrtime.bigint();
      active.inc({ queue });
      let ended = false;
      return (outcome, reason) => {
        if (ended) return;
        ended = true;
        active.dec({ queue });
        duration.observe({ queue, name, outcome }, Number(process.hrtime.bigint() - started) / 1e9);
        if (outcome !== 'completed' && outcome !== 'deferred') failures.inc({ queue, name, reason: reason ?? 'other', final: String(outcome !== 'retried') });
      };
    },
    logLinesDropped(count, reason) {
      dropped.inc({ queue, reason }, count);
    },
  };
}
