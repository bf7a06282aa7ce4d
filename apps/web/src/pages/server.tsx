import { useEffect, useRef, useState } from 'preact/hooks';
import { api, call } from '../api.js';
import { useUser } from '../app.js';
import { bytes, when } from '../format.js';
import { FINAL_EVENTS, useJobEvents, useServerEvents, type ServerJobEvent } from '../live.js';
import { href } from '../router.js';
import { can } from '../session.js';
import { ActionButton, ErrorNote, ProgressBar, Section, StatusBadge, useLoad } from '../ui.js';

interface StartedJob {
  jobId: string;
  label: string;
}

/** One job of this page, live: its progress bar and state until it ends. */
export function LiveJob({ jobId, label, onEnd }: { jobId: string; label: string; onEnd?: () => void }) {
  const live = useJobEvents(jobId, onEnd);
  return (
    <li class="live-job">
      <a href={href.job(jobId)}>{label}</a> <StatusBadge status={live.state} />
      <ProgressBar value={live.progress} label={`${label} progress`} />
      {live.failedReason && <p class="error">{live.failedReason}</p>}
      {live.error && <p class="error">{live.error}</p>}
    </li>
  );
}

type LiveStates = Record<string, { state?: string; progress?: number }>;
interface LiveJobs {
  states: LiveStates;
  connected: boolean;
}

/**
 * The jobs table kept live from the server's event stream: a listed job's state and progress change in place; a job
 * not listed yet (started here, by someone else, by a schedule or a fleet run) re-reads the list; a job that ended
 * re-reads the records too. Re-reads wait 300 ms, so a burst of events costs one request. Each (re)connection re-reads
 * the list once, for what happened before the stream started.
 */
function useLiveJobs(serverId: string, listed: string[], reloadJobs: () => void, reloadAll: () => void): LiveJobs {
  const [states, setStates] = useState<LiveStates>({});
  const pending = useRef<{ timer: ReturnType<typeof setTimeout> | null; all: boolean }>({ timer: null, all: false });
  const later = (all: boolean) => {
    pending.current.all ||= all;
    pending.current.timer ??= setTimeout(() => {
      const { all: everything } = pending.current;
      pending.current = { timer: null, all: false };
      (everything ? reloadAll : reloadJobs)();
    }, 300);
  };
  useEffect(() => () => clearTimeout(pending.current.timer ?? undefined), []);
  const connected = useServerEvents(
    serverId,
    (e: ServerJobEvent) => {
      if (e.event !== 'progress') setStates((prev) => ({ ...prev, [e.jobId]: { ...prev[e.jobId], state: e.event, ...(e.event === 'completed' ? { progress: 100 } : {}) } }));
      else if (e.progress !== undefined) setStates((prev) => ({ ...prev, [e.jobId]: { ...prev[e.jobId], progress: e.progress } }));
      const ended = (FINAL_EVENTS as readonly string[]).includes(e.event);
      if (ended || !listed.includes(e.jobId)) later(ended);
    },
    () => later(false),
  );
  return { states, connected };
}

export function ServerPage({ id }: { id: string }) {
  const user = useUser();
  const path = { params: { path: { id } } };
  const server = useLoad(() => call(api.GET('/api/servers/{id}', path)), [id]);
  const summary = useLoad(() => call(api.GET('/api/servers/{id}/summary', path)), [id]);
  const records = useLoad(async () => {
    const query = { params: { path: { id }, query: { limit: 10, offset: 0 } } };
    const [backups, scans, updates] = await Promise.all([
      call(api.GET('/api/servers/{id}/backups', query)),
      call(api.GET('/api/servers/{id}/scans', query)),
      call(api.GET('/api/servers/{id}/updates', query)),
    ]);
    return { backups, scans, updates };
  }, [id]);
  const schedules = useLoad(async () => {
    const [list, retention] = await Promise.all([call(api.GET('/api/servers/{id}/backup-schedules', path)), call(api.GET('/api/servers/{id}/retention', path))]);
    return { list, retention };
  }, [id]);
  const jobs = useLoad(() => call(api.GET('/api/jobs', { params: { query: { serverId: id, limit: 10, offset: 0 } } })), [id]);
  const [started, setStarted] = useState<StartedJob[]>([]);
  const serverId = { params: { path: { serverId: id } } };
  const start = (label: string, jobId: string) => setStarted((prev) => [{ jobId, label }, ...prev]);
  const refresh = () => {
    summary.reload();
    records.reload();
    jobs.reload();
  };
  const live = useLiveJobs(id, jobs.data?.map((j) => j.id) ?? [], jobs.reload, refresh);
  // A job started here re-reads the page when it ends only if the server's stream is not open (it does so otherwise):
  // read at the end, not when the job started.
  const streamOpen = useRef(false);
  streamOpen.current = live.connected;
  const startedEnded = () => {
    if (!streamOpen.current) refresh();
  };

  const s = server.data;
  return (
    <>
      <h1 tabIndex={-1}>{s ? s.name : 'Server'}</h1>
      <ErrorNote error={server.error} />
      {can(user, 'operator') && (
        <div class="toolbar">
          <ActionButton onClick={async () => start('Backup', (await call(api.POST('/api/servers/{serverId}/backup', { ...serverId, body: { backup_type: 'full', compression: true, encryption: false } }))).jobId)}>Back up now</ActionButton>
          <ActionButton onClick={async () => start('Scan', (await call(api.POST('/api/servers/{serverId}/scan', { ...serverId, body: { scan_type: 'full' } }))).jobId)}>Scan</ActionButton>
          <ActionButton onClick={async () => start('Update (dry run)', (await call(api.POST('/api/servers/{serverId}/update', { params: { path: { serverId: id }, query: { now: false } }, body: { dry_run: true } }))).jobId)}>
            Update (dry run)
          </ActionButton>
        </div>
      )}
      {started.length > 0 && (
        <Section title="Started here">
          <ul class="live-jobs">
            {started.map((j) => (
              <LiveJob key={j.jobId} jobId={j.jobId} label={j.label} onEnd={startedEnded} />
            ))}
          </ul>
        </Section>
      )}
      {s && (
        <Section title="Facts">
          <dl class="facts">
            <dt>Address</dt>
            <dd>
              {s.username}@{s.host}:{s.port}
            </dd>
            <dt>Status</dt>
            <dd>
              <StatusBadge status={s.lastSeenStatus ?? 'unknown'} /> {s.lastSeenAt ? `seen ${when(s.lastSeenAt)}` : 'never seen'}
              {s.lastLatencyMs !== null ? ` · ${s.lastLatencyMs} ms` : ''}
            </dd>
            <dt>Operating system</dt>
            <dd>{s.os ? `${s.os} ${s.osVersion ?? ''}` : 'not scanned yet'}</dd>
            <dt>Tags</dt>
            <dd>{s.tags.join(', ') || '—'}</dd>
            <dt>Labels</dt>
            <dd>
              {Object.entries(s.labels)
                .map(([k, v]) => `${k}=${v}`)
                .join(', ') || '—'}
            </dd>
            <dt>Backup paths</dt>
            <dd>{s.backupPaths.join(', ')}</dd>
            <dt>Storage target</dt>
            <dd>{s.storageTargetId ?? 'default'}</dd>
            <dt>Host key</dt>
            <dd>
              <code>{s.hostKeyFingerprint ?? 'not pinned'}</code>
            </dd>
            {summary.data && (
              <>
                <dt>Pending updates</dt>
                <dd>{summary.data.upgradablePackages?.count ?? '—'}</dd>
                <dt>Next scheduled backup</dt>
                <dd>{when(summary.data.nextScheduledBackupAt)}</dd>
              </>
            )}
          </dl>
        </Section>
      )}
      <Section title="Schedules and retention">
        <ErrorNote error={schedules.error} />
        {schedules.data && (
          <>
            {schedules.data.list.length === 0 ? (
              <p>No backup schedule.</p>
            ) : (
              <table>
                <thead>
                  <tr>
                    <th scope="col">Cron</th>
                    <th scope="col">Time zone</th>
                    <th scope="col">Enabled</th>
                    <th scope="col">Next run</th>
                  </tr>
                </thead>
                <tbody>
                  {schedules.data.list.map((sc) => (
                    <tr key={sc.id}>
                      <td>
                        <code>{sc.cron}</code>
                      </td>
                      <td>{sc.timezone}</td>
                      <td>{sc.enabled ? 'yes' : 'no'}</td>
                      <td>{when(sc.nextRuns[0])}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )}
            <p>
              Retention:{' '}
              {schedules.data.retention.configured
                ? `keep last ${schedules.data.retention.keepLast ?? '—'}, daily ${schedules.data.retention.keepDaily ?? '—'}, weekly ${schedules.data.retention.keepWeekly ?? '—'}`
                : 'no policy (never pruned)'}
            </p>
          </>
        )}
      </Section>
      <Section title="Jobs">
        <p class="count">{live.connected ? 'Live: new jobs and their states appear here as they change.' : 'Connecting to live updates…'}</p>
        <ErrorNote error={jobs.error} />
        <table>
          <thead>
            <tr>
              <th scope="col">Job</th>
              <th scope="col">State</th>
              <th scope="col">Progress</th>
              <th scope="col">Created</th>
            </tr>
          </thead>
          <tbody>
            {(jobs.data ?? []).map((j) => {
              const progress = live.states[j.id]?.progress ?? j.progress;
              return (
                <tr key={j.id}>
                  <td>
                    <a href={href.job(j.id)}>{j.name}</a>
                  </td>
                  <td>
                    <StatusBadge status={live.states[j.id]?.state ?? j.state} />
                  </td>
                  <td>{typeof progress === 'number' ? `${progress} %` : '—'}</td>
                  <td>{when(j.createdAt)}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </Section>
      <Section title="Backups">
        <ErrorNote error={records.error} />
        <table>
          <thead>
            <tr>
              <th scope="col">Backup</th>
              <th scope="col">Status</th>
              <th scope="col">Type</th>
              <th scope="col">Size</th>
              <th scope="col">Finished</th>
            </tr>
          </thead>
          <tbody>
            {(records.data?.backups ?? []).map((b) => (
              <tr key={b.id}>
                <td>
                  <a href={href.backup(b.id)}>{b.id.slice(0, 8)}</a>
                </td>
                <td>
                  <StatusBadge status={b.status} />
                </td>
                <td>{String(b.backupType)}</td>
                <td>{bytes(typeof b.sizeBytes === 'number' ? b.sizeBytes : null)}</td>
                <td>{when(b.finishedAt)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </Section>
      <Section title="Scans and updates">
        <table>
          <thead>
            <tr>
              <th scope="col">Record</th>
              <th scope="col">Kind</th>
              <th scope="col">Status</th>
              <th scope="col">Finished</th>
            </tr>
          </thead>
          <tbody>
            {[
              ...(records.data?.scans ?? []).map((r) => ({ id: r.id, kind: `${r.scanType} scan`, status: r.status, finishedAt: r.finishedAt })),
              ...(records.data?.updates ?? []).map((r) => ({ id: r.id, kind: r.dryRun ? 'update (dry run)' : 'update', status: r.status, finishedAt: r.finishedAt })),
            ].map((r) => (
              <tr key={r.id}>
                <td>
                  <a href={href.job(r.id)}>{r.id.slice(0, 8)}</a>
                </td>
                <td>{r.kind}</td>
                <td>
                  <StatusBadge status={r.status} />
                </td>
                <td>{when(r.finishedAt)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </Section>
    </>
  );
}
