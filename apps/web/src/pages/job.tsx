import { useEffect, useRef, useState } from 'preact/hooks';
import { api, call } from '../api.js';
import { useUser } from '../app.js';
import { when } from '../format.js';
import { useJobEvents } from '../live.js';
import { href } from '../router.js';
import { can } from '../session.js';
import { ActionButton, ErrorNote, ProgressBar, Section, ServerLink, StatusBadge, useLoad } from '../ui.js';

const LOG_PAGE = 1_000;

export function JobPage({ id }: { id: string }) {
  const user = useUser();
  const [attempt, setAttempt] = useState(0);
  const job = useLoad(() => call(api.GET('/api/jobs/{id}', { params: { path: { id } } })), [id, attempt]);
  // The log written so far, from PostgreSQL; lines arriving afterwards come over the event stream.
  const logs = useLoad(() => call(api.GET('/api/jobs/{id}/logs', { params: { path: { id }, query: { offset: 0, limit: LOG_PAGE } } })), [id, attempt]);
  // A retry starts a new attempt of the same job: `attempt` reopens the stream, which closed at the failure.
  const live = useJobEvents(
    id,
    () => {
      job.reload();
      logs.reload();
    },
    attempt,
  );
  const logRef = useRef<HTMLPreElement>(null);
  const seen = new Set((logs.data?.lines ?? []).map((l) => l.line));
  const lines = [...(logs.data?.lines ?? []).map((l) => l.line), ...(live.final ? [] : live.lines.filter((l) => !seen.has(l)))];
  useEffect(() => {
    const el = logRef.current;
    if (el) el.scrollTop = el.scrollHeight;
  }, [lines.length]);

  const j = job.data;
  const state = live.state !== 'unknown' ? live.state : (j?.state ?? 'unknown');
  const progress = live.state !== 'unknown' ? live.progress : typeof j?.progress === 'number' ? j.progress : 0;
  const ended = live.final || state === 'completed' || state === 'failed';
  return (
    <>
      <h1 tabIndex={-1}>Job {j ? j.name : id}</h1>
      <ErrorNote error={job.error} />
      <ProgressBar value={progress} label="Job progress" />
      <p>
        State: <StatusBadge status={state} />
        {live.failedReason && <span class="error"> {live.failedReason}</span>}
        {!live.failedReason && j?.failedReason && <span class="error"> {j.failedReason}</span>}
      </p>
      {live.error && <p class="error">{live.error}</p>}
      {can(user, 'operator') && (
        <div class="toolbar">
          {!ended && (
            <ActionButton kind="danger" onClick={() => call<{ jobId: string; state: string }>(api.POST('/api/jobs/{id}/cancel', { params: { path: { id } } }))}>
              Cancel job
            </ActionButton>
          )}
          {state === 'failed' && (
            <ActionButton
              onClick={async () => {
                await call(api.POST('/api/jobs/{id}/retry', { params: { path: { id } } }));
                setAttempt((n) => n + 1);
              }}
            >
              Retry job
            </ActionButton>
          )}
        </div>
      )}
      {j && (
        <dl class="facts">
          <dt>Queue</dt>
          <dd>{j.queue}</dd>
          <dt>Server</dt>
          <dd>{j.serverId ? <ServerLink id={j.serverId} href={href.server(j.serverId)} /> : '—'}</dd>
          <dt>Attempts</dt>
          <dd>
            {j.attempts} of {j.maxAttempts}
          </dd>
          <dt>Created</dt>
          <dd>{when(j.createdAt)}</dd>
          <dt>Finished</dt>
          <dd>{when(j.finishedAt)}</dd>
          {j.queue === 'backup' && j.name === 'backup:manual' && (
            <>
              <dt>Backup</dt>
              <dd>
                <a href={href.backup(j.id)}>Browse this backup</a>
              </dd>
            </>
          )}
        </dl>
      )}
      <Section title="Log">
        <ErrorNote error={logs.error} />
        <pre class="log" ref={logRef} tabIndex={0} aria-label="Job log" aria-live="polite">
          {lines.join('\n') || 'No log line yet.'}
        </pre>
      </Section>
    </>
  );
}
