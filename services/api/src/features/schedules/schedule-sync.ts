import type { FastifyBaseLogger } from 'fastify';
import type { Queue } from 'bullmq';
import type { BackupSchedule } from '@mm/db';
import { removeBackupScheduler, upsertBackupScheduler, type QueueBackend } from '@mm/jobs';
import { unavailable } from '../../shared/errors.js';
import { queueStoreName, withQueue } from '../../shared/queue-guard.js';

const notApplied = (store: string) => `The schedule is saved, but the job queue (${store}) is unavailable; it will be applied automatically once ${store} is back.`;

/**
 * After a schedule row was written (PostgreSQL is the source of truth): make its job scheduler match, or remove it
 * for a disabled or deleted schedule. On a queue store failure the request answers 503; the reconciler repairs later.
 */
export async function applySchedule(backend: QueueBackend, queue: Queue, log: FastifyBaseLogger, scheduleId: string, row: BackupSchedule | null): Promise<void> {
  try {
    await withQueue(backend, async () => {
      if (row?.enabled) {
        await upsertBackupScheduler(queue, { id: row.id, serverId: row.serverId, cron: row.cron, timezone: row.timezone, options: row.options, storageTargetId: row.storageTargetId });
      } else {
        await removeBackupScheduler(queue, scheduleId);
      }
    });
  } catch (err) {
    log.warn({ err, scheduleId }, 'backup schedule saved but its job scheduler was not updated; the reconciler will retry');
    throw unavailable(notApplied(queueStoreName(backend)));
  }
}
