-- The fleet summary's scale: 10,000 servers, 1,000,000 records (300,000 backups, 700,000 scans of which 100,000 full
-- with a ~3 KB result each), 6,000 servers on a backup schedule, 200 fleet runs. Run on a migrated, empty database.
\set ON_ERROR_STOP on
begin;
insert into servers (id, name, host, username, auth_type, credentials, tags, labels, os, os_version, last_seen_status, last_seen_at)
select gen_random_uuid(), 'srv-' || lpad(i::text, 5, '0'), '10.' || (i / 65536) || '.' || ((i / 256) % 256) || '.' || (i % 256), 'deploy', 'key', 'x',
  array['web', case when i % 2 = 0 then 'eu' else 'us' end], jsonb_build_object('env', case when i % 10 = 0 then 'staging' else 'prod' end),
  case when i % 3 = 0 then 'ubuntu' else 'debian' end, '12',
  case when i % 50 = 0 then 'offline' when i % 97 = 0 then null else 'online' end, now() - (i % 600) * interval '1 second'
from generate_series(1, 10000) i;

create temp table sv as select id, row_number() over (order by name) as n from servers;

insert into backup_schedules (server_id, cron, timezone, options, interval_seconds, interval_cron, rpo_seconds, created_at)
select id, '0 2 * * *', 'UTC', '{"backup_type":"full","compression":true,"encryption":false}', 86400, '0 2 * * *',
  case when n % 7 = 0 then 3 * 86400 end, now() - interval '90 days'
from sv where n <= 6000;

-- 30 backups per server on the first 10,000: daily, the newest missing on every 25th server (overdue), a few failed.
insert into backups (id, server_id, status, backup_type, started_at, finished_at, created_at, error)
select gen_random_uuid(), sv.id, case when d % 13 = 0 then 'failed'::record_status else 'completed' end, 'full',
  now() - (d + case when sv.n % 25 = 0 then 5 else 0 end) * interval '1 day',
  now() - (d + case when sv.n % 25 = 0 then 5 else 0 end) * interval '1 day' + interval '10 minutes',
  now() - (d + case when sv.n % 25 = 0 then 5 else 0 end) * interval '1 day', case when d % 13 = 0 then 'disk full' end
from sv, generate_series(0, 29) d;

-- 60 quick scans per server.
insert into scans (id, server_id, status, scan_type, online, latency_ms, started_at, finished_at, created_at)
select gen_random_uuid(), sv.id, 'completed', 'quick', true, 3, now() - q * interval '1 hour', now() - q * interval '1 hour' + interval '1 second', now() - q * interval '1 hour'
from sv, generate_series(1, 60) q;

-- 10 full scans per server, each with a result like a real one (~3 KB of facts).
insert into scans (id, server_id, status, scan_type, online, started_at, finished_at, created_at, result)
select gen_random_uuid(), sv.id, 'completed', 'full', true, now() - f * interval '1 day', now() - f * interval '1 day' + interval '20 seconds', now() - f * interval '1 day',
  jsonb_build_object(
    'collectedAt', now() - f * interval '1 day',
    'os', jsonb_build_object('id', 'debian', 'name', 'Debian GNU/Linux 12 (bookworm)', 'versionId', '12'),
    'packages', jsonb_build_object('manager', 'apt', 'installed', 600 + sv.n % 100, 'upgradable', case when sv.n % 4 = 0 then sv.n % 9 else 0 end),
    'rebootRequired', sv.n % 11 = 0,
    'findings', case when sv.n % 20 = 0
      then jsonb_build_array(jsonb_build_object('code', 'ssh-password-auth', 'severity', 'critical', 'message', 'PasswordAuthentication yes'),
                             jsonb_build_object('code', 'disk-usage', 'severity', 'warning', 'message', '/var 91 % full'))
      else jsonb_build_array(jsonb_build_object('code', 'disk-usage', 'severity', 'info', 'message', '/ 40 % full')) end,
    'listening', (select jsonb_agg(jsonb_build_object('port', p, 'proto', 'tcp', 'address', '0.0.0.0', 'process', 'svc-' || p)) from generate_series(1, 25) p),
    'notes', jsonb_build_array(repeat('n', 200)),
    'mounts', (select jsonb_agg(jsonb_build_object('target', '/mnt/v' || m, 'source', '/dev/sd' || m, 'usedPercent', m * 3, 'fsType', 'ext4')) from generate_series(1, 12) m))
from sv, generate_series(1, 10) f;

-- What the scan worker's full scans and the fleet worker's dead-man check keep on each server row.
update servers s set upgradable_packages = case when sv.n % 4 = 0 then sv.n % 9 else 0 end, reboot_required = sv.n % 11 = 0,
  critical_findings = case when sv.n % 20 = 0 then 1 else 0 end,
  backup_overdue_since = case when sv.n % 25 = 0 and sv.n <= 6000 then now() - interval '3 days' end
from sv where sv.id = s.id;

insert into fleet_runs (id, action, selector, concurrency, state, wave_count, created_at, finished_at)
select gen_random_uuid(), 'scan', '{}', 10, case when i % 20 = 0 then 'failed' when i % 50 = 1 then 'running' else 'completed' end, 1,
  now() - i * interval '1 hour', case when i % 50 = 1 then null else now() - i * interval '1 hour' + interval '5 minutes' end
from generate_series(1, 200) i;
commit;
vacuum analyze;
select (select count(*) from servers) servers, (select count(*) from backups) backups, (select count(*) from scans) scans,
  (select count(*) from backups) + (select count(*) from scans) records,
  pg_size_pretty(pg_total_relation_size('scans')) scans_size;
