import type { ComponentChildren } from 'preact';
import { useCallback, useEffect, useState } from 'preact/hooks';
import { api, call, errorText } from './api.js';

export function ProgressBar({ value, label }: { value: number; label: string }) {
  const v = Math.max(0, Math.min(100, Math.round(value)));
  return (
    <div class="progress-row">
      <div class="progress" role="progressbar" aria-label={label} aria-valuemin={0} aria-valuemax={100} aria-valuenow={v} aria-valuetext={`${v} %`}>
        <div class="progress-fill" style={{ width: `${v}%` }} />
      </div>
      <span class="progress-text" aria-hidden="true">
        {v} %
      </span>
    </div>
  );
}

export function ErrorNote({ error }: { error: unknown }) {
  if (!error) return null;
  return (
    <p class="error" role="alert">
      {errorText(error)}
    </p>
  );
}

export function StatusBadge({ status }: { status: string | null | undefined }) {
  const s = status ?? 'unknown';
  return <span class={`badge badge-${s.replace(/[^a-z]/g, '')}`}>{s}</span>;
}

export function Section({ title, children, id }: { title: string; children: ComponentChildren; id?: string }) {
  return (
    <section aria-labelledby={id ?? slug(title)}>
      <h2 id={id ?? slug(title)}>{title}</h2>
      {children}
    </section>
  );
}

const slug = (s: string) => `h-${s.toLowerCase().replace(/[^a-z0-9]+/g, '-')}`;

export interface Loaded<T> {
  data: T | undefined;
  error: unknown;
  loading: boolean;
  reload: () => void;
}

/** Runs `load` when `deps` change (and on reload()), keeping the last data while a reload is under way. */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[]): Loaded<T> {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<unknown>(null);
  const [loading, setLoading] = useState(true);
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let current = true;
    setLoading(true);
    load().then(
      (value) => {
        if (!current) return;
        setData(value);
        setError(null);
        setLoading(false);
      },
      (err: unknown) => {
        if (!current) return;
        setError(err);
        setLoading(false);
      },
    );
    return () => {
      current = false;
    };
    // The caller names its dependencies, as with useEffect.
  }, [...deps, tick]);
  const reload = useCallback(() => setTick((n) => n + 1), []);
  return { data, error, loading, reload };
}

/** A button that runs an async action, shows it is busy and reports its failure next to itself. */
export function ActionButton({ onClick, children, disabled, kind }: { onClick: () => Promise<unknown>; children: ComponentChildren; disabled?: boolean; kind?: 'danger' }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  return (
    <span class="action">
      <button
        type="button"
        class={kind === 'danger' ? 'danger' : undefined}
        disabled={busy || disabled}
        aria-busy={busy}
        onClick={() => {
          setBusy(true);
          setError(null);
          onClick().then(
            () => setBusy(false),
            (err: unknown) => {
              setBusy(false);
              setError(err);
            },
          );
        }}
      >
        {children}
      </button>
      <ErrorNote error={error} />
    </span>
  );
}

/** A link to a server by its name (read once; the id until then, or if the server is gone). */
export function ServerLink({ id, href }: { id: string; href: string }) {
  const server = useLoad(() => call(api.GET('/api/servers/{id}', { params: { path: { id } } })), [id]);
  return <a href={href}>{server.data?.name ?? id}</a>;
}
