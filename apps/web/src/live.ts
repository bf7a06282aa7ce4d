import { useEffect, useRef, useState } from 'preact/hooks';

export const FINAL_EVENTS = ['completed', 'failed', 'removed', 'cancelled'] as const;
const JOB_EVENTS = ['state', 'waiting', 'delayed', 'active', 'progress', 'log', ...FINAL_EVENTS];

export interface JobLive {
  state: string;
  progress: number;
  /** Log lines that arrived over the stream (the page reads earlier ones from GET /api/jobs/:id/logs). */
  lines: string[];
  final: boolean;
  failedReason?: string;
  /** The stream's own `error` event (token expired, user deleted), or a refused stream. */
  error?: string;
}

const MAX_LINES = 1_000;

/**
 * A job's live state from `GET /api/jobs/:id/events` (native EventSource: same origin, the session cookie goes
 * along; it resumes with Last-Event-ID by itself). Closed at the final event, so it never reconnects to a finished job.
 */
export function useJobEvents(jobId: string | null, onFinal?: (live: JobLive) => void, generation = 0): JobLive {
  const [live, setLive] = useState<JobLive>({ state: 'unknown', progress: 0, lines: [], final: false });
  useEffect(() => {
    if (!jobId) return undefined;
    setLive({ state: 'unknown', progress: 0, lines: [], final: false });
    const source = new EventSource(`/api/jobs/${encodeURIComponent(jobId)}/events`);
    const handle = (name: string) => (e: Event) => {
      const message = e as MessageEvent<string>;
      let data: { state?: string; progress?: unknown; line?: string; failedReason?: string; message?: string };
      try {
        data = JSON.parse(message.data) as typeof data;
      } catch {
        return;
      }
      setLive((prev) => {
        const next: JobLive = { ...prev };
        if (typeof data.progress === 'number') next.progress = data.progress;
        if (name === 'state' && data.state) next.state = data.state;
        else if (name === 'log' && data.line !== undefined) next.lines = [...prev.lines, data.line].slice(-MAX_LINES);
        else if (name !== 'progress' && name !== 'log') next.state = name;
        if (name === 'completed') next.progress = 100;
        if (data.failedReason) next.failedReason = data.failedReason;
        if ((FINAL_EVENTS as readonly string[]).includes(name)) {
          next.final = true;
          source.close();
          onFinal?.(next);
        }
        return next;
      });
    };
    for (const name of JOB_EVENTS) source.addEventListener(name, handle(name));
    // The API's own `error` event carries a message; the browser's (a dropped connection) has none and EventSource retries.
    source.addEventListener('error', (e) => {
      const data = (e as MessageEvent<string>).data;
      if (typeof data === 'string') {
        const message = (JSON.parse(data) as { message?: string }).message ?? 'The event stream ended.';
        setLive((prev) => ({ ...prev, error: message }));
        source.close();
      } else if (source.readyState === EventSource.CLOSED) {
        setLive((prev) => (prev.final ? prev : { ...prev, error: 'The event stream was refused (signed out, or too many open streams).' }));
      }
    });
    return () => source.close();
    // onFinal is read when the job ends, not a reason to reconnect.
  }, [jobId, generation]);
  return live;
}

/** One event of `GET /api/events`: the job it is about, its name, and the fields the jobs table shows. */
export interface ServerJobEvent {
  jobId: string;
  event: string;
  progress?: number;
}

const SERVER_EVENTS = ['waiting', 'delayed', 'active', 'progress', 'completed', 'failed', 'removed'];

/**
 * Every job event of one server (`GET /api/events?serverId=`, which never ends: EventSource reconnects with
 * Last-Event-ID by itself after a dropped connection). Log lines are not asked for: the table shows none.
 * `onReady` runs at each (re)connection's `ready` event, from when on nothing is missed; the answer says whether
 * the stream is open.
 */
export function useServerEvents(serverId: string, onEvent: (event: ServerJobEvent) => void, onReady: () => void): boolean {
  const handlers = useRef({ onEvent, onReady });
  handlers.current = { onEvent, onReady };
  const [connected, setConnected] = useState(false);
  useEffect(() => {
    const source = new EventSource(`/api/events?serverId=${encodeURIComponent(serverId)}`);
    const handle = (name: string) => (e: Event) => {
      let data: { jobId?: unknown; progress?: unknown };
      try {
        data = JSON.parse((e as MessageEvent<string>).data) as typeof data;
      } catch {
        return;
      }
      if (typeof data.jobId !== 'string') return;
      handlers.current.onEvent({ jobId: data.jobId, event: name, ...(typeof data.progress === 'number' ? { progress: data.progress } : {}) });
    };
    for (const name of SERVER_EVENTS) source.addEventListener(name, handle(name));
    source.addEventListener('ready', () => {
      setConnected(true);
      handlers.current.onReady();
    });
    source.addEventListener('error', (e) => {
      setConnected(false);
      // The API's own `error` event (token expired, Redis away) ends the stream; the page keeps what it has.
      if (typeof (e as MessageEvent<string>).data === 'string') source.close();
    });
    return () => source.close();
  }, [serverId]);
  return connected;
}
