import { useEffect, useState } from 'preact/hooks';
import { api, call } from '../api.js';
import { useUser } from '../app.js';
import { when } from '../format.js';
import { href } from '../router.js';
import { can } from '../session.js';
import { ActionButton, ErrorNote, ProgressBar, Section, StatusBadge, useLoad } from '../ui.js';

const COUNT_KEYS = ['pending', 'queued', 'completed', 'failed', 'cancelled', 'skipped'] as const;
type Counts = Record<(typeof COUNT_KEYS)[number], number>;

const done = (c: Counts) => c.completed + c.failed + c.cancelled + c.skipped;
const total = (c: Counts) => COUNT_KEYS.reduce((n, k) => n + c[k], 0);

function CountsText({ counts }: { counts: Counts }) {
  return <>{COUNT_KEYS.filter((k) => counts[k] > 0).map((k) => `${counts[k]} ${k}`).join(', ') || 'none'}</>;
}

export function RunsPage() {
  const runs = useLoad(() => call(api.GET('/api/fleet-runs', { params: { query: { limit: 50, offset: 0 } } })), []);
  return (
    <>
      <h1 tabIndex={-1}>Fleet runs</h1>
      <p>Start one from the fleet table: select servers, then “Scan selected”.</p>
      <ErrorNote error={runs.error} />
      <table>
        <thead>
          <tr>
            <th scope="col">Run</th>
            <th scope="col">Action</th>
            <th scope="col">State</th>
            <th scope="col">Servers</th>
            <th scope="col">Created</th>
          </tr>
        </thead>
        <tbody>
          {(runs.data ?? []).map((r) => (
            <tr key={r.id}>
              <th scope="row">
                <a href={href.run(r.id)}>{r.id.slice(0, 8)}</a>
              </th>
              <td>{r.action}</td>
              <td>
                <StatusBadge status={r.state} />
              </td>
              <td>
                <CountsText counts={r.counts} />
              </td>
              <td>{when(r.createdAt)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}

/**
 * One run, live: `GET /api/fleet-runs/:id/events` says when the run moved (`run`) and when it is over (`end`); each
 * time the page re-reads the run's waves and per-server states.
 */
export function RunPage({ id }: { id: string }) {
  const user = useUser();
  const run = useLoad(() => call(api.GET('/api/fleet-runs/{id}', { params: { path: { id } } })), [id]);
  const [streamError, setStreamError] = useState<string | null>(null);
  const { reload } = run;
  useEffect(() => {
    const source = new EventSource(`/api/fleet-runs/${encodeURIComponent(id)}/events`);
    let timer: ReturnType<typeof setTimeout> | undefined;
    // Many servers finishing at once send many `run` events: one re-read per half second is enough.
    const later = () => {
      timer ??= setTimeout(() => {
        timer = undefined;
        reload();
      }, 500);
    };
    source.addEventListener('run', later);
    source.addEventListener('end', () => {
      source.close();
      reload();
    });
    source.addEventListener('error', (e) => {
      const data = (e as MessageEvent<string>).data;
      if (typeof data === 'string') {
        setStreamError((JSON.parse(data) as { message?: string }).message ?? 'The event stream ended.');
        source.close();
      }
    });
    return () => {
      source.close();
      clearTimeout(timer);
    };
  }, [id, reload]);

  const r = run.data;
  const path = { params: { path: { id } } };
  return (
    <>
      <h1 tabIndex={-1}>Fleet run {id.slice(0, 8)}</h1>
      <ErrorNote error={run.error} />
      {streamError && <p class="error">{streamError}</p>}
      {r && (
        <>
          <p>
            {r.action} · <StatusBadge status={r.state} /> · wave {r.wave} of {r.waveCount} · <CountsText counts={r.counts} />
            {r.reason && <span class="error"> {r.reason}</span>}
          </p>
          <ProgressBar value={total(r.counts) ? (done(r.counts) * 100) / total(r.counts) : 0} label="Run progress" />
          {can(user, 'operator') && (
            <div class="toolbar">
              {r.state === 'running' && <ActionButton onClick={async () => (await call(api.POST('/api/fleet-runs/{id}/pause', path)), reload())}>Pause run</ActionButton>}
              {r.state === 'paused' && <ActionButton onClick={async () => (await call(api.POST('/api/fleet-runs/{id}/resume', path)), reload())}>Resume run</ActionButton>}
              {(r.state === 'running' || r.state === 'paused') && (
                <ActionButton kind="danger" onClick={async () => (await call(api.POST('/api/fleet-runs/{id}/abort', { params: { path: { id }, query: { cancelRunning: true } } })), reload())}>
                  Abort run
                </ActionButton>
              )}
            </div>
          )}
          {r.waves.map((w) => (
            <Section key={w.wave} title={`Wave ${w.wave}`} id={`wave-${w.wave}`}>
              <table>
                <thead>
                  <tr>
                    <th scope="col">Server</th>
                    <th scope="col">State</th>
                    <th scope="col">Job</th>
                    <th scope="col">Finished</th>
                    <th scope="col">Error</th>
                  </tr>
                </thead>
                <tbody>
                  {w.servers.map((s) => (
                    <tr key={s.serverId}>
                      <th scope="row">
                        <a href={href.server(s.serverId)}>{s.serverName}</a>
                      </th>
                      <td>
                        <StatusBadge status={s.state} />
                      </td>
                      <td>{s.jobId ? <a href={href.job(s.jobId)}>{s.jobState ?? 'job'}</a> : '—'}</td>
                      <td>{when(s.finishedAt)}</td>
                      <td>{s.error ?? ''}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </Section>
          ))}
        </>
      )}
    </>
  );
}
