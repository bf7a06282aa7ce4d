import { CronExpressionParser } from 'cron-parser';
import type { Sql } from 'postgres';
import type { Logger } from '@mm/config';

/** Runs looked at to find a schedule's interval: enough for weekday-only or monthly patterns to show their longest gap. */
const INTERVAL_SAMPLE = 32;

/**
 * The interval of a cron schedule as an RPO needs it: the LONGEST gap between its next runs (a weekdays-only schedule
 * is 3 days over a weekend, and a 2-day default RPO would cry wolf every Sunday). cron-parser at BullMQ's version.
 */
export function cronIntervalSeconds(cron: string, timezone: string, from = new Date()): number | null {
  try {
    const it = CronExpressionParser.parse(cron, { tz: timezone, currentDate: from });
    let previous: number | null = null;
    let longest = 0;
    for (let i = 0; i < INTERVAL_SAMPLE && it.hasNext(); i++) {
      const at = it.next().getTime();
      if (previous !== null) longest = Math.max(longest, at - previous);
      previous = at;
    }
    return longest > 0 ? Math.round(longest / 1000) : null;
  } catch {
    return null;
  }
}

/** Fills backup_schedules.interval_seconds for schedules whose cron changed since it was computed (or never was). */
export async function refreshScheduleIntervals(sql: Sql): Promise<number> {
  const stale = await sql<{ id: string; cron: string; timezone: string }[]>`
    select id, cron, timezone from backup_schedules where interval_cron is distinct from cron limit 1000`;
  for (const s of stale) {
    const seconds = cronIntervalSeconds(s.cron, s.timezone);
    // Only if the cron is still the one read: a schedule edited meanwhile is computed on the next sweep.
    await sql`update backup_schedules set interval_seconds = ${seconds}, interval_cron = ${s.cron} where id = ${s.id} and cron = ${s.cron}`;
  }
  return stale.length;
}

/**
 * The dead-man check, each half one statement: a server with an enabled schedule whose newest successful backup (or,
 * without one, its first schedule's creation) is older than its RPO gets backup_overdue_since and one `backup.overdue`
 * delivery per subscribed webhook; one marked overdue whose successful backup landed since is cleared with
 * `backup.recovered`. A server's RPO: the smallest of its enabled schedules' (explicit rpo_seconds, else twice the interval).
 */
export async function checkBackupDeadlines(sql: Sql, log: Logger): Promise<{ overdue: number; recovered: number }> {
  const overdue = await sql<{ id: string }[]>`
    with rpo as (
      select server_id, min(coalesce(rpo_seconds, 2 * interval_seconds)) as rpo_seconds, min(created_at) as since
      from backup_schedules where enabled and coalesce(rpo_seconds, 2 * interval_seconds) is not null group by server_id
    ), state as (
      select r.server_id, r.rpo_seconds, last.finished_at as last_ok, coalesce(last.finished_at, r.since) as reference
      from rpo r left join lateral (
        select finished_at from backups b where b.server_id = r.server_id and b.status = 'completed'
        order by finished_at desc nulls last limit 1) last on true
    ), marked as (
      update servers s set backup_overdue_since = now()
      from state st
      where s.id = st.server_id and s.backup_overdue_since is null and st.reference < now() - make_interval(secs => st.rpo_seconds)
      returning s.id, s.name, s.backup_overdue_since, st.last_ok, st.rpo_seconds
    ), delivered as (
      insert into webhook_deliveries (webhook_id, event, dedup_key, payload)
      select w.id, 'backup.overdue', m.id || '@' || extract(epoch from m.backup_overdue_since)::bigint,
        jsonb_build_object('event', 'backup.overdue', 'occurredAt', m.backup_overdue_since, 'data',
          jsonb_build_object('serverId', m.id, 'serverName', m.name, 'lastSuccessfulBackupAt', m.last_ok, 'rpoSeconds', m.rpo_seconds))
      from marked m join webhooks w on 'backup.overdue' = any(w.events)
      on conflict (webhook_id, event, dedup_key) do nothing
    )
    select id from marked`;
  const recovered = await sql<{ id: string }[]>`
    with back as (
      select s.id, s.name, s.backup_overdue_since as since, last.id as backup_id, last.finished_at
      from servers s join lateral (
        select id, finished_at from backups b where b.server_id = s.id and b.status = 'completed' and b.finished_at > s.backup_overdue_since
        order by finished_at desc limit 1) last on true
      where s.backup_overdue_since is not null
    ), cleared as (
      update servers s set backup_overdue_since = null from back where s.id = back.id returning back.*
    ), delivered as (
      insert into webhook_deliveries (webhook_id, event, dedup_key, payload)
      select w.id, 'backup.recovered', c.id || '@' || extract(epoch from c.since)::bigint,
        jsonb_build_object('event', 'backup.recovered', 'occurredAt', now(), 'data',
          jsonb_build_object('serverId', c.id, 'serverName', c.name, 'backupId', c.backup_id, 'overdueSince', c.since, 'backupFinishedAt', c.finished_at))
      from cleared c join webhooks w on 'backup.recovered' = any(w.events)
      on conflict (webhook_id, event, dedup_key) do nothing
    )
    select id from cleared`;
  if (overdue.length > 0 || recovered.length > 0) {
    log.info({ overdue: overdue.map((r) => r.id), recovered: recovered.map((r) => r.id) }, 'backup deadlines: servers overdue or recovered');
  }
  return { overdue: overdue.length, recovered: recovered.length };
}
