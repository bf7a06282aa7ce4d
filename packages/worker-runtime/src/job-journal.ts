import { hostname } from 'node:os';
import type { Job } from 'bullmq';
import type { JobLogKind } from '@mm/db';
import { catalog, type JobName, type QueueAlias } from '@mm/jobs';
import { failureReason } from './failure-reason.js';
import type { JobLogEvents } from './job-log-events.js';
import type { JobLogWriter } from './job-log-writer.js';
import type { WorkerMetrics } from './worker-metrics.js';

/** One attempt of one job as its log and the worker's metrics see it. */
export interface JobJournal {
  /** A line (already redacted) for job_logs and, within limits, the live `log` event. */
  line(kind: JobLogKind, text: string): void;
  /** The milestone line for a progress value (`progress 40% (execution started)`). */
  progress(value: number): void;
  /** Waits (2 s at most) until the live lines sent so far are on the events stream, so progress follows them. Never rejects. */
  settled(): Promise<void>;
  /** Writes the lines buffered so far to PostgreSQL (waits 2 s at most: PostgreSQL may be away). Never rejects. */
  flush(): Promise<void>;
  /** The attempt returned: a closing line, lines flushed, metrics. Call before BullMQ marks the job completed. */
  completed(): Promise<void>;
  /** The attempt threw: its reason as a warning line, lines flushed, metrics. Call before the record is marked failed. */
  failed(failure: { err: unknown; message: string; final: boolean; cancelled: boolean }): Promise<void>;
  /** The attempt was put back without using an attempt (why: a warning line); lines flushed as far as they can be. */
  deferred(message: string): Promise<void>;
}

/** Each job name's progress milestones by value (catalog `progress`), named once at load. */
const progressNames = new Map<string, Map<number, string>>(
  (Object.keys(catalog) as JobName[]).map((name) => [
    name,
    new Map(Object.entries(catalog[name].progress).map(([step, value]) => [value, step.toLowerCase().replaceAll('_', ' ')])),
  ]),
);

const seconds = (startedAt: number) => `${((Date.now() - startedAt) / 1_000).toFixed(1)} s`;

/**
 * How long a job waits for its lines to be written. Normally a few ms; while PostgreSQL is away the writer retries for
 * seconds, and the job (whose own record write fails too) should not wait for that: its lines stay buffered.
 */
const FLUSH_WAIT_MS = 2_000;

async function within(promise: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([promise, new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}

/**
 * Makes a job's log tell the story: when and where each attempt ran, its milestones, its output, how it ended;
 * and feeds the duration and failure metrics. The runtime creates one per attempt, before the handler runs.
 */
export function createJobJournal(deps: { queue: QueueAlias; job: Job; writer: JobLogWriter; events: JobLogEvents; metrics: WorkerMetrics }): JobJournal {
  const { queue, job } = deps;
  const jobId = String(job.id);
  const stored = deps.writer.forJob(jobId, queue, job.attemptsMade === 0 && job.stalledCounter === 0);
  const live = deps.events.forJob(jobId);
  const ended = deps.metrics.jobStarted(job.name);
  const startedAt = Date.now();
  const attempt = job.attemptsMade + 1;
  const attempts = job.opts.attempts ?? 1;

  const line = (kind: JobLogKind, text: string) => {
    stored.append(kind, text);
    live.publish(kind, text);
  };
  line('milestone', `attempt ${attempt} of ${attempts} started on ${hostname()} (pid ${process.pid})`);

  return {
    line,
    progress(value) {
      const name = progressNames.get(job.name)?.get(value);
      line('milestone', `progress ${value}%${name ? ` (${name})` : ''}`);
    },
    settled: () => within(live.settled(), FLUSH_WAIT_MS),
    flush: () => within(stored.flush(), FLUSH_WAIT_MS),
    async completed() {
      line('milestone', `attempt ${attempt} completed in ${seconds(startedAt)}`);
      live.end();
      await within(Promise.all([stored.flush(), live.settled()]).then(() => undefined), FLUSH_WAIT_MS);
      ended('completed');
    },
    async failed({ err, message, final, cancelled }) {
      const reason = failureReason(err, cancelled);
      const verdict = cancelled ? 'cancelled' : final ? 'failed' : `failed; attempt ${attempt + 1} of ${attempts} follows after a backoff`;
      line('warning', `attempt ${attempt} ${verdict} after ${seconds(startedAt)} (${reason}): ${message}`);
      live.end();
      await within(Promise.all([stored.flush(), live.settled()]).then(() => undefined), FLUSH_WAIT_MS);
      ended(cancelled ? 'cancelled' : final ? 'failed' : 'retried', reason);
    },
    async deferred(message) {
      line('warning', `attempt ${attempt} deferred after ${seconds(startedAt)}, no attempt used: ${message}`);
      live.end();
      await within(Promise.all([stored.flush(), live.settled()]).then(() => undefined), FLUSH_WAIT_MS);
      ended('deferred');
    },
  };
}
