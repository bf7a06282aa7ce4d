import type { Job } from 'bullmq';
import { eq, sql } from 'drizzle-orm';
import type { Logger } from '@mm/config';
import { scans, type Db, type WebhookEvent } from '@mm/db';
import type { QueueAlias } from '@mm/jobs';

/**
 * Where job events become webhook deliveries: one INSERT … SELECT per event into the `webhook_deliveries` outbox
 * (one row per subscribed webhook; none when nobody subscribed), which the API's dispatcher sends. Payloads carry
 * ids and summaries only. A failed outbox write is logged and never fails the job.
 */
export interface WebhookOutbox {
  /** After a job's processor returned: `backup.completed`, and `scan.critical_finding` for a full scan with one. */
  jobCompleted(queue: QueueAlias, job: Job, result: unknown): Promise<void>;
  /** A job's final failure (not a retry, not a cancellation): `job.failed`. `message` is already redacted. */
  jobFailed(queue: QueueAlias, job: Job, message: string): Promise<void>;
}

const str = (value: unknown): string | null => (typeof value === 'string' ? value : null);
const num = (value: unknown): number | null => (typeof value === 'number' && Number.isFinite(value) ? value : null);

interface CriticalFinding {
  code: string;
  message: string;
}

function criticalFindings(result: unknown): CriticalFinding[] {
  const findings = (result as { findings?: unknown } | null)?.findings;
  if (!Array.isArray(findings)) return [];
  return findings
    .filter((f): f is { severity: string; code: unknown; message: unknown } => (f as { severity?: unknown })?.severity === 'critical')
    .map((f) => ({ code: String(f.code), message: String(f.message).slice(0, 500) }));
}

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

  const safely = async (what: string, job: Job, work: () => Promise<void>): Promise<void> => {
    try {
      await work();
    } catch (err) {
      log.error({ err, jobId: job.id, event: what }, 'could not queue webhook deliveries');
    }
  };

  return {
    jobCompleted(queue, job, result) {
      return safely('completed', job, async () => {
        const data = (job.data ?? {}) as Record<string, unknown>;
        const serverId = str(data.serverId);
        if (job.name === 'backup:manual' || job.name === 'backup:scheduled') {
          const r = (result ?? {}) as Record<string, unknown>;
          const backupId = str(r.backupId) ?? String(job.id);
          await enqueue('backup.completed', backupId, {
            jobId: job.id,
            queue,
            jobName: job.name,
            serverId,
            backupId,
            backupType: str(r.backupType),
            sizeBytes: num(r.sizeBytes),
            sha256: str(r.sha256),
          });
        } else if (job.name === 'scan:full') {
          const scanId = str(data.scanId) ?? String(job.id);
          const [record] = await db.select({ status: scans.status, result: scans.result }).from(scans).where(eq(scans.id, scanId)).limit(1);
          const critical = record?.status === 'completed' ? criticalFindings(record.result) : [];
          if (critical.length === 0) return;
          await enqueue('scan.critical_finding', scanId, { jobId: job.id, queue, jobName: job.name, serverId, scanId, findings: critical });
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
