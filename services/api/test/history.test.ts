import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, createTestApp, type TestApp } from './helpers/test-app.js';
import { decodeCursor, encodeCursor, jobIdRange } from '../src/features/history/history-cursor.js';

interface Item {
  type: 'backup' | 'scan' | 'update';
  id: string;
  serverId: string;
  serverName: string;
  status: string;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  error: string | null;
  backupType?: string;
  sizeBytes?: number | null;
  scanType?: string;
  dryRun?: boolean;
}
interface Page {
  data: Item[];
  meta: { limit: number; nextCursor: string | null };
}

const RECORDS = 100_000;
const NAMES = ['web-alpha', 'web-beta', 'db-gamma', 'cache-delta', 'mail-epsilon'];
const BASE = '2026-01-01T00:00:00Z';

let t: TestApp;
let serverIds: string[];

// The history every page is checked against, ordered as the API promises: created_at DESC, id DESC over all three tables.
const ALL = `(select id, server_id, status::text as status, created_at, error, 'backup' as type from backups
  union all select id, server_id, status::text, created_at, error, 'scan' from scans
  union all select id, server_id, status::text, created_at, error, 'update' from updates) h`;

async function expectedIds(where: string, params: unknown[] = []): Promise<string[]> {
  const rows = await t.database.sql.unsafe<{ id: string }[]>(`select id from ${ALL} where ${where} order by created_at desc, id desc`, params as never[]);
  return rows.map((r) => r.id);
}

async function page(query: string): Promise<Page> {
  const res = await t.call('viewer', { method: 'GET', url: `/api/history?${query}` });
  expect(res.statusCode, res.body).toBe(200);
  return res.json<Page>();
}

/** Follows nextCursor until the last page (or `maxPages`), collecting every item. */
async function walk(query: string, maxPages = Infinity): Promise<Item[]> {
  const items: Item[] = [];
  let cursor: string | null = null;
  for (let n = 0; n < maxPages; n++) {
    const p: Page = await page(`${query}${cursor ? `&cursor=${cursor}` : ''}`);
    items.push(...p.data);
    cursor = p.meta.nextCursor;
    if (!cursor) break;
  }
  return items;
}

beforeAll(async () => {
  t = await createTestApp();
  serverIds = [];
  for (const name of NAMES) serverIds.push(await createServer(t, { name }));
  // One statement: record i goes to table i % 3 and server i % 5, four records share each created_at (ties across
  // and within tables, microsecond parts the cursor must keep), failed records carry an error, every 9973rd a rare one.
  await t.database.sql.unsafe(
    `with src as (
       select i, ($1::uuid[])[1 + i % 5] as server_id,
         (array['pending','running','completed','failed','cancelled'])[1 + (i / 15) % 5]::record_status as status,
         $2::timestamptz + (i / 4) * interval '1 second' + ((i / 4) % 3) * interval '1 microsecond' as created_at
       from generate_series(1, ${RECORDS}) i),
     rows as (
       select i, gen_random_uuid() as id, server_id, status, created_at,
         case when status = 'completed' or status = 'failed' then created_at + interval '5 seconds' end as finished_at,
         case when status = 'failed' then
           case when i % 9973 = 0 then 'tar: cannot stat /srv/zebrafish-archive: permission denied'
                when i % 2 = 0 then 'ssh: connect to host: connection refused' else 'update: dpkg lock is held by another process' end
         end as error
       from src),
     b as (insert into backups (id, server_id, status, created_at, started_at, finished_at, error, backup_type, size_bytes)
       select id, server_id, status, created_at, created_at, finished_at, error, case when i % 2 = 0 then 'full'::backup_type else 'incremental'::backup_type end,
         case when status = 'completed' then 1000000 + i end
       from rows where i % 3 = 0),
     s as (insert into scans (id, server_id, status, created_at, started_at, finished_at, error, scan_type)
       select id, server_id, status, created_at, created_at, finished_at, error, case when i % 2 = 0 then 'full'::scan_type else 'quick'::scan_type end
       from rows where i % 3 = 1)
     insert into updates (id, server_id, status, created_at, started_at, finished_at, error, dry_run)
       select id, server_id, status, created_at, created_at, finished_at, error, i % 2 = 0 from rows where i % 3 = 2`,
    [`{${serverIds.join(',')}}`, BASE],
  );
  await t.database.sql`analyze`;
}, 120_000);

afterAll(async () => {
  await t?.close();
});

describe('GET /api/history', () => {
  it('pages a filtered set of a few thousand records with the cursor: every record exactly once, in order', async () => {
    const server = serverIds[2] as string;
    const expected = await expectedIds(`server_id = $1 and status = 'failed'`, [server]);
    expect(expected.length).toBeGreaterThan(2_000);
    expect(expected.length).toBeLessThan(10_000);
    const items = await walk(`serverId=${server}&status=failed&limit=200`);
    expect(items.map((i) => i.id)).toEqual(expected);
    expect(new Set(items.map((i) => i.type))).toEqual(new Set(['backup', 'scan', 'update']));
    expect(items.every((i) => i.serverName === 'db-gamma' && i.status === 'failed' && i.error !== null)).toBe(true);
  });

  it('pages the unfiltered set newest first across the three tables, ties broken by id', async () => {
    const first = await page('limit=7');
    expect(first.meta.limit).toBe(7);
    const items = await walk('limit=150', 4);
    const expected = (await expectedIds('true')).slice(0, 600);
    expect(items.map((i) => i.id)).toEqual(expected);
    expect(first.data.map((i) => i.id)).toEqual(expected.slice(0, 7));
    // The default page size, and a record's fields as stored.
    const def = await page('');
    expect(def.data).toHaveLength(50);
    expect(def.meta.nextCursor).not.toBeNull();
  });

  it('shows each record with its type-specific fields', async () => {
    const [row] = await t.database.sql<{ id: string; size_bytes: string; backup_type: string; created_ms: string }[]>`
      select id, size_bytes::text, backup_type::text, (extract(epoch from created_at) * 1000)::bigint::text as created_ms from backups where status = 'completed' order by created_at desc, id desc limit 1`;
    const found = (await page(`q=${row!.id}`)).data;
    expect(found).toHaveLength(1);
    const item = found[0]!;
    expect(item).toMatchObject({ type: 'backup', id: row!.id, status: 'completed', backupType: row!.backup_type, sizeBytes: Number(row!.size_bytes), error: null });
    expect(item.createdAt).toBe(new Date(Number(row!.created_ms)).toISOString());
    expect(Date.parse(item.finishedAt!) - Date.parse(item.createdAt)).toBe(5_000);
    const scan = (await page('type=scan&limit=4')).data;
    expect(scan).toHaveLength(4);
    expect(scan.every((i) => i.type === 'scan' && (i.scanType === 'full' || i.scanType === 'quick'))).toBe(true);
    const update = (await page('type=update&limit=4')).data;
    expect(update).toHaveLength(4);
    expect(update.every((i) => i.type === 'update' && typeof i.dryRun === 'boolean')).toBe(true);
  });

  it('narrows by type, status, server and time window', async () => {
    const backups = await page('type=backup&limit=200');
    expect(backups.data.every((i) => i.type === 'backup')).toBe(true);
    expect(backups.data.map((i) => i.id)).toEqual((await expectedIds(`type = 'backup'`)).slice(0, 200));

    const running = await page('status=running&type=update&limit=100');
    expect(running.data.map((i) => i.id)).toEqual((await expectedIds(`status = 'running' and type = 'update'`)).slice(0, 100));

    const server = serverIds[4] as string;
    const byServer = await page(`serverId=${server}&limit=100`);
    expect(byServer.data).toHaveLength(100);
    expect(byServer.data.every((i) => i.serverId === server && i.serverName === 'mail-epsilon')).toBe(true);

    // A window of 300 seconds: 1200 records; from is inclusive, to exclusive.
    const from = '2026-01-01T01:00:00Z';
    const to = '2026-01-01T01:05:00Z';
    const windowed = await walk(`from=${from}&to=${to}&limit=200`);
    expect(windowed.map((i) => i.id)).toEqual(await expectedIds(`created_at >= $1 and created_at < $2`, [from, to]));
    expect(windowed.length).toBe(1_200);
    expect(windowed.every((i) => i.createdAt >= '2026-01-01T01:00:00.000Z' && i.createdAt < '2026-01-01T01:05:00.000Z')).toBe(true);
    // The same window in another offset names the same instants.
    const offset = await walk(`from=${encodeURIComponent('2026-01-01T02:00:00+01:00')}&to=${encodeURIComponent('2026-01-01T02:05:00+01:00')}&limit=200`);
    expect(offset.length).toBe(1_200);

    const empty = await page('from=2030-01-01T00:00:00Z');
    expect(empty.data).toEqual([]);
    expect(empty.meta.nextCursor).toBeNull();
  });

  it('q finds by server name, error text and job id (exact or prefix)', async () => {
    const byName = await page('q=GAMMA&limit=200');
    expect(byName.data).toHaveLength(200);
    expect(byName.data.map((i) => i.id)).toEqual((await expectedIds(`server_id = $1`, [serverIds[2]])).slice(0, 200));

    const rare = await walk('q=zebrafish&limit=200');
    const expectedRare = await expectedIds(`error ilike '%zebrafish%'`);
    expect(expectedRare.length).toBeGreaterThan(0);
    expect(rare.map((i) => i.id)).toEqual(expectedRare);
    expect(rare.every((i) => i.error?.includes('zebrafish'))).toBe(true);

    // LIKE wildcards in q are literal text: no error contains a percent sign.
    expect((await page('q=%25%25%25')).data).toEqual([]);

    const [one] = await expectedIds(`type = 'scan' and status = 'pending'`);
    const exact = await page(`q=${one}`);
    expect(exact.data.map((i) => i.id)).toEqual([one]);
    const upper = await page(`q=${one!.toUpperCase()}`);
    expect(upper.data.map((i) => i.id)).toEqual([one]);

    const prefix = one!.slice(0, 4);
    const byPrefix = await walk(`q=${prefix}&limit=200`);
    const expectedPrefix = await expectedIds(`id::text like $1 or error ilike $2 or server_id in (select id from servers where name ilike $2)`, [
      `${prefix}%`,
      `%${prefix}%`,
    ]);
    expect(byPrefix.map((i) => i.id)).toEqual(expectedPrefix);
    expect(byPrefix.map((i) => i.id)).toContain(one);
    const longPrefix = one!.slice(0, 13);
    expect((await page(`q=${longPrefix}`)).data.map((i) => i.id)).toEqual(await expectedIds(`id::text like $1`, [`${longPrefix}%`]));

    // Combined with filters, q narrows further.
    const combined = await page(`q=dpkg%20lock&type=update&serverId=${serverIds[0]}&limit=200`);
    expect(combined.data.length).toBeGreaterThan(0);
    expect(combined.data.every((i) => i.type === 'update' && i.serverId === serverIds[0] && i.error?.includes('dpkg lock'))).toBe(true);
  });

  it('maps job-id prefixes to uuid ranges and refuses what cannot be one', () => {
    expect(jobIdRange('3f2a')).toEqual({ lo: '3f2a0000-0000-0000-0000-000000000000', hi: '3f2affff-ffff-ffff-ffff-ffffffffffff' });
    expect(jobIdRange('3F2A9C1E-77')).toEqual({ lo: '3f2a9c1e-7700-0000-0000-000000000000', hi: '3f2a9c1e-77ff-ffff-ffff-ffffffffffff' });
    expect(jobIdRange('3f2-a')).toBeNull();
    expect(jobIdRange('web')).toBeNull();
  });

  it('reads every 32-character cursor as a position, clamping times no record can have', async () => {
    const id = '3f2a9c1e-77aa-4bcd-8ef0-0123456789ab';
    const cursor = { micros: 1_767_225_600_123_456n, id };
    expect(encodeCursor(cursor)).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(decodeCursor(encodeCursor(cursor))).toEqual(cursor);
    // Beyond year 9999: before every record, so the page is the first one; before year 1: after every record.
    const newest = await page('limit=5');
    const far = await page(`limit=5&cursor=${encodeCursor({ micros: 2n ** 62n, id })}`);
    expect(far.data.map((i) => i.id)).toEqual(newest.data.map((i) => i.id));
    expect((await page(`limit=5&cursor=${encodeCursor({ micros: -(2n ** 62n), id })}`)).data).toEqual([]);
    // A leap day exists in 2024; an offset PostgreSQL itself would refuse (beyond ±15:59) is still an instant.
    expect((await page('from=2024-02-29T00:00:00Z&limit=1')).data).toHaveLength(1);
    expect((await page(`from=${encodeURIComponent('0003-10-10T00:00:00+20:00')}&limit=1`)).data).toHaveLength(1);
    // Fractional digits past microseconds are dropped, not rounded into the next record's instant.
    const window = await walk(`from=2026-01-01T01:00:00.000000999Z&to=${encodeURIComponent('2026-01-01T02:05:00.000000+01:00')}&limit=200`);
    expect(window.length).toBe(1_200);
  });

  it('answers bad input with 400 in the envelope', async () => {
    const bad = [
      'type=audit',
      'status=done',
      'serverId=not-a-uuid',
      'limit=0',
      'limit=201',
      'q=ab',
      'from=yesterday',
      'from=2026-02-30T00:00:00Z',
      'to=2026-01-01T24:00:00Z',
      'from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z',
      'cursor=not-base64!',
      `cursor=${Buffer.from('hello').toString('base64url')}`,
      `cursor=${Buffer.from(JSON.stringify(['2026-01-01T00:00:00Z', 'x'])).toString('base64url')}`,
      `cursor=${'A'.repeat(33)}`,
      'from=0000-01-01T00:00:00Z',
      `from=${encodeURIComponent('0001-01-01T00:30:00+01:00')}`,
      'from=2026-02-29T00:00:00Z',
      'from=2026-04-31T00:00:00Z',
      'sort=asc',
    ];
    for (const query of bad) {
      const res = await t.call('viewer', { method: 'GET', url: `/api/history?${query}` });
      expect(res.statusCode, query).toBe(400);
      expect(res.json(), query).toMatchObject({ success: false, error: { code: 'VALIDATION_ERROR' } });
    }
    const anonymous = await t.call(null, { method: 'GET', url: '/api/history' });
    expect(anonymous.statusCode).toBe(401);
  });
});
