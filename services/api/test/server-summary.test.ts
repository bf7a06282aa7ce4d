import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, createTestApp, type TestApp } from './helpers/test-app.js';
import { NONE } from './helpers/route-roles.js';
import { serverSummaries } from '../src/features/servers/server-summary.js';

let t: TestApp;
let a: string; // backups, a full scan with findings, a dry run then a real update
let c: string; // a full scan newer than the dry run, then an unreachable quick scan
let empty: string; // no records at all
const ids = Object.fromEntries(['bOld', 'bNew', 'bFailed', 'bRunning', 'sFull', 'uDry', 'uReal', 'cFull', 'cDry', 'cQuick'].map((k) => [k, randomUUID()])) as Record<string, string>;

const findings = (severities: string[]) => severities.map((severity, i) => ({ severity, code: `c${i}`, message: 'm' }));

beforeAll(async () => {
  t = await createTestApp();
  a = await createServer(t, { name: 'summary-a' });
  c = await createServer(t, { name: 'summary-c' });
  empty = await createServer(t, { name: 'summary-empty' });
  const sql = t.database.sql;
  // Plain strings: the client is drizzle's, which passes timestamps and json through unserialised.
  const at = (minutesAgo: number) => new Date(Date.now() - minutesAgo * 60_000).toISOString();
  const json = (value: unknown) => JSON.stringify(value);
  await sql`insert into backups (id, server_id, status, backup_type, size_bytes, created_at, finished_at) values
    (${ids.bOld!}, ${a}, 'completed', 'full', 123456789, ${at(130)}, ${at(120)}),
    (${ids.bNew!}, ${a}, 'completed', 'incremental', 4096, ${at(65)}, ${at(60)}),
    (${ids.bFailed!}, ${a}, 'failed', 'full', null, ${at(30)}, ${at(29)}),
    (${ids.bRunning!}, ${a}, 'running', 'full', null, ${at(5)}, null)`;
  await sql`insert into scans (id, server_id, status, scan_type, online, result, created_at, finished_at) values
    (${ids.sFull!}, ${a}, 'completed', 'full', true, ${json({ packages: { manager: 'apt', installed: 400, upgradable: 7 }, findings: findings(['high', 'high', 'critical', 'low', 'info', 'high']) })}, ${at(50)}, ${at(49)}),
    (${ids.cQuick!}, ${c}, 'failed', 'quick', false, null, ${at(10)}, ${at(9)}),
    (${ids.cFull!}, ${c}, 'completed', 'full', true, ${json({ packages: { manager: 'apt', installed: 10, upgradable: 11 }, findings: [] })}, ${at(20)}, ${at(19)})`;
  const pkgs = (n: number) => Array.from({ length: n }, (_, i) => ({ name: `p${i}`, current: '1', candidate: '2', from: '1', to: '2' }));
  await sql`insert into updates (id, server_id, status, dry_run, reboot_required, result, created_at, finished_at) values
    (${ids.uDry!}, ${a}, 'completed', true, false, ${json({ dryRun: true, upgradable: pkgs(3), changed: pkgs(3) })}, ${at(40)}, ${at(39)}),
    (${ids.uReal!}, ${a}, 'completed', false, true, ${json({ dryRun: false, upgradable: pkgs(3), changed: pkgs(2) })}, ${at(35)}, ${at(34)}),
    (${ids.cDry!}, ${c}, 'completed', true, null, ${json({ dryRun: true, upgradable: pkgs(2), changed: pkgs(2) })}, ${at(25)}, ${at(24)})`;
}, 60_000);

afterAll(async () => {
  await t?.close();
});

describe('server summary', () => {
  it('summarises the newest records of a server', async () => {
    const res = await t.call('viewer', { method: 'GET', url: `/api/servers/${a}/summary` });
    expect(res.statusCode, res.body).toBe(200);
    const s = res.json().data;
    // The newest completed backup: the failed and running ones after it do not count.
    expect(s.lastBackup).toMatchObject({ id: ids.bNew, backupType: 'incremental', sizeBytes: 4096 });
    expect(s.lastBackup.ageSeconds).toBeGreaterThanOrEqual(3600);
    expect(s.lastBackup.ageSeconds).toBeLessThan(3600 + 120);
    expect(Date.now() - Date.parse(s.lastBackup.finishedAt)).toBeGreaterThanOrEqual(3600_000);
    expect(s.lastScan).toMatchObject({ id: ids.sFull, type: 'full', status: 'completed', online: true, findings: { info: 1, low: 1, medium: 0, high: 3, critical: 1 } });
    expect(s.lastUpdate).toMatchObject({ id: ids.uReal, status: 'completed', dryRun: false, packagesChanged: 2, rebootRequired: true });
    // The dry run (39 minutes ago) is newer than the full scan (49): its 3 packages, not the scan's 7.
    expect(s.upgradablePackages).toMatchObject({ count: 3, source: 'dry-run-update', recordId: ids.uDry });
    expect(s.nextScheduledBackupAt).toBeNull();
  });

  it('shows an unreachable last scan, and takes upgradable packages from a newer full scan', async () => {
    const s = (await t.call('viewer', { method: 'GET', url: `/api/servers/${c}/summary` })).json().data;
    expect(s.lastBackup).toBeNull();
    expect(s.lastScan).toMatchObject({ id: ids.cQuick, type: 'quick', status: 'failed', online: false, findings: null });
    expect(s.lastUpdate).toMatchObject({ id: ids.cDry, dryRun: true, packagesChanged: 2, rebootRequired: null });
    expect(s.upgradablePackages).toMatchObject({ count: 11, source: 'full-scan', recordId: ids.cFull });
  });

  it('is all nulls for a server without records, and 404 for an unknown server', async () => {
    const s = (await t.call('viewer', { method: 'GET', url: `/api/servers/${empty}/summary` })).json().data;
    expect(s).toEqual({ lastBackup: null, lastScan: null, lastUpdate: null, upgradablePackages: null, nextScheduledBackupAt: null });
    const missing = await t.call('viewer', { method: 'GET', url: `/api/servers/${NONE}/summary` });
    expect(missing.statusCode).toBe(404);
    expect(missing.json()).toMatchObject({ success: false, error: { code: 'NOT_FOUND' } });
    const bad = await t.call('viewer', { method: 'GET', url: '/api/servers/not-a-uuid/summary' });
    expect(bad.statusCode).toBe(400);
  });

  it('puts the same summary block in each item of GET /api/servers', async () => {
    const res = await t.call('viewer', { method: 'GET', url: '/api/servers?limit=10' });
    expect(res.statusCode, res.body).toBe(200);
    const items = res.json<{ data: { id: string; summary: Record<string, unknown> }[] }>().data;
    expect(items.map((i) => i.id).sort()).toEqual([a, c, empty].sort());
    for (const item of items) {
      const alone = (await t.call('viewer', { method: 'GET', url: `/api/servers/${item.id}/summary` })).json().data;
      expect({ ...item.summary, lastBackup: null }).toEqual({ ...alone, lastBackup: null });
      expect((item.summary.lastBackup as { id?: string } | null)?.id).toBe(alone.lastBackup?.id);
    }
  });

  it('answers the fleet table (GET /api/fleet/servers): the columns the dashboard shows, by name, from the same summaries', async () => {
    const res = await t.call('viewer', { method: 'GET', url: '/api/fleet/servers' });
    expect(res.statusCode, res.body).toBe(200);
    const body = res.json();
    expect(body.meta).toEqual({ limit: 5_000, offset: 0, total: 3 });
    expect(body.data.map((r: { name: string }) => r.name)).toEqual(['summary-a', 'summary-c', 'summary-empty']);
    const [rowA, rowC, rowEmpty] = body.data;
    expect(Object.keys(rowA).sort()).toEqual(['host', 'id', 'lastBackup', 'lastScan', 'name', 'pendingUpdates', 'status', 'tags']);
    expect(rowA).toMatchObject({ id: a, lastScan: { type: 'full', status: 'completed' }, pendingUpdates: 3 });
    expect(rowA.lastBackup.ageSeconds).toBeGreaterThanOrEqual(3600);
    expect(rowC).toMatchObject({ id: c, lastBackup: null, lastScan: { type: 'quick', status: 'failed' }, pendingUpdates: 11 });
    expect(rowEmpty).toEqual({ id: empty, name: 'summary-empty', host: expect.any(String), status: null, tags: expect.any(Array), lastBackup: null, lastScan: null, pendingUpdates: null });
    const paged = (await t.call('viewer', { method: 'GET', url: '/api/fleet/servers?limit=1&offset=1' })).json();
    expect(paged.data.map((r: { id: string }) => r.id)).toEqual([c]);
    expect(paged.meta).toEqual({ limit: 1, offset: 1, total: 3 });
    for (const query of ['limit=5001', 'limit=0', 'offset=-1', 'sort=name']) {
      const bad = await t.call('viewer', { method: 'GET', url: `/api/fleet/servers?${query}` });
      expect(bad.statusCode, query).toBe(400);
      expect(bad.json(), query).toMatchObject({ success: false, error: { code: 'VALIDATION_ERROR' } });
    }
  });

  it("reads nextScheduledBackupAt from the server's enabled backup schedules", async () => {
    await t.database.sql`insert into backup_schedules (server_id, cron, timezone, options, enabled) values
      (${c}, '0 3 * * *', 'UTC', ${JSON.stringify({ backup_type: 'full', compression: true, encryption: false })}, true),
      (${c}, '* * * * *', 'UTC', ${JSON.stringify({ backup_type: 'full', compression: true, encryption: false })}, false)`;
    const s = (await t.call('viewer', { method: 'GET', url: `/api/servers/${c}/summary` })).json().data;
    // The next 03:00 UTC; the disabled every-minute schedule does not count.
    const now = new Date();
    const expected = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate(), 3));
    if (expected <= now) expected.setUTCDate(expected.getUTCDate() + 1);
    expect(s.nextScheduledBackupAt).toBe(expected.toISOString());
    const listed = (await t.call('viewer', { method: 'GET', url: '/api/servers' })).json<{ data: { id: string; summary: { nextScheduledBackupAt: string | null } }[] }>().data;
    expect(listed.find((i) => i.id === c)?.summary.nextScheduledBackupAt).toBe(expected.toISOString());
    expect(listed.find((i) => i.id === a)?.summary.nextScheduledBackupAt).toBeNull();
  });

  it('fills nextScheduledBackupAt from the schedule lookup it is given, for all servers in one call', async () => {
    const next = new Date('2030-05-06T07:08:09.000Z');
    const calls: string[][] = [];
    const summaries = await serverSummaries(t.database.db, [a, c, NONE], async (serverIds) => {
      calls.push(serverIds);
      return new Map([[a, next]]);
    });
    expect(calls).toEqual([[a, c, NONE]]);
    expect(summaries.get(a)?.nextScheduledBackupAt).toBe('2030-05-06T07:08:09.000Z');
    expect(summaries.get(c)?.nextScheduledBackupAt).toBeNull();
    expect(summaries.has(NONE)).toBe(false);
  });
});
