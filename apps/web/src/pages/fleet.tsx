import { useMemo, useState } from 'preact/hooks';
import type { ApiData } from '@mm/client';
import { api, call, callPage } from '../api.js';
import { useUser } from '../app.js';
import { age, ageOf } from '../format.js';
import { href } from '../router.js';
import { can } from '../session.js';
import { ActionButton, ErrorNote, StatusBadge, useLoad } from '../ui.js';

type ServerRow = ApiData<'/api/fleet/servers', 'get'>[number];
type SortKey = 'name' | 'status' | 'backup' | 'scan' | 'updates';

const PAGE_SIZE = 50;
/** The API's largest page on that route (docs/API.md). */
const FLEET_PAGE = 5_000;

/**
 * Every server in ONE request up to 5,000 (GET /api/fleet/servers: only the columns shown); a larger fleet takes
 * one more request per 5,000.
 */
async function loadServers(): Promise<ServerRow[]> {
  const first = await callPage(api.GET('/api/fleet/servers', { params: { query: { limit: FLEET_PAGE, offset: 0 } } }));
  const rows = [...first.data];
  const total = first.meta?.total ?? rows.length;
  for (let offset = FLEET_PAGE; offset < total; offset += FLEET_PAGE) {
    rows.push(...(await call(api.GET('/api/fleet/servers', { params: { query: { limit: FLEET_PAGE, offset } } }))));
  }
  return rows;
}

const status = (s: ServerRow) => s.status ?? 'unknown';
const sorters: Record<SortKey, (a: ServerRow, b: ServerRow) => number> = {
  name: (a, b) => a.name.localeCompare(b.name),
  status: (a, b) => status(a).localeCompare(status(b)),
  // Never backed up sorts as the oldest.
  backup: (a, b) => (b.lastBackup?.ageSeconds ?? Infinity) - (a.lastBackup?.ageSeconds ?? Infinity),
  scan: (a, b) => Date.parse(a.lastScan?.finishedAt ?? '0') - Date.parse(b.lastScan?.finishedAt ?? '0'),
  updates: (a, b) => (a.pendingUpdates ?? -1) - (b.pendingUpdates ?? -1),
};
const COLUMNS: { key: SortKey; label: string }[] = [
  { key: 'name', label: 'Name' },
  { key: 'status', label: 'Status' },
  { key: 'backup', label: 'Last backup' },
  { key: 'scan', label: 'Last scan' },
  { key: 'updates', label: 'Pending updates' },
];

function SummaryTiles() {
  const summary = useLoad(() => call(api.GET('/api/fleet/summary')), []);
  if (summary.error) return <ErrorNote error={summary.error} />;
  const s = summary.data;
  const tiles: [string, number | undefined][] = [
    ['Online', s?.servers.online],
    ['Offline', s?.servers.offline],
    ['Backups overdue', s?.backups.overdue],
    ['Updates pending', s?.scans.withUpgradablePackages],
    ['Reboot required', s?.scans.rebootRequired],
    ['Critical findings', s?.scans.withCriticalFindings],
  ];
  return (
    <ul class="tiles" aria-label="Fleet summary">
      {tiles.map(([label, value]) => (
        <li key={label} class="tile">
          <span class="tile-value">{value ?? '…'}</span>
          <span class="tile-label">{label}</span>
        </li>
      ))}
    </ul>
  );
}

export function FleetPage() {
  const user = useUser();
  const servers = useLoad(loadServers, []);
  const [filter, setFilter] = useState('');
  const [statusFilter, setStatusFilter] = useState('all');
  const [sort, setSort] = useState<{ key: SortKey; dir: 1 | -1 }>({ key: 'name', dir: 1 });
  const [page, setPage] = useState(0);
  const [selected, setSelected] = useState<Set<string>>(new Set());

  const rows = useMemo(() => {
    const needle = filter.trim().toLowerCase();
    const kept = (servers.data ?? []).filter(
      (s) =>
        (statusFilter === 'all' || status(s) === statusFilter) &&
        (!needle || s.name.toLowerCase().includes(needle) || s.host.includes(needle) || s.tags.some((t) => t.toLowerCase().includes(needle))),
    );
    const compare = sorters[sort.key];
    return kept.sort((a, b) => compare(a, b) * sort.dir || a.name.localeCompare(b.name));
  }, [servers.data, filter, statusFilter, sort]);
  const pages = Math.max(1, Math.ceil(rows.length / PAGE_SIZE));
  const current = Math.min(page, pages - 1);
  const shown = rows.slice(current * PAGE_SIZE, (current + 1) * PAGE_SIZE);
  const allShownSelected = shown.length > 0 && shown.every((s) => selected.has(s.id));

  const toggle = (id: string, on: boolean) =>
    setSelected((prev) => {
      const next = new Set(prev);
      if (on) next.add(id);
      else next.delete(id);
      return next;
    });

  const bulkScan = async () => {
    const run = await call(api.POST('/api/fleet-runs', { params: { query: { now: false } }, body: { action: 'scan', selector: { ids: [...selected] }, concurrency: 10 } }));
    location.hash = href.run(run.runId);
  };

  return (
    <>
      <h1 tabIndex={-1}>Fleet</h1>
      <SummaryTiles />
      <div class="toolbar" role="search">
        <label for="filter">Filter</label>
        <input id="filter" type="search" value={filter} placeholder="name, host or tag" onInput={(e) => (setFilter(e.currentTarget.value), setPage(0))} />
        <label for="status-filter">Status</label>
        <select id="status-filter" value={statusFilter} onChange={(e) => (setStatusFilter(e.currentTarget.value), setPage(0))}>
          <option value="all">All</option>
          <option value="online">Online</option>
          <option value="offline">Offline</option>
          <option value="unknown">Unknown</option>
        </select>
        {can(user, 'operator') && (
          <ActionButton onClick={bulkScan} disabled={selected.size === 0}>
            Scan selected ({selected.size})
          </ActionButton>
        )}
      </div>
      <ErrorNote error={servers.error} />
      <p aria-live="polite" class="count">
        {servers.loading && !servers.data ? 'Loading servers…' : `${rows.length} of ${servers.data?.length ?? 0} servers`}
      </p>
      <div class="table-wrap">
        <table class="servers">
          <caption class="visually-hidden">Servers, sorted by {COLUMNS.find((c) => c.key === sort.key)?.label}</caption>
          <thead>
            <tr>
              <th scope="col">
                <input
                  type="checkbox"
                  aria-label="Select all servers on this page"
                  checked={allShownSelected}
                  onChange={(e) => {
                    const on = e.currentTarget.checked;
                    setSelected((prev) => {
                      const next = new Set(prev);
                      for (const s of shown) if (on) next.add(s.id);
                      else next.delete(s.id);
                      return next;
                    });
                  }}
                />
              </th>
              {COLUMNS.map((c) => (
                <th key={c.key} scope="col" aria-sort={sort.key === c.key ? (sort.dir === 1 ? 'ascending' : 'descending') : 'none'}>
                  <button type="button" class="sort" onClick={() => setSort((prev) => ({ key: c.key, dir: prev.key === c.key ? (prev.dir === 1 ? -1 : 1) : 1 }))}>
                    {c.label}
                    <span aria-hidden="true">{sort.key === c.key ? (sort.dir === 1 ? ' ▲' : ' ▼') : ''}</span>
                  </button>
                </th>
              ))}
              <th scope="col">Tags</th>
            </tr>
          </thead>
          <tbody>
            {shown.map((s) => (
              <tr key={s.id}>
                <td>
                  <input type="checkbox" aria-label={`Select ${s.name}`} checked={selected.has(s.id)} onChange={(e) => toggle(s.id, e.currentTarget.checked)} />
                </td>
                <th scope="row">
                  <a href={href.server(s.id)}>{s.name}</a>
                </th>
                <td>
                  <StatusBadge status={status(s)} />
                </td>
                <td>{age(s.lastBackup?.ageSeconds)}</td>
                <td>{s.lastScan ? `${ageOf(s.lastScan.finishedAt)} (${s.lastScan.type}, ${s.lastScan.status})` : 'never'}</td>
                <td>{s.pendingUpdates ?? '—'}</td>
                <td>{s.tags.join(', ')}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <nav class="pager" aria-label="Server table pages">
        <button type="button" disabled={current === 0} onClick={() => setPage(current - 1)}>
          Previous page
        </button>
        <span>
          Page {current + 1} of {pages}
        </span>
        <button type="button" disabled={current >= pages - 1} onClick={() => setPage(current + 1)}>
          Next page
        </button>
      </nav>
    </>
  );
}
