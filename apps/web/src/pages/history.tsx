import { useEffect, useState } from 'preact/hooks';
import type { ApiData } from '@mm/client';
import { api, callPage } from '../api.js';
import { when } from '../format.js';
import { href } from '../router.js';
import { ActionButton, ErrorNote, StatusBadge } from '../ui.js';

type Item = ApiData<'/api/history', 'get'>[number];
type Type = 'backup' | 'scan' | 'update';
type Status = 'pending' | 'running' | 'completed' | 'failed' | 'cancelled';
interface Filters {
  type: '' | Type;
  status: '' | Status;
  q: string;
}

async function search(filters: Filters, cursor?: string) {
  const query = {
    limit: 50,
    ...(filters.type ? { type: filters.type } : {}),
    ...(filters.status ? { status: filters.status } : {}),
    ...(filters.q.trim() ? { q: filters.q.trim() } : {}),
    ...(cursor ? { cursor } : {}),
  };
  const page = await callPage<Item[], { nextCursor: string | null }>(api.GET('/api/history', { params: { query } }));
  return { items: page.data, nextCursor: page.meta?.nextCursor ?? null };
}

/** Backups, scans and updates together, newest first (GET /api/history): filter, then page with the cursor. */
export function HistoryPage() {
  const [filters, setFilters] = useState<Filters>({ type: '', status: '', q: '' });
  const [result, setResult] = useState<{ items: Item[]; nextCursor: string | null } | null>(null);
  const [error, setError] = useState<unknown>(null);
  const run = (f: Filters) => {
    setError(null);
    search(f).then(setResult, setError);
  };
  // The newest records at first, unfiltered.
  useEffect(() => run({ type: '', status: '', q: '' }), []);
  return (
    <>
      <h1 tabIndex={-1}>History</h1>
      <form
        class="toolbar"
        role="search"
        onSubmit={(e) => {
          e.preventDefault();
          run(filters);
        }}
      >
        <label for="history-q">Search</label>
        <input id="history-q" type="search" value={filters.q} placeholder="server, error or job id (3+ characters)" onInput={(e) => setFilters({ ...filters, q: e.currentTarget.value })} />
        <label for="history-type">Type</label>
        <select id="history-type" value={filters.type} onChange={(e) => setFilters({ ...filters, type: e.currentTarget.value as Filters['type'] })}>
          <option value="">Any</option>
          <option value="backup">Backup</option>
          <option value="scan">Scan</option>
          <option value="update">Update</option>
        </select>
        <label for="history-status">Status</label>
        <select id="history-status" value={filters.status} onChange={(e) => setFilters({ ...filters, status: e.currentTarget.value as Filters['status'] })}>
          <option value="">Any</option>
          {['pending', 'running', 'completed', 'failed', 'cancelled'].map((s) => (
            <option key={s} value={s}>
              {s}
            </option>
          ))}
        </select>
        <button type="submit">Search history</button>
      </form>
      <ErrorNote error={error} />
      <table>
        <thead>
          <tr>
            <th scope="col">Created</th>
            <th scope="col">Type</th>
            <th scope="col">Server</th>
            <th scope="col">Status</th>
            <th scope="col">Job</th>
            <th scope="col">Error</th>
          </tr>
        </thead>
        <tbody>
          {(result?.items ?? []).map((i) => (
            <tr key={`${i.type}-${i.id}`}>
              <td>{when(i.createdAt)}</td>
              <td>{i.type}</td>
              <td>{i.serverId ? <a href={href.server(i.serverId)}>{i.serverName ?? i.serverId}</a> : (i.serverName ?? '—')}</td>
              <td>
                <StatusBadge status={i.status} />
              </td>
              <td>
                <a href={i.type === 'backup' ? href.backup(i.id) : href.job(i.id)}>{i.id.slice(0, 8)}</a>
              </td>
              <td>{i.error ?? ''}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {result?.nextCursor && (
        <ActionButton
          onClick={async () => {
            const more = await search(filters, result.nextCursor ?? undefined);
            setResult({ items: [...result.items, ...more.items], nextCursor: more.nextCursor });
          }}
        >
          Show more
        </ActionButton>
      )}
    </>
  );
}
