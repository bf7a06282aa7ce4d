import { sql } from 'drizzle-orm';
import type { Db } from '@mm/db';
import { SEVERITIES, type ServerSummary } from './summary-schemas.js';

/** When each server's next scheduled backup runs; a server without a schedule is absent from the map. */
export type NextBackups = (serverIds: string[]) => Promise<Map<string, Date>>;

const iso = (column: string) => sql.raw(`to_char(${column} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`);

interface SummaryRow extends Record<string, unknown> {
  server_id: string;
  b_id: string | null;
  b_type: 'full' | 'incremental' | null;
  b_finished: string | null;
  b_size: string | null;
  s_id: string | null;
  s_type: 'quick' | 'full' | null;
  s_status: 'completed' | 'failed' | null;
  s_finished: string | null;
  s_online: boolean | null;
  s_findings: Record<string, number> | null;
  u_id: string | null;
  u_status: 'completed' | 'failed' | null;
  u_finished: string | null;
  u_dry: boolean | null;
  u_changed: number | null;
  u_reboot: boolean | null;
  up_source: 'full-scan' | 'dry-run-update' | null;
  up_id: string | null;
  up_at: string | null;
  up_count: number | null;
}

/**
 * The summaries of several servers in one query: a LATERAL subquery per fact, each reading the newest row of one
 * server through a (server_id, created_at DESC, id DESC) index, so a page of servers costs one round trip.
 * Upgradable packages: the newer of the newest completed full scan and the newest completed dry run, skipping
 * either when it could not count them (no package manager found); older records are not searched for a count.
 * Unknown ids are absent from the map.
 */
export async function serverSummaries(db: Db, serverIds: string[], nextBackups: NextBackups, now: Date = new Date()): Promise<Map<string, ServerSummary>> {
  if (serverIds.length === 0) return new Map();
  const ids = `{${serverIds.join(',')}}`;
  const [rows, next] = await Promise.all([
    db.execute<SummaryRow>(sql`
      select s.id as server_id,
        b.id as b_id, b.backup_type::text as b_type, ${iso('b.finished_at')} as b_finished, b.size_bytes::text as b_size,
        sc.id as s_id, sc.scan_type::text as s_type, sc.status::text as s_status, ${iso('sc.finished_at')} as s_finished, sc.online as s_online, sc.findings as s_findings,
        u.id as u_id, u.status::text as u_status, ${iso('u.finished_at')} as u_finished, u.dry_run as u_dry, u.changed as u_changed, u.reboot_required as u_reboot,
        up.source as up_source, up.id as up_id, ${iso('up.at')} as up_at, up.count as up_count
      from servers s
      left join lateral (
        select id, backup_type, finished_at, size_bytes from backups
        where server_id = s.id and status = 'completed' order by created_at desc, id desc limit 1
      ) b on true
      left join lateral (
        select id, scan_type, status, finished_at, online,
          case when scan_type = 'full' and status = 'completed' and jsonb_typeof(result->'findings') = 'array' then coalesce(
            (select jsonb_object_agg(sev, n) from (select f->>'severity' as sev, count(*) as n from jsonb_array_elements(result->'findings') f group by 1) z),
            '{}'::jsonb) end as findings
        from scans where server_id = s.id and status in ('completed', 'failed') order by created_at desc, id desc limit 1
      ) sc on true
      left join lateral (
        select id, status, finished_at, dry_run, reboot_required,
          case when jsonb_typeof(result->'changed') = 'array' then jsonb_array_length(result->'changed') end as changed
        from updates where server_id = s.id and status in ('completed', 'failed') order by created_at desc, id desc limit 1
      ) u on true
      left join lateral (
        select * from (
          (select 'full-scan' as source, id, finished_at as at,
              case when jsonb_typeof(result->'packages'->'upgradable') = 'number' then (result->'packages'->>'upgradable')::int end as count
            from scans where server_id = s.id and status = 'completed' and scan_type = 'full' order by created_at desc, id desc limit 1)
          union all
          (select 'dry-run-update' as source, id, finished_at as at,
              case when jsonb_typeof(result->'upgradable') = 'array' then jsonb_array_length(result->'upgradable') end as count
            from updates where server_id = s.id and status = 'completed' and dry_run order by created_at desc, id desc limit 1)
        ) x where count is not null order by at desc nulls last limit 1
      ) up on true
      where s.id = any(${ids}::uuid[])`),
    nextBackups(serverIds),
  ]);
  const out = new Map<string, ServerSummary>();
  for (const r of rows) out.set(r.server_id, toSummary(r, next.get(r.server_id) ?? null, now));
  return out;
}

function toSummary(r: SummaryRow, nextBackup: Date | null, now: Date): ServerSummary {
  return {
    lastBackup:
      r.b_id && r.b_type
        ? {
            id: r.b_id,
            backupType: r.b_type,
            finishedAt: r.b_finished,
            ageSeconds: r.b_finished ? Math.max(0, Math.floor((now.getTime() - Date.parse(r.b_finished)) / 1000)) : null,
            sizeBytes: r.b_size === null ? null : Number(r.b_size),
          }
        : null,
    lastScan:
      r.s_id && r.s_type && r.s_status
        ? {
            id: r.s_id,
            type: r.s_type,
            status: r.s_status,
            finishedAt: r.s_finished,
            online: r.s_online,
            findings: r.s_findings ? bySeverity(r.s_findings) : null,
          }
        : null,
    lastUpdate:
      r.u_id && r.u_status
        ? { id: r.u_id, status: r.u_status, finishedAt: r.u_finished, dryRun: r.u_dry ?? false, packagesChanged: r.u_changed, rebootRequired: r.u_reboot }
        : null,
    upgradablePackages:
      r.up_source && r.up_id && r.up_at && r.up_count !== null ? { count: r.up_count, source: r.up_source, recordId: r.up_id, at: r.up_at } : null,
    nextScheduledBackupAt: nextBackup ? nextBackup.toISOString() : null,
  };
}

// Every severity present, zero when the scan found none of it, so clients need no defaulting.
function bySeverity(counts: Record<string, number>): Record<(typeof SEVERITIES)[number], number> {
  const out = Object.fromEntries(SEVERITIES.map((s) => [s, 0])) as Record<(typeof SEVERITIES)[number], number>;
  for (const s of SEVERITIES) out[s] = Number(counts[s] ?? 0);
  return out;
}
