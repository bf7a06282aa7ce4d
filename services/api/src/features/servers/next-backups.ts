import { and, eq, inArray } from 'drizzle-orm';
import { backupSchedules, type Db } from '@mm/db';
import { nextRuns } from '../../shared/schedule-cron.js';

/**
 * When each server's next scheduled backup runs: the earliest next run of its enabled schedules, computed from
 * PostgreSQL (the source of truth) with the cron reader BullMQ uses. Servers without an enabled schedule are absent.
 */
export async function nextScheduledBackups(db: Db, serverIds: string[], now: Date = new Date()): Promise<Map<string, Date>> {
  const out = new Map<string, Date>();
  if (serverIds.length === 0) return out;
  const rows = await db
    .select({ serverId: backupSchedules.serverId, cron: backupSchedules.cron, timezone: backupSchedules.timezone })
    .from(backupSchedules)
    .where(and(inArray(backupSchedules.serverId, serverIds), eq(backupSchedules.enabled, true)));
  for (const row of rows) {
    let next: Date | undefined;
    try {
      next = nextRuns(row.cron, row.timezone, 1, now)[0];
    } catch {
      // Stored schedules were validated on write; one that no longer parses simply has no next run.
      continue;
    }
    const known = out.get(row.serverId);
    if (next && (!known || next < known)) out.set(row.serverId, next);
  }
  return out;
}
