import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '@mm/config';
import { auditLog, type NewAuditLogEntry } from '@mm/db';
import { AuditBuffer } from '../src/plugins/audit-buffer.js';
import { auditAction } from '../src/plugins/audit-action.js';
import { createServer, createTestApp, PASSWORD, type TestApp } from './helpers/test-app.js';

interface Entry {
  id: string;
  at: string;
  actor: { id: string | null; email: string | null; role: string | null };
  action: string;
  route: string;
  targetId: string | null;
  statusCode: number;
  outcome: 'success' | 'failure';
  requestId: string;
  ip: string | null;
}

let t: TestApp;
let serverId: string;
let createdUserId: string;

/** Every entry, newest first, read through the API page by page. */
async function readAll(query = '', limit = 100): Promise<Entry[]> {
  const all: Entry[] = [];
  let cursor: string | null = null;
  do {
    const res = await t.call('admin', { method: 'GET', url: `/api/audit?limit=${limit}${query}${cursor ? `&cursor=${cursor}` : ''}` });
    expect(res.statusCode, res.body).toBe(200);
    const body = res.json<{ data: Entry[]; meta: { nextCursor: string | null; limit: number } }>();
    expect(body.data.length).toBeLessThanOrEqual(limit);
    all.push(...body.data);
    cursor = body.meta.nextCursor;
  } while (cursor);
  return all;
}

beforeAll(async () => {
  // A long interval: entries reach PostgreSQL only when the test flushes, so reads are deterministic.
  t = await createTestApp({ AUDIT_FLUSH_INTERVAL_MS: '600000' });
  serverId = await createServer(t);
  const user = await t.call('admin', { method: 'POST', url: '/api/users', payload: { email: 'new@example.test', password: 'another-long-password', role: 'viewer' } });
  expect(user.statusCode).toBe(201);
  createdUserId = user.json<{ data: { id: string } }>().data.id;
  // Refused calls by known users: validation (400) and role (403).
  expect((await t.call('operator', { method: 'PATCH', url: `/api/servers/${serverId}`, payload: { port: 'nope' } })).statusCode).toBe(400);
  expect((await t.call('operator', { method: 'POST', url: '/api/users', payload: { email: 'x@example.test', password: 'another-long-password', role: 'admin' } })).statusCode).toBe(403);
  expect((await t.call('operator', { method: 'POST', url: `/api/servers/${serverId}/backup`, payload: {} })).statusCode).toBe(202);
  // Logins: one wrong password, one right.
  expect((await t.call(null, { method: 'POST', url: '/api/auth/login', payload: { email: 'operator@example.test', password: 'wrong-password-123' } })).statusCode).toBe(401);
  expect((await t.call(null, { method: 'POST', url: '/api/auth/login', payload: { email: 'viewer@example.test', password: PASSWORD } })).statusCode).toBe(200);
  // Neither anonymous refusals nor reads are audited.
  expect((await t.call(null, { method: 'POST', url: '/api/servers', payload: {} })).statusCode).toBe(401);
  expect((await t.call('admin', { method: 'GET', url: '/api/servers' })).statusCode).toBe(200);
  expect((await t.call('viewer', { method: 'GET', url: `/api/servers/${serverId}` })).statusCode).toBe(200);
  // Nothing is written on the request path.
  expect(await t.database.db.select().from(auditLog)).toHaveLength(0);
  await t.app.audit.flush();
});

afterAll(async () => {
  await t?.close();
});

describe('audit entries', () => {
  it('record who, what, target and outcome of every mutation, and nothing for reads or anonymous calls', async () => {
    const entries = await readAll();
    const summary = entries.map((e) => `${e.actor.email} ${e.action} ${e.statusCode}`).reverse();
    expect(summary).toEqual([
      'operator@example.test server.create 201',
      'admin@example.test user.create 201',
      'operator@example.test server.update 400',
      'operator@example.test user.create 403',
      'operator@example.test backup.trigger 202',
      'operator@example.test auth.login 401',
      'viewer@example.test auth.login 200',
    ]);
    const byAction = (action: string, status: number) => entries.find((e) => e.action === action && e.statusCode === status)!;
    expect(byAction('server.create', 201)).toMatchObject({ targetId: serverId, outcome: 'success', route: '/api/servers', actor: { id: t.userIds.operator, role: 'operator' } });
    expect(byAction('user.create', 201)).toMatchObject({ targetId: createdUserId, actor: { id: t.userIds.admin, role: 'admin' } });
    expect(byAction('server.update', 400)).toMatchObject({ targetId: serverId, outcome: 'failure', route: '/api/servers/:id' });
    expect(byAction('user.create', 403)).toMatchObject({ targetId: null, outcome: 'failure' });
    expect(byAction('backup.trigger', 202)).toMatchObject({ targetId: serverId, outcome: 'success' });
    // A failed login names the email tried but no account; a successful one names the account.
    expect(byAction('auth.login', 401)).toMatchObject({ actor: { id: null, email: 'operator@example.test', role: null }, outcome: 'failure' });
    expect(byAction('auth.login', 200)).toMatchObject({ actor: { id: t.userIds.viewer, email: 'viewer@example.test', role: 'viewer' }, outcome: 'success' });
    for (const e of entries) {
      expect(e.requestId).toMatch(/\S/);
      expect(e.ip).toBe('127.0.0.1');
    }
  });

  it('never keeps request bodies: no password or server credential is stored', async () => {
    const raw = JSON.stringify(await t.database.db.select().from(auditLog));
    for (const secret of ['hunter2-server', PASSWORD, 'wrong-password-123', 'another-long-password']) expect(raw).not.toContain(secret);
  });

  it('are written in batches after the response, and a request id given by the client is kept', async () => {
    const res = await t.call('operator', { method: 'DELETE', url: `/api/servers/00000000-0000-4000-8000-000000000000`, headers: { 'x-request-id': 'trace-me-123' } });
    expect(res.statusCode).toBe(404);
    expect(t.app.audit.size).toBe(1);
    await t.app.audit.flush();
    expect(t.app.audit.size).toBe(0);
    const [entry] = await readAll('&targetId=00000000-0000-4000-8000-000000000000');
    expect(entry).toMatchObject({ action: 'server.delete', statusCode: 404, outcome: 'failure', requestId: 'trace-me-123' });
  });
});

describe('GET /api/audit', () => {
  it('is for admins only', async () => {
    for (const role of ['viewer', 'operator'] as const) {
      const res = await t.call(role, { method: 'GET', url: '/api/audit' });
      expect(res.statusCode).toBe(403);
      expect(res.json()).toMatchObject({ success: false, error: { code: 'FORBIDDEN' } });
    }
  });

  it('filters by user, action (exact or prefix), target, outcome and time', async () => {
    const all = await readAll();
    const ops = await readAll(`&userId=${t.userIds.operator}`);
    expect(ops.length).toBeGreaterThan(0);
    expect(ops.every((e) => e.actor.id === t.userIds.operator)).toBe(true);
    expect(ops.length).toBe(all.filter((e) => e.actor.id === t.userIds.operator).length);
    expect((await readAll('&action=user.create')).map((e) => e.statusCode).sort()).toEqual([201, 403]);
    expect(new Set((await readAll('&action=server.*')).map((e) => e.action))).toEqual(new Set(['server.create', 'server.update', 'server.delete']));
    expect((await readAll(`&targetId=${createdUserId}`)).map((e) => e.action)).toEqual(['user.create']);
    const failures = await readAll('&outcome=failure');
    expect(failures.length).toBe(all.filter((e) => e.statusCode >= 400).length);
    expect(failures.every((e) => e.outcome === 'failure')).toBe(true);
    // from is inclusive, to exclusive: splitting at one entry's time puts it in the later half only.
    const pivot = all[Math.floor(all.length / 2)]!;
    const before = await readAll(`&to=${encodeURIComponent(pivot.at)}`);
    const after = await readAll(`&from=${encodeURIComponent(pivot.at)}`);
    expect(after.map((e) => e.id)).toContain(pivot.id);
    expect(before.map((e) => e.id)).not.toContain(pivot.id);
    expect(before.length + after.length).toBe(all.length);
    // Bounds PostgreSQL could not hold (year 0) are clamped, not a 500.
    expect(await readAll('&from=0000-12-31T23:59:59.999Z')).toHaveLength(all.length);
    expect(await readAll('&to=0000-12-31T23:59:59.999Z')).toHaveLength(0);
  });

  it('pages with a keyset cursor: every entry once, newest first', async () => {
    const all = await readAll();
    const paged = await readAll('', 2);
    expect(paged.map((e) => e.id)).toEqual(all.map((e) => e.id));
    const stamps = all.map((e) => Date.parse(e.at));
    expect([...stamps].sort((a, b) => b - a)).toEqual(stamps);
  });

  it('answers 400 in the envelope for a bad cursor or filter', async () => {
    for (const query of ['cursor=bm90LWEtY3Vyc29y', 'cursor=2026-13-01T00:00:00.000Z_00000000-0000-4000-8000-000000000000', 'outcome=maybe', 'userId=not-a-uuid', 'limit=0', 'from=yesterday', 'targetId=%00', 'action=%00', 'cursor=0000-01-01T00:00:00.000Z_00000000-0000-0000-0000-000000000000']) {
      const res = await t.call('admin', { method: 'GET', url: `/api/audit?${query}` });
      expect(res.statusCode, query).toBe(400);
      expect(res.json()).toMatchObject({ success: false, error: { code: 'VALIDATION_ERROR' } });
    }
  });
});

describe('shutdown', () => {
  it('writes what is still buffered when the app closes', async () => {
    const other = await createTestApp({ AUDIT_FLUSH_INTERVAL_MS: '600000' });
    try {
      expect((await other.call('admin', { method: 'DELETE', url: `/api/users/${other.userIds.viewer}` })).statusCode).toBe(200);
      expect(other.app.audit.size).toBe(1);
      await other.app.close();
      const rows = await other.database.db.select().from(auditLog);
      expect(rows.map((r) => [r.action, r.targetId])).toEqual([['user.delete', other.userIds.viewer]]);
    } finally {
      await other.close();
    }
  });
});

describe('action names', () => {
  it('derive from the route and method', () => {
    expect(auditAction('POST', '/api/servers')).toBe('server.create');
    expect(auditAction('PATCH', '/api/servers/:id')).toBe('server.update');
    expect(auditAction('DELETE', '/api/users/:id')).toBe('user.delete');
    expect(auditAction('POST', '/api/jobs/:id/cancel')).toBe('job.cancel');
    expect(auditAction('POST', '/api/queues/:queue/retry-failed')).toBe('queue.retry-failed');
    expect(auditAction('POST', '/api/servers/:serverId/scan')).toBe('scan.trigger');
    expect(auditAction('DELETE', '/api/webhooks/:id')).toBe('webhook.delete');
  });
});

describe('entries carrying text PostgreSQL refuses', () => {
  it('are written with that text replaced, and do not hold back the entries after them', async () => {
    // A login attempt names the email tried, straight from the body: a NUL or a lone surrogate there is text that
    // PostgreSQL refuses (in text columns and in jsonb). One such entry must not stall the whole trail.
    const hostile = 'nul\u0000and\ud800lone@example.test';
    const login = await t.call(null, { method: 'POST', url: '/api/auth/login', payload: { email: hostile, password: 'wrong-password-123' } });
    expect(login.statusCode).toBe(400);
    const after = await t.call('operator', { method: 'DELETE', url: '/api/servers/00000000-0000-4000-8000-0000000000aa' });
    expect(after.statusCode).toBe(404);
    expect(t.app.audit.size).toBe(2);
    await t.app.audit.flush();
    expect(t.app.audit.size).toBe(0);
    const [attempt] = await readAll('&action=auth.login&outcome=failure').then((all) => all.filter((e) => e.statusCode === 400));
    expect(attempt?.actor.email).toBe('nul\ufffdand\ufffdlone@example.test');
    const [next] = await readAll('&targetId=00000000-0000-4000-8000-0000000000aa');
    expect(next).toMatchObject({ action: 'server.delete', statusCode: 404 });
  });
});

describe('the buffer while PostgreSQL refuses writes', () => {
  it('keeps entries for the next flush and drops the oldest beyond its cap', async () => {
    const written: string[] = [];
    let down = true;
    const buffer = new AuditBuffer<NewAuditLogEntry>(
      async (rows) => {
        if (down) throw new Error('connection refused');
        written.push(...rows.map((r) => r.action));
      },
      { intervalMs: 600_000, batchSize: 2, maxEntries: 3, log: createLogger({ name: 'test', level: 'silent', pretty: false }) },
    );
    const entry = (action: string): NewAuditLogEntry => ({ at: new Date(), action, method: 'POST', route: '/api/x', statusCode: 200, outcome: 'success', requestId: action });
    for (const a of ['a', 'b', 'c', 'd', 'e']) buffer.push(entry(a));
    await buffer.flush();
    expect(written).toEqual([]);
    expect(buffer.size).toBe(3);
    down = false;
    await buffer.close();
    expect(written).toEqual(['c', 'd', 'e']);
    expect(buffer.size).toBe(0);
  });
});
