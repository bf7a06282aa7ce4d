import { sql, type SQL } from 'drizzle-orm';
import type { Db } from '@mm/db';
import { ApiError } from '../errors.js';
import type { HistoryItem, HistoryQuery } from '../schemas/history.js';

type HistoryType = HistoryItem['type'];

/** The position after the last item of a page: its exact created_at (microseconds since the epoch, as PostgreSQL stores it) and id. */
export interface Cursor {
  micros: bigint;
  id: string;
}

/** 8 bytes of microseconds and the 16 bytes of the id, base64url: every 32-character string the schema admits decodes. */
export const CURSOR_PATTERN = '^[A-Za-z0-9_-]{32}$';

// The instants PostgreSQL and JavaScript can both write as ISO 8601 with a four-digit year.
const MIN_MICROS = BigInt(Date.parse('0001-01-01T00:00:00.000Z')) * 1000n;
const MAX_MICROS = BigInt(Date.parse('9999-12-31T23:59:59.999Z')) * 1000n + 999n;
const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;
/** ISO 8601 with a four-digit year and fields in range; parseDateTime rejects what still is no date (2026-02-30). */
export const DATE_TIME_PATTERN = '^\\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\\d|3[01])T([01]\\d|2[0-3]):[0-5]\\d:[0-5]\\d(\\.\\d{1,9})?(Z|[+-]([01]\\d|2[0-3]):[0-5]\\d)$';
// Server names matched by `q` join the search as ids; more than this many means `q` is too vague to be useful anyway.
const MAX_NAME_MATCHES = 1_000;

const invalid = (path: string, message: string) => new ApiError('VALIDATION_ERROR', message, [{ path, message }]);

export function encodeCursor(cursor: Cursor): string {
  const bytes = Buffer.alloc(24);
  bytes.writeBigInt64BE(cursor.micros, 0);
  Buffer.from(cursor.id.replace(/-/g, ''), 'hex').copy(bytes, 8);
  return bytes.toString('base64url');
}

const CURSOR = new RegExp(CURSOR_PATTERN);

/**
 * The position a client sends back. A time beyond what a record can hold is clamped to the nearest one: no record
 * lies beyond it, so the page is the same, and PostgreSQL never sees a timestamp it cannot read.
 */
export function decodeCursor(value: string): Cursor {
  const bytes = CURSOR.test(value) ? Buffer.from(value, 'base64url') : Buffer.alloc(0);
  if (bytes.length !== 24) throw invalid('/cursor', 'The cursor is not valid; pass meta.nextCursor from the previous page unchanged.');
  const raw = bytes.readBigInt64BE(0);
  const micros = raw < MIN_MICROS ? MIN_MICROS : raw > MAX_MICROS ? MAX_MICROS : raw;
  const hex = bytes.subarray(8).toString('hex');
  return { micros, id: `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}` };
}

/** Microseconds since the epoch as ISO 8601, all six digits kept (a JavaScript Date holds only milliseconds). */
function microsToIso(micros: bigint): string {
  const ms = micros / 1000n - (micros % 1000n < 0n ? 1n : 0n);
  const rest = micros - ms * 1000n;
  return new Date(Number(ms)).toISOString().replace('Z', `${rest.toString().padStart(3, '0')}Z`);
}

/**
 * An ISO 8601 date-time that names a real instant PostgreSQL can store, as microseconds since the epoch. The pattern
 * alone lets 2026-02-30 and 24:00 through (JavaScript reads both as the next day), and an offset can move year 0001 to 0000.
 */
export function parseDateTime(value: string, path: string): bigint {
  const m = DATE_TIME.exec(value);
  const [year, month, day, hour, minute, second] = (m ?? []).slice(1, 7).map(Number) as number[];
  const daysInMonth = m && month! >= 1 && month! <= 12 ? new Date(Date.UTC(2000, month!, 0)).getUTCDate() - (month === 2 && !isLeap(year!) ? 1 : 0) : 0;
  const inRange = day! >= 1 && day! <= daysInMonth && hour! <= 23 && minute! <= 59 && second! <= 59;
  const ms = m && inRange ? Date.parse(value.replace(/\.\d+/, '')) : Number.NaN;
  // Digits past the sixth are below PostgreSQL's resolution: dropped.
  const micros = Number.isNaN(ms) ? null : BigInt(ms) * 1000n + BigInt(((m?.[7] ?? '.').slice(1) + '000000').slice(0, 6));
  if (micros === null || micros < MIN_MICROS || micros > MAX_MICROS) {
    throw invalid(path, `${path.slice(1)} is not a valid date-time (ISO 8601 between years 0001 and 9999, e.g. 2026-01-31T00:00:00Z).`);
  }
  return micros;
}

const isLeap = (y: number) => (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;

/**
 * The uuid range a job-id prefix covers (`3f2a`, `3f2a9c1e-77`, or a whole id), or null when `q` cannot be one.
 * A range on the primary key uses its index; `id::text LIKE 'x%'` would not.
 */
export function jobIdRange(q: string): { lo: string; hi: string } | null {
  const text = q.toLowerCase();
  if (!/^[0-9a-f-]+$/.test(text)) return null;
  const hex = text.replace(/-/g, '');
  if (hex.length === 0 || hex.length > 32) return null;
  const format = (h: string) => `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  // The hyphens, if any, must stand where a uuid has them.
  if (format(hex.padEnd(32, '0')).slice(0, text.length) !== text) return null;
  return { lo: format(hex.padEnd(32, '0')), hi: format(hex.padEnd(32, 'f')) };
}

const escapeLike = (s: string) => s.replace(/[\\%_]/g, (c) => `\\${c}`);

const isoMs = (column: string) => sql.raw(`to_char(${column} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`);

// Each table's own columns, as the same four output columns so the branches can be merged with UNION ALL.
const BRANCHES: Record<HistoryType, { table: string; columns: string }> = {
  backup: { table: 'backups', columns: `r.backup_type::text as backup_type, r.size_bytes::text as size_bytes, null::text as scan_type, null::boolean as dry_run` },
  scan: { table: 'scans', columns: `null::text as backup_type, null::text as size_bytes, r.scan_type::text as scan_type, null::boolean as dry_run` },
  update: { table: 'updates', columns: `null::text as backup_type, null::text as size_bytes, null::text as scan_type, r.dry_run as dry_run` },
};

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

  const branch = (type: HistoryType) => {
    const b = BRANCHES[type];
    return sql`(select ${sql.raw(`'${type}'`)} as type, r.id, r.server_id, s.name as server_name, r.status::text as status,
      r.created_at as sort_at, ${isoMs('r.created_at')} as created_at, ${isoMs('r.started_at')} as started_at, ${isoMs('r.finished_at')} as finished_at,
      r.error, ${sql.raw(b.columns)}, (extract(epoch from r.created_at) * 1000000)::bigint::text as cursor_at
      from ${sql.raw(b.table)} r join servers s on s.id = r.server_id${where}
      order by r.created_at desc, r.id desc limit ${take})`;
  };
  const types: HistoryType[] = query.type ? [query.type] : ['backup', 'scan', 'update'];
  const merged = sql`select * from (${sql.join(types.map(branch), sql` union all `)}) h order by h.sort_at desc, h.id desc limit ${take}`;

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
