-- The statement of GET /api/fleet/summary (services/api/src/features/fleet/summary.ts), OVERDUE_LISTED = 100:
-- its plan, then three plain runs.
\timing on
explain (analyze, buffers, costs off)
with fleet as (
      select count(*) as total,
        count(*) filter (where last_seen_status = 'online') as online,
        count(*) filter (where last_seen_status = 'offline') as offline,
        count(*) filter (where last_seen_status is null) as unknown,
        count(*) filter (where backup_overdue_since is not null) as overdue,
        count(*) filter (where critical_findings is not null) as full_scanned,
        count(*) filter (where upgradable_packages > 0) as upgradable,
        count(*) filter (where reboot_required) as reboot,
        count(*) filter (where critical_findings > 0) as critical
      from servers
    ), listed as (
      select s.id, s.name, s.backup_overdue_since from servers s where s.backup_overdue_since is not null
      order by s.backup_overdue_since, s.name limit 100
    )
    select json_build_object(
      'servers', (select json_build_object('total', total, 'online', online, 'offline', offline, 'unknown', unknown) from fleet),
      'backups', json_build_object(
        'overdue', (select overdue from fleet),
        'overdueServers', coalesce((
          select json_agg(json_build_object('id', l.id, 'name', l.name, 'overdueSince', l.backup_overdue_since, 'lastSuccessfulBackupAt', last.finished_at)
                          order by l.backup_overdue_since, l.name)
          from listed l left join lateral (
            select finished_at from backups b where b.server_id = l.id and b.status = 'completed' order by finished_at desc nulls last limit 1) last on true), '[]'::json),
        'serversWithSchedule', (select count(distinct server_id) from backup_schedules where enabled)),
      'scans', (select json_build_object('fullScanned', full_scanned, 'withUpgradablePackages', upgradable, 'rebootRequired', reboot, 'withCriticalFindings', critical) from fleet),
      'fleetRuns', (select json_build_object('running', count(*) filter (where state = 'running'), 'paused', count(*) filter (where state = 'paused'),
                    'failedLast7Days', count(*) filter (where state = 'failed' and finished_at > now() - interval '7 days')) from fleet_runs where state in ('running', 'paused', 'failed'))
    ) as summary;
\o /dev/null
with fleet as (
      select count(*) as total,
        count(*) filter (where last_seen_status = 'online') as online,
        count(*) filter (where last_seen_status = 'offline') as offline,
        count(*) filter (where last_seen_status is null) as unknown,
        count(*) filter (where backup_overdue_since is not null) as overdue,
        count(*) filter (where critical_findings is not null) as full_scanned,
        count(*) filter (where upgradable_packages > 0) as upgradable,
        count(*) filter (where reboot_required) as reboot,
        count(*) filter (where critical_findings > 0) as critical
      from servers
    ), listed as (
      select s.id, s.name, s.backup_overdue_since from servers s where s.backup_overdue_since is not null
      order by s.backup_overdue_since, s.name limit 100
    )
    select json_build_object(
      'servers', (select json_build_object('total', total, 'online', online, 'offline', offline, 'unknown', unknown) from fleet),
      'backups', json_build_object(
        'overdue', (select overdue from fleet),
        'overdueServers', coalesce((
          select json_agg(json_build_object('id', l.id, 'name', l.name, 'overdueSince', l.backup_overdue_since, 'lastSuccessfulBackupAt', last.finished_at)
                          order by l.backup_overdue_since, l.name)
          from listed l left join lateral (
            select finished_at from backups b where b.server_id = l.id and b.status = 'completed' order by finished_at desc nulls last limit 1) last on true), '[]'::json),
        'serversWithSchedule', (select count(distinct server_id) from backup_schedules where enabled)),
      'scans', (select json_build_object('fullScanned', full_scanned, 'withUpgradablePackages', upgradable, 'rebootRequired', reboot, 'withCriticalFindings', critical) from fleet),
      'fleetRuns', (select json_build_object('running', count(*) filter (where state = 'running'), 'paused', count(*) filter (where state = 'paused'),
                    'failedLast7Days', count(*) filter (where state = 'failed' and finished_at > now() - interval '7 days')) from fleet_runs where state in ('running', 'paused', 'failed'))
    ) as summary;
with fleet as (
      select count(*) as total,
        count(*) filter (where last_seen_status = 'online') as online,
        count(*) filter (where last_seen_status = 'offline') as offline,
        count(*) filter (where last_seen_status is null) as unknown,
        count(*) filter (where backup_overdue_since is not null) as overdue,
        count(*) filter (where critical_findings is not null) as full_scanned,
        count(*) filter (where upgradable_packages > 0) as upgradable,
        count(*) filter (where reboot_required) as reboot,
        count(*) filter (where critical_findings > 0) as critical
      from servers
    ), listed as (
      select s.id, s.name, s.backup_overdue_since from servers s where s.backup_overdue_since is not null
      order by s.backup_overdue_since, s.name limit 100
    )
    select json_build_object(
      'servers', (select json_build_object('total', total, 'online', online, 'offline', offline, 'unknown', unknown) from fleet),
      'backups', json_build_object(
        'overdue', (select overdue from fleet),
        'overdueServers', coalesce((
          select json_agg(json_build_object('id', l.id, 'name', l.name, 'overdueSince', l.backup_overdue_since, 'lastSuccessfulBackupAt', last.finished_at)
                          order by l.backup_overdue_since, l.name)
          from listed l left join lateral (
            select finished_at from backups b where b.server_id = l.id and b.status = 'completed' order by finished_at desc nulls last limit 1) last on true), '[]'::json),
        'serversWithSchedule', (select count(distinct server_id) from backup_schedules where enabled)),
      'scans', (select json_build_object('fullScanned', full_scanned, 'withUpgradablePackages', upgradable, 'rebootRequired', reboot, 'withCriticalFindings', critical) from fleet),
      'fleetRuns', (select json_build_object('running', count(*) filter (where state = 'running'), 'paused', count(*) filter (where state = 'paused'),
                    'failedLast7Days', count(*) filter (where state = 'failed' and finished_at > now() - interval '7 days')) from fleet_runs where state in ('running', 'paused', 'failed'))
    ) as summary;
with fleet as (
      select count(*) as total,
        count(*) filter (where last_seen_status = 'online') as online,
        count(*) filter (where last_seen_status = 'offline') as offline,
        count(*) filter (where last_seen_status is null) as unknown,
        count(*) filter (where backup_overdue_since is not null) as overdue,
        count(*) filter (where critical_findings is not null) as full_scanned,
        count(*) filter (where upgradable_packages > 0) as upgradable,
        count(*) filter (where reboot_required) as reboot,
        count(*) filter (where critical_findings > 0) as critical
      from servers
    ), listed as (
      select s.id, s.name, s.backup_overdue_since from servers s where s.backup_overdue_since is not null
      order by s.backup_overdue_since, s.name limit 100
    )
    select json_build_object(
      'servers', (select json_build_object('total', total, 'online', online, 'offline', offline, 'unknown', unknown) from fleet),
      'backups', json_build_object(
        'overdue', (select overdue from fleet),
        'overdueServers', coalesce((
          select json_agg(json_build_object('id', l.id, 'name', l.name, 'overdueSince', l.backup_overdue_since, 'lastSuccessfulBackupAt', last.finished_at)
                          order by l.backup_overdue_since, l.name)
          from listed l left join lateral (
            select finished_at from backups b where b.server_id = l.id and b.status = 'completed' order by finished_at desc nulls last limit 1) last on true), '[]'::json),
        'serversWithSchedule', (select count(distinct server_id) from backup_schedules where enabled)),
      'scans', (select json_build_object('fullScanned', full_scanned, 'withUpgradablePackages', upgradable, 'rebootRequired', reboot, 'withCriticalFindings', critical) from fleet),
      'fleetRuns', (select json_build_object('running', count(*) filter (where state = 'running'), 'paused', count(*) filter (where state = 'paused'),
                    'failedLast7Days', count(*) filter (where state = 'failed' and finished_at > now() - interval '7 days')) from fleet_runs where state in ('running', 'paused', 'failed'))
    ) as summary;
