import type { FastifyBaseLogger } from 'fastify';
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { BackupSchedule } from '@mm/db';
import { removeBackupScheduler, upsertBackupScheduler } from '@mm/jobs';
import { unavailable } from '../errors.js';
import { withRedis } from './redis-guard.js';

const NOT_APPLIED = 'The schedule is saved, but the job queue (Redis) is unavailable; it will be applied automatically once Redis is back.';

/**
 * After a schedule row was written (PostgreSQL is the source of truth): make its job scheduler match, or remove it
 * for a disabled or deleted schedule. On a Redis failure the request answers 503; the reconciler repairs later.
 */
export async function applySchedule(redis: Redis, queue: Queue, log: FastifyBaseLogger, scheduleId: string, row: BackupSchedule | null): Promise<void> {
  try {
    await withRedis(redis, async () => {
      if (row?.enabled) {
        await upsertBackupScheduler(queue, { id: row.id, serverId: row.serverId, cron: row.cron, timezone: row.timezone, options: row.options });
      } else {
        await removeBackupScheduler(queue, scheduleId);
      }
    });
  } catch (err) {
    log.warn({ err, scheduleId }, 'backup schedule saved but its job scheduler was not updated; the reconciler will retry');
    throw unavailable(NOT_APPLIED);
  }
}
