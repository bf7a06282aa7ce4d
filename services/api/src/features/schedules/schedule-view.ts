import type { BackupSchedule } from '@mm/db';
import { nextRuns } from '../../shared/schedule-cron.js';

export const NEXT_RUNS = 5;

export function toScheduleView(row: BackupSchedule, now: Date = new Date()) {
  return {
    id: row.id,
    serverId: row.serverId,
    cron: row.cron,
    timezone: row.timezone,
    options: row.options,
    enabled: row.enabled,
    storageTargetId: row.storageTargetId,
    rpoSeconds: row.rpoSeconds,
    createdBy: row.createdBy,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
    nextRuns: row.enabled ? nextRuns(row.cron, row.timezone, NEXT_RUNS, now).map((d) => d.toISOString()) : [],
  };
}
