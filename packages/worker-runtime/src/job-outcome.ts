import { DelayedError, UnrecoverableError, type Job } from 'bullmq';
import type { Logger } from '@mm/config';
import type { JobName, PayloadOf, QueueAlias } from '@mm/jobs';
import type { CancelListener } from './cancel-listener.js';
import type { DatabaseOutageCheck } from './database-outage.js';
import { classifyError } from './error-classification.js';
import type { JobRuntime } from './job-context.js';
import type { JobJournal } from './job-journal.js';
import { timeoutMessage } from './job-timeout.js';
import type { WebhookOutbox } from './webhook-outbox.js';

export interface OutcomeDeps {
  queue: QueueAlias;
  log: Logger;
  outbox: WebhookOutbox;
  outage: DatabaseOutageCheck;
  /** How long a job waits before trying again while PostgreSQL is unavailable (DATABASE_RETRY_DELAY_MS). */
  databaseRetryDelayMs: number;
  cancels(): CancelListener | undefined;
}

/** One attempt as its outcome needs it; `runtime` is absent when the job failed before it had a context (an invalid payload). */
export interface Attempt {
  job: Job;
  token: string | undefined;
  read: { name: JobName; payload: PayloadOf<JobName> } | undefined;
  journal: JobJournal;
  runtime: JobRuntime<QueueAlias> | undefined;
  /** Why the job was stopped, when something stopped it rather than the handler failing on its own. */
  stopped: { timedOut: boolean; timeoutMs: number; cancelled: boolean; cancelReason: unknown; leaseLost: boolean };
}

/** The handler returned: every log line is in PostgreSQL before BullMQ says completed, then the events it raises. */
export async function completeAttempt(deps: OutcomeDeps, attempt: Attempt, result: unknown): Promise<void> {
  await attempt.journal.completed();
  if (attempt.read) await deps.outbox.jobCompleted(deps.queue, attempt.job, attempt.read, result);
}

/**
 * The handler threw: classifies the failure once, then either defers the job (PostgreSQL unavailable: no attempt used)
 * or records the failed attempt on the journal and the record, raising job.failed when it was the last one.
 * Returns the error the processor throws (DelayedError for a deferral).
 */
export async function failAttempt(deps: OutcomeDeps, attempt: Attempt, err: unknown): Promise<Error> {
  const { job, journal, runtime, stopped } = attempt;
  const { timedOut, cancelled, leaseLost } = stopped;
  // A cancelled (worker.cancelJob) or timed-out job is not retried, whatever error the abort surfaced as.
  const classified = timedOut
    ? new UnrecoverableError(timeoutMessage(stopped.timeoutMs))
    : cancelled
      ? new UnrecoverableError(`job cancelled${typeof stopped.cancelReason === 'string' ? `: ${stopped.cancelReason}` : ''}`)
      : leaseLost
        ? new Error(`stopped: the server lease was lost while the job ran (Redis unreachable for over SERVER_LEASE_MS); it will be retried`)
        : classifyError(err, runtime ? (text) => runtime.redactor.text(text) : undefined);
  if (classified instanceof DelayedError) return classified;
  const jobLog = runtime?.ctx.log ?? deps.log.child({ jobId: job.id, queue: deps.queue, jobName: job.name });

  if (!timedOut && !cancelled && !leaseLost && (await deps.outage.explains(classified, err))) {
    const delayMs = deps.databaseRetryDelayMs;
    jobLog.warn({ err: classified, delayMs }, 'database unavailable: job deferred');
    await journal.deferred(`PostgreSQL is unavailable (${classified.message}); trying again in ${delayMs} ms`);
    await job.moveToDelayed(Date.now() + delayMs, attempt.token);
    return new DelayedError();
  }

  const final = classified instanceof UnrecoverableError || job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
  jobLog.warn({ err: classified, attempt: job.attemptsMade + 1, final }, final ? 'job failed' : 'job attempt failed; will retry');
  // A timeout surfaces as the abort it caused: classify it by the timeout's own error.
  await journal.failed({ err: timedOut ? classified : err, message: classified.message, final, cancelled });
  if (runtime) {
    await runtime.lifecycle.fail(classified.message, { final, cancelled }).catch((dbErr: unknown) => jobLog.error({ err: dbErr }, 'could not record the failure'));
  }
  if (final && !cancelled) await deps.outbox.jobFailed(deps.queue, job, classified.message);
  // Ended for good: a pending cancel has nothing left to stop, and must not stop a later retry by hand.
  if (final && job.id) await deps.cancels()?.clear(job.id);
  return classified;
}
