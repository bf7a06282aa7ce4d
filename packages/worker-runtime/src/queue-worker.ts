import type { Processor, Worker, WorkerOptions } from 'bullmq';
import type { Logger } from '@mm/config';
import { createWorker, type QueueAlias, type QueueBackend } from '@mm/jobs';
import { settlesWithin } from './settles-within.js';
import { stallSettings } from './stall-settings.js';
import type { WorkerEnvValues } from './worker-env.js';

const CONNECTION_ERROR_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);

export interface QueueWorkerOptions {
  queue: QueueAlias;
  processor: Processor;
  backend: QueueBackend;
  env: WorkerEnvValues;
  concurrency: number;
  log: Logger;
  /** Overrides of the stall settings and other BullMQ options (tests shrink lockDuration / stalledInterval). */
  options?: Partial<Omit<WorkerOptions, 'connection' | 'prefix' | 'concurrency' | 'autorun'>>;
}

/** The BullMQ worker running the pipeline, with an `error` handler and a log line for stalls, lock losses and completions. */
export function startQueueWorker(opts: QueueWorkerOptions): Worker {
  const { env, log } = opts;
  const worker = createWorker(opts.queue, opts.processor, {
    ...opts.backend.queueConfig,
    concurrency: opts.concurrency,
    ...stallSettings,
    lockDuration: env.WORKER_LOCK_DURATION_MS,
    stalledInterval: env.WORKER_STALLED_INTERVAL_MS,
    ...opts.options,
  });
  worker.on('error', (err) => {
    // While Redis is away every reconnect attempt surfaces here too; the transition was already logged.
    const code = (err as { code?: unknown }).code;
    if (typeof code === 'string' && CONNECTION_ERROR_CODES.has(code)) log.debug({ err }, 'worker lost Redis');
    else log.error({ err }, 'worker error');
  });
  worker.on('stalled', (jobId) => log.warn({ jobId }, 'job stalled; moved back to wait'));
  worker.on('lockRenewalFailed', (jobIds) => log.warn({ jobIds }, 'job lock renewal failed'));
  worker.on('completed', (job) => log.info({ jobId: job.id, jobName: job.name }, 'job completed'));
  return worker;
}

/** Stops taking jobs and waits for the active ones; with the backend away BullMQ's graceful close would wait for a reconnect that may never come. */
export async function closeQueueWorker(worker: Worker, backend: QueueBackend, shutdownTimeoutMs: number, log: Logger): Promise<void> {
  const graceful = backend.isReady();
  if (!(await settlesWithin(worker.close(!graceful), graceful ? shutdownTimeoutMs : 2_000))) {
    log.warn('worker did not close in time; disconnecting (unfinished jobs are recovered as stalled)');
    await settlesWithin(worker.disconnect(), 2_000);
  }
}
