import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eq, sql } from 'drizzle-orm';
import { servers } from '@mm/db';
import { createTestApp, createServer, type TestApp } from './helpers/test-app.js';

// Issue #12: stored credentials must not follow a server to a new host, pins are admin business, and a server's
// host may not lead to this machine, the cloud's metadata service or the deployment's own Redis and PostgreSQL.

const FINGERPRINT = `SHA256:${'A'.repeat(43)}`;
const OTHER_FINGERPRINT = `SHA256:${'B'.repeat(43)}`;
const freshAuth = { type: 'password', password: 'fresh-password-9' };

let t: TestApp;
let strict: TestApp;
beforeAll(async () => {
  [t, strict] = await Promise.all([createTestApp(), createTestApp({ SERVER_ALLOW_LOOPBACK: 'false' })]);
});
afterAll(async () => {
  await Promise.all([t?.close(), strict?.close()]);
});

async function rowOf(app: TestApp, id: string) {
  const [row] = await app.database.db.select().from(servers).where(eq(servers.id, id));
  if (!row) throw new Error(`server ${id} is gone`);
  return row;
}

const patch = (app: TestApp, role: 'viewer' | 'operator' | 'admin', id: string, payload: object) =>
  app.call(role, { method: 'PATCH', url: `/api/servers/${id}`, payload });

describe('PATCH /api/servers/:id: a new address or user needs fresh credentials', () => {
  for (const change of [{ host: '10.20.30.40' }, { port: 2222 }, { username: 'someone-else' }]) {
    it(`refuses ${JSON.stringify(change)} without auth (400 naming the rule), storing nothing`, async () => {
      const id = await createServer(t, { name: `move-${Object.keys(change)[0]}` });
      const before = await rowOf(t, id);
      const res = await patch(t, 'operator', id, { ...change, name: 'renamed-too' });
      expect(res.statusCode, res.body).toBe(400);
      expect(res.json().error.code).toBe('VALIDATION_ERROR');
      expect(res.json().error.message).toMatch(/host, port or username.*auth/i);
      const after = await rowOf(t, id);
      expect(after).toEqual(before);
    });
  }

  it('accepts the same move with a fresh auth, and an unchanged host without one', async () => {
    const id = await createServer(t, { name: 'move-ok' });
    const before = await rowOf(t, id);
    const same = await patch(t, 'operator', id, { host: before.host, port: before.port, username: before.username, name: 'same-place' });
    expect(same.statusCode, same.body).toBe(200);
    expect((await rowOf(t, id)).credentials).toBe(before.credentials);

    const moved = await patch(t, 'operator', id, { host: '10.20.30.41', port: 2200, username: 'ops', auth: freshAuth });
    expect(moved.statusCode, moved.body).toBe(200);
    const after = await rowOf(t, id);
    expect(after).toMatchObject({ host: '10.20.30.41', port: 2200, username: 'ops', hostKeyFingerprint: null });
    expect(after.credentials).not.toBe(before.credentials);
  });
});

describe('PATCH /api/servers/:id: host key pins are admin-only', () => {
  for (const value of [OTHER_FINGERPRINT, null]) {
    it(`an operator may not set hostKeyFingerprint to ${String(value)} (403), an admin may`, async () => {
      const id = await createServer(t, { name: 'pinned', hostKeyFingerprint: FINGERPRINT });
      const refused = await patch(t, 'operator', id, { hostKeyFingerprint: value });
      expect(refused.statusCode, refused.body).toBe(403);
      expect(refused.json()).toMatchObject({ success: false, error: { code: 'FORBIDDEN' } });
      expect(refused.json().error.message).toMatch(/hostKeyFingerprint.*admin/);
      expect((await rowOf(t, id)).hostKeyFingerprint).toBe(FINGERPRINT);

      const allowed = await patch(t, 'admin', id, { hostKeyFingerprint: value });
      expect(allowed.statusCode, allowed.body).toBe(200);
      expect((await rowOf(t, id)).hostKeyFingerprint).toBe(value);
    });
  }

  it('an operator may not set a pin on an unpinned (trust-on-first-use) server either', async () => {
    const id = await createServer(t, { name: 'tofu' });
    const refused = await patch(t, 'operator', id, { hostKeyFingerprint: FINGERPRINT });
    expect(refused.statusCode).toBe(403);
    expect((await rowOf(t, id)).hostKeyFingerprint).toBeNull();
  });

  it('moving a pinned server (which resets its pin) is admin-only, even with fresh credentials', async () => {
    const id = await createServer(t, { name: 'pinned-move', hostKeyFingerprint: FINGERPRINT });
    const before = await rowOf(t, id);
    const refused = await patch(t, 'operator', id, { host: '10.9.9.9', auth: freshAuth });
    expect(refused.statusCode, refused.body).toBe(403);
    expect(refused.json().error.message).toMatch(/pin/i);
    expect(await rowOf(t, id)).toEqual(before);

    const moved = await patch(t, 'admin', id, { host: '10.9.9.9', auth: freshAuth });
    expect(moved.statusCode, moved.body).toBe(200);
    expect(await rowOf(t, id)).toMatchObject({ host: '10.9.9.9', hostKeyFingerprint: null });
  });

  it('a new user on the same machine keeps the pin (with fresh credentials, an operator may)', async () => {
    const id = await createServer(t, { name: 'pinned-user', hostKeyFingerprint: FINGERPRINT });
    const res = await patch(t, 'operator', id, { username: 'backup2', auth: freshAuth });
    expect(res.statusCode, res.body).toBe(200);
    expect(await rowOf(t, id)).toMatchObject({ username: 'backup2', hostKeyFingerprint: FINGERPRINT });
  });
});

describe('host address policy at registration and on PATCH', () => {
  const body = (host: string, port = 22) => ({ name: `h-${host}`, host, port, username: 'deploy', auth: { type: 'password', password: 'pw-123456' } });
  const count = async (app: TestApp) => (await app.database.db.select({ n: sql<number>`count(*)::int` }).from(servers))[0]?.n;

  for (const [host, reason] of [
    ['127.0.0.1', /loopback/],
    ['127.8.9.10', /loopback/],
    ['localhost', /loopback/],
    ['0.0.0.0', /unspecified/],
    ['169.254.169.254', /metadata/],
    ['169.254.10.10', /link-local/],
    ['100.100.100.200', /metadata/],
    ['fe80::1', /link-local/],
    ['0:0:0:0:0:0:0:1', /loopback/],
    ['0::ffff:127.0.0.1', /loopback/],
  ] as const) {
    it(`refuses ${host} by default (400, nothing stored)`, async () => {
      const before = await count(strict);
      const res = await strict.call('operator', { method: 'POST', url: '/api/servers', payload: body(host) });
      expect(res.statusCode, res.body).toBe(400);
      expect(res.json().error.code).toBe('VALIDATION_ERROR');
      expect(res.json().error.message).toMatch(reason);
      expect(await count(strict)).toBe(before);
    });
  }

  it('allows private and public ranges, and names that do not resolve yet (the worker checks again on connect)', async () => {
    for (const host of ['10.0.0.5', '192.168.1.10', '172.16.0.9', '100.64.1.1', '203.0.113.20', 'not-yet.example.test']) {
      const res = await strict.call('operator', { method: 'POST', url: '/api/servers', payload: body(host) });
      expect(res.statusCode, `${host}: ${res.body}`).toBe(201);
    }
  });

  it('refuses a move onto a refused address on PATCH, storing nothing', async () => {
    const id = await createServer(strict, { host: '10.1.2.3' });
    const before = await rowOf(strict, id);
    const res = await patch(strict, 'admin', id, { host: '169.254.169.254', auth: freshAuth });
    expect(res.statusCode, res.body).toBe(400);
    expect(res.json().error.message).toMatch(/metadata/);
    expect(await rowOf(strict, id)).toEqual(before);
  });

  it("SERVER_ALLOW_LOOPBACK=true allows loopback, but never this deployment's own Redis or PostgreSQL", async () => {
    const ok = await t.call('operator', { method: 'POST', url: '/api/servers', payload: body('127.0.0.2', 2022) });
    expect(ok.statusCode, ok.body).toBe(201);
    const redisPort = Number(new URL(t.env.REDIS_URL).port || 6379);
    const pgPort = Number(new URL(t.env.DATABASE_URL).port || 5432);
    const redis = await t.call('operator', { method: 'POST', url: '/api/servers', payload: body('127.0.0.1', redisPort) });
    expect(redis.statusCode, redis.body).toBe(400);
    expect(redis.json().error.message).toMatch(/Redis/);
    const pg = await t.call('operator', { method: 'POST', url: '/api/servers', payload: body('127.0.0.1', pgPort) });
    expect(pg.statusCode, pg.body).toBe(400);
    expect(pg.json().error.message).toMatch(/PostgreSQL/);
  });
});
