import type { Job, Processor } from 'bullmq';
import type { Logger } from '@mm/config';
import type { Db } from '@mm/db';
import { catalog, readJob, runHandler, type Handlers, type JobName, type QueueAlias, type ServerJobIndex } from '@mm/jobs';
import type { SshPool } from '@mm/ssh';
import type { CancelListener } from './cancel-listener.js';
import { createJobContext, type JobContext, type JobRuntime } from './job-context.js';
import { createJobJournal, type JobJournal } from './job-journal.js';
import { holdServerLease, type LeaseSettings } from './job-lease.js';
import type { JobLogEvents } from './job-log-events.js';
import type { JobLogWriter } from './job-log-writer.js';
import { completeAttempt, failAttempt, type Attempt, type OutcomeDeps } from './job-outcome.js';
import { startJobTimer, timeoutOf, type JobTimeouts } from './job-timeout.js';
import type { WorkerMetrics } from './worker-metrics.js';

export interface PipelineDeps<Q extends QueueAlias> extends OutcomeDeps {
  queue: Q;
  handlers: Handlers<Q, JobContext<Q>>;
  db: Db;
  ssh: SshPool;
  log: Logger;
  credentialsKey: string;
  lease: LeaseSettings;
  timeouts: JobTimeouts;
  serverJobs: ServerJobIndex;
  journal: { writer: JobLogWriter; events: JobLogEvents; metrics: WorkerMetrics };
  /** Aborts a job by id (worker.cancelJob), for a cancel that arrived before the job started. */
  cancelJob(jobId: string, reason: string): void;
  cancels(): CancelListener | undefined;
}

/** setTimeout's ceiling: a job name without a limit still gets a timer (that never fires in practice). */
const MAX_TIMER_MS = 2_147_483_647;

/**
 * The BullMQ processor of one queue, as a list of steps: read (the payload, validated once), lease (one exclusive job
 * per server), timeout, journal (the attempt's log and metrics), context, handler, outcome (complete, fail, or defer).
 */
export function createJobPipeline<Q extends QueueAlias>(deps: PipelineDeps<Q>): Processor {
  const journalOf = (job: Job): JobJournal => createJobJournal({ queue: deps.queue, job, ...deps.journal });

  return async (job, token, signal) => {
    let read;
    try {
      read = readJob(deps.queue, job);
    } catch (err) {
      // An invalid payload has no trustworthy record id: the job fails for good, its record left untouched.
      const stopped = { timedOut: false, timeoutMs: 0, cancelled: false, cancelReason: undefined, leaseLost: false };
      throw await failAttempt(deps, { job, token, read: undefined, journal: journalOf(job), runtime: undefined, stopped }, err);
    }
    const name: JobName = read.name;
    const serverId = 'serverId' in read.payload ? read.payload.serverId : undefined;
    const lease = await holdServerLease(deps.lease, job, name, serverId, token, signal);
    try {
      await indexScheduledRun(deps, job, name, serverId);
      const timeoutMs = timeoutOf(name, deps.timeouts);
      // A lost server lease stops the job like a cancel does, but the job is retried.
      const timer = startJobTimer(signal ? AbortSignal.any([signal, lease.lost]) : lease.lost, timeoutMs > 0 ? timeoutMs : MAX_TIMER_MS);
      const journal = journalOf(job);
      let runtime: JobRuntime<QueueAlias> | undefined;
      try {
        const context = createJobContext<Q>({ ...deps, job, payload: read.payload, signal: timer.signal, journal });
        // The outcome needs only the queue-independent parts of the runtime (log, redactor, lifecycle.fail).
        runtime = context as unknown as JobRuntime<QueueAlias>;
        await stopIfCancelledBeforeStart(deps, job);
        const result = await runHandler(deps.handlers, read, context.ctx);
        await completeAttempt(deps, attemptOf(job, token, read, journal, runtime, timer, timeoutMs, signal, lease.lost), result);
        return result;
      } catch (err) {
        throw await failAttempt(deps, attemptOf(job, token, read, journal, runtime, timer, timeoutMs, signal, lease.lost), err);
      } finally {
        timer.clear();
      }
    } finally {
      await lease.release();
    }
  };
}

function attemptOf(
  job: Job,
  token: string | undefined,
  read: Attempt['read'],
  journal: JobJournal,
  runtime: JobRuntime<QueueAlias> | undefined,
  timer: { timedOut(): boolean },
  timeoutMs: number,
  signal: AbortSignal | undefined,
  leaseLost: AbortSignal,
): Attempt {
  const timedOut = timer.timedOut();
  const cancelled = !timedOut && signal?.aborted === true;
  const stopped = { timedOut, timeoutMs, cancelled, cancelReason: signal?.reason, leaseLost: !timedOut && !cancelled && leaseLost.aborted };
  return { job, token, read, journal, runtime, stopped };
}

/**
 * A job scheduler's run (a scheduled backup) was announced by no producer: index it under its server here, so
 * `GET /api/jobs?serverId=` lists it and a server delete sees it. ZADD is idempotent across retries.
 */
async function indexScheduledRun(deps: Pick<PipelineDeps<QueueAlias>, 'serverJobs' | 'queue' | 'log'>, job: Job, name: JobName, serverId: string | undefined): Promise<void> {
  if (catalog[name].idField !== null || serverId === undefined || !job.id) return;
  await deps.serverJobs.add(serverId, deps.queue, job.id, job.timestamp).catch((err: unknown) => deps.log.warn({ err, jobId: job.id }, 'could not index the job under its server'));
}

/** Cancelled between Redis handing the job over and this processor starting: stop before doing any work. */
async function stopIfCancelledBeforeStart(deps: Pick<PipelineDeps<QueueAlias>, 'cancels' | 'cancelJob'>, job: Job): Promise<void> {
  const reason = job.id ? await deps.cancels()?.consume(job.id) : null;
  if (reason && job.id) deps.cancelJob(job.id, reason);
}
