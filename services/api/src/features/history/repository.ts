import { sql, type SQL } from 'drizzle-orm';
import type { Db } from '@mm/db';
import { decodeCursor, encodeCursor, invalid, jobIdRange, microsToIso, parseDateTime } from './history-cursor.js';
import type { HistoryItem, HistoryQuery } from './schemas.js';
import { historyKinds, historyTables, type HistoryTable, type HistoryType } from './history-kinds.js';


// Server names matched by `q` join the search as ids; more than this many means `q` is too vague to be useful anyway.
const MAX_NAME_MATCHES = 1_000;

const escapeLike = (s: string) => s.replace(/[\\%_]/g, (c) => `\\${c}`);

const isoMs = (column: string) => sql.raw(`to_char(${column} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`);

interface HistoryRow extends Record<string, unknown> {
  type: HistoryType;
  id: string;
  server_id: string;
  server_name: string;
  status: HistoryItem['status'];
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  error: string | null;
  backup_type: 'full' | 'incremental' | null;
  size_bytes: string | null;
  scan_type: 'quick' | 'full' | null;
  dry_run: boolean | null;
  cursor_at: string;
}

export interface HistoryPageResult {
  items: HistoryItem[];
  nextCursor: string | null;
}

/**
 * One page of backups, scans and updates, newest first, from PostgreSQL. Keyset paging on (created_at, id):
 * each table's branch carries the same filters, the cursor predicate and its own LIMIT, so each reads
 * one of its (…, created_at DESC, id DESC) indexes and stops after limit + 1 rows; the merge keeps the newest.
 */
export async function historyPage(db: Db, query: HistoryQuery): Promise<HistoryPageResult> {
  const from = query.from !== undefined ? parseDateTime(query.from, '/from') : undefined;
  const to = query.to !== undefined ? parseDateTime(query.to, '/to') : undefined;
  if (from !== undefined && to !== undefined && from > to) throw invalid('/from', 'from must not be later than to.');
  const cursor = query.cursor !== undefined ? decodeCursor(query.cursor) : undefined;
  const take = query.limit + 1;

  const conditions: SQL[] = [];
  if (query.serverId) conditions.push(sql`r.server_id = ${query.serverId}::uuid`);
  if (query.status) conditions.push(sql`r.status = ${query.status}`);
  // Sent as UTC with all six fractional digits: PostgreSQL refuses offsets beyond ±15:59, and a Date would drop microseconds.
  if (from !== undefined) conditions.push(sql`r.created_at >= ${microsToIso(from)}::timestamptz`);
  if (to !== undefined) conditions.push(sql`r.created_at < ${microsToIso(to)}::timestamptz`);
  if (cursor) conditions.push(sql`(r.created_at, r.id) < (${microsToIso(cursor.micros)}::timestamptz, ${cursor.id}::uuid)`);
  if (query.q !== undefined) conditions.push(await textMatch(db, query.q));
  const where = conditions.length ? sql` where ${sql.join(conditions, sql` and `)}` : sql``;

  const branch = (table: HistoryTable) => {
    const { type, columns } = historyKinds[table];
    return sql`(select ${sql.raw(`'${type}'`)} as type, r.id, r.server_id, s.name as server_name, r.status::text as status,
      r.created_at as sort_at, ${isoMs('r.created_at')} as created_at, ${isoMs('r.started_at')} as started_at, ${isoMs('r.finished_at')} as finished_at,
      r.error, ${sql.raw(columns)}, (extract(epoch from r.created_at) * 1000000)::bigint::text as cursor_at
      from ${sql.raw(table)} r join servers s on s.id = r.server_id${where}
      order by r.created_at desc, r.id desc limit ${take})`;
  };
  const tables = query.type ? historyTables.filter((t) => historyKinds[t].type === query.type) : historyTables;
  const merged = sql`select * from (${sql.join(tables.map(branch), sql` union all `)}) h order by h.sort_at desc, h.id desc limit ${take}`;

  const rows = [...(await db.execute<HistoryRow>(merged))];
  const page = rows.slice(0, query.limit);
  const last = page[page.length - 1];
  return {
    items: page.map(toItem),
    nextCursor: rows.length > query.limit && last ? encodeCursor({ micros: BigInt(last.cursor_at), id: last.id }) : null,
  };
}

/** `q` as a condition: a server whose name contains it, an error that contains it, or a job id it is (a prefix of). */
async function textMatch(db: Db, q: string): Promise<SQL> {
  const pattern = `%${escapeLike(q)}%`;
  const named = await db.execute<{ id: string }>(sql`select id from servers where name ilike ${pattern} limit ${MAX_NAME_MATCHES}`);
  const serverIds = [...named].map((r) => r.id);
  const parts: SQL[] = [sql`r.error ilike ${pattern}`];
  // A literal array keeps `server_id = any(...)` an index condition the planner can OR with the trigram index.
  if (serverIds.length) parts.push(sql`r.server_id = any(${`{${serverIds.join(',')}}`}::uuid[])`);
  const range = jobIdRange(q);
  if (range) parts.push(range.lo === range.hi ? sql`r.id = ${range.lo}::uuid` : sql`r.id between ${range.lo}::uuid and ${range.hi}::uuid`);
  return sql`(${sql.join(parts, sql` or `)})`;
}

function toItem(r: HistoryRow): HistoryItem {
  const common = {
    id: r.id,
    serverId: r.server_id,
    serverName: r.server_name,
    status: r.status,
    createdAt: r.created_at,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
    error: r.error,
  };
  switch (r.type) {
    case 'backup':
      return { type: 'backup', ...common, backupType: r.backup_type ?? 'full', sizeBytes: r.size_bytes === null ? null : Number(r.size_bytes) };
    case 'scan':
      return { type: 'scan', ...common, scanType: r.scan_type ?? 'quick' };
    case 'update':
      return { type: 'update', ...common, dryRun: r.dry_run ?? false };
  }
}
