import type { Job } from 'bullmq';
import { sql } from 'drizzle-orm';
import type { Logger } from '@mm/config';
import type { Db, WebhookEvent } from '@mm/db';
import { catalog, recordIdOf, type CompletionEvents, type JobName, type PayloadOf, type QueueAlias } from '@mm/jobs';

/**
 * Where job events become webhook deliveries: one INSERT … SELECT per event into the `webhook_deliveries` outbox
 * (one row per subscribed webhook; none when nobody subscribed), which the API's dispatcher sends. Payloads carry
 * ids and summaries only. A failed outbox write is logged and never fails the job. Which events a completed job
 * raises is its catalog entry's business (`completed`); this module knows no job kind.
 */
export interface WebhookOutbox {
  /** After a job's handler returned: the events its catalog entry raises for `result` (backup.completed, scan.critical_finding). */
  jobCompleted(queue: QueueAlias, job: Pick<Job, 'id'>, read: { name: JobName; payload: PayloadOf<JobName> }, result: unknown): Promise<void>;
  /** A job's final failure (not a retry, not a cancellation): `job.failed`. `message` is already redacted. */
  jobFailed(queue: QueueAlias, job: Job, message: string): Promise<void>;
}

const str = (value: unknown): string | null => (typeof value === 'string' ? value : null);

export function createWebhookOutbox(db: Db, log: Logger): WebhookOutbox {
  /** `dedupKey` makes a repeat (a job re-run after its record finished) a no-op per webhook. */
  async function enqueue(event: WebhookEvent, dedupKey: string, data: Record<string, unknown>): Promise<void> {
    const payload = JSON.stringify({ event, occurredAt: new Date().toISOString(), data });
    const inserted = await db.execute(sql`
      insert into webhook_deliveries (webhook_id, event, dedup_key, payload)
      select id, ${event}, ${dedupKey}, ${payload}::jsonb from webhooks where ${event} = any(events)
      on conflict (webhook_id, event, dedup_key) do nothing`);
    if (inserted.count > 0) log.info({ event, deliveries: inserted.count, ...data.jobId ? { jobId: data.jobId } : {} }, 'webhook deliveries queued');
  }

  const safely = async (what: string, job: Pick<Job, 'id'>, work: () => Promise<void>): Promise<void> => {
    try {
      await work();
    } catch (err) {
      log.error({ err, jobId: job.id, event: what }, 'could not queue webhook deliveries');
    }
  };

  return {
    jobCompleted(queue, job, read, result) {
      const raise = (catalog[read.name] as { completed?: CompletionEvents<unknown> }).completed;
      if (!raise) return Promise.resolve();
      return safely('completed', job, async () => {
        const jobId = String(job.id);
        const serverId = str((read.payload as { serverId?: unknown }).serverId);
        for (const { event, key, data } of raise(result, recordIdOf(read.name, read.payload, jobId))) {
          await enqueue(event, key, { jobId: job.id, queue, jobName: read.name, serverId, ...data });
        }
      });
    },

    jobFailed(queue, job, message) {
      return safely('job.failed', job, async () => {
        const data = (job.data ?? {}) as Record<string, unknown>;
        // processedOn tells a failure apart from a later one of the same job retried by hand.
        await enqueue('job.failed', `${job.id}@${job.processedOn ?? Date.now()}`, {
          jobId: job.id,
          queue,
          jobName: job.name,
          serverId: str(data.serverId),
          attempts: job.attemptsMade + 1,
          error: message.slice(0, 2_000),
        });
      });
    },
  };
}
