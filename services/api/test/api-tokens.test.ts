import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eq, sql } from 'drizzle-orm';
import type { FastifyInstance } from 'fastify';
import { apiTokens, auditLog } from '@mm/db';
import { buildApp } from '../src/app.js';
import type { Role } from '../src/shared/roles.js';
import { createServer, createTestApp, type TestApp } from './helpers/test-app.js';
import { routeRoles } from './helpers/route-roles.js';
import { openSse } from './helpers/sse-client.js';

let t: TestApp;
/** A second API process on the same PostgreSQL and Redis, as behind a load balancer. */
let other: FastifyInstance;
let serverId: string;

beforeAll(async () => {
  t = await createTestApp({ AUDIT_FLUSH_INTERVAL_MS: '600000' });
  other = await buildApp({ env: t.env, logger: false });
  await other.ready();
  serverId = await createServer(t);
});
afterAll(async () => {
  await other?.close();
  await t?.close();
});

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

async function createToken(role: Role, body: Record<string, unknown> = {}) {
  const res = await t.call(role, { method: 'POST', url: '/api/tokens', payload: { name: `${role} script`, ...body } });
  expect(res.statusCode, res.body).toBe(201);
  return res.json<{ data: { id: string; token: string; role: Role; userId: string; lastUsedAt: string | null; revokedAt: string | null } }>().data;
}

const countTokens = async () => (await t.database.db.select({ n: sql<number>`count(*)::int` }).from(apiTokens))[0]?.n ?? 0;

describe('POST /api/tokens', () => {
  it('returns the secret once and stores only its sha256', async () => {
    const created = await createToken('operator');
    expect(created.token).toMatch(/^mm_pat_[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(created.token.slice('mm_pat_'.length), 'base64url')).toHaveLength(32);
    expect(created).toMatchObject({ role: 'operator', userId: t.userIds.operator, lastUsedAt: null, revokedAt: null });
    const [row] = await t.database.db.select().from(apiTokens).where(eq(apiTokens.id, created.id));
    expect(row?.tokenHash).toBe(createHash('sha256').update(created.token).digest('hex'));
    expect(JSON.stringify(row)).not.toContain(created.token.slice(7));
    const listed = await t.call('operator', { method: 'GET', url: '/api/tokens' });
    expect(listed.body).not.toContain(created.token.slice(7));
    expect(listed.body).not.toContain(row?.tokenHash);
  });

  it('defaults to the caller role and refuses a higher one with 403, creating nothing', async () => {
    expect((await createToken('viewer')).role).toBe('viewer');
    expect((await createToken('admin', { role: 'viewer' })).role).toBe('viewer');
    const before = await countTokens();
    for (const [caller, role] of [['viewer', 'operator'], ['viewer', 'admin'], ['operator', 'admin']] as const) {
      const res = await t.call(caller, { method: 'POST', url: '/api/tokens', payload: { name: 'too much', role } });
      expect(res.statusCode, res.body).toBe(403);
      expect(res.json().error.code).toBe('FORBIDDEN');
    }
    expect(await countTokens()).toBe(before);
  });

  it('answers bad input with 400 and creates nothing', async () => {
    const before = await countTokens();
    for (const payload of [
      {},
      { name: '' },
      { name: 'x', role: 'root' },
      { name: 'x', expiresAt: 'tomorrow' },
      { name: 'x', expiresAt: '2001-01-01T00:00:00Z' },
      { name: 'x', extra: true },
      { name: 'line\nbreak' },
      { name: 'x'.repeat(101) },
    ]) {
      const res = await t.call('admin', { method: 'POST', url: '/api/tokens', payload });
      expect(res.statusCode, JSON.stringify(payload)).toBe(400);
      expect(res.json()).toMatchObject({ success: false, error: { code: 'VALIDATION_ERROR' } });
    }
    expect(await countTokens()).toBe(before);
  });
});

describe('Authorization: Bearer mm_pat_…', () => {
  it('works on every route a JWT works on, with the token role', async () => {
    const tokens = {} as Record<Role, string>;
    for (const role of ['viewer', 'operator', 'admin'] as const) tokens[role] = (await createToken(role)).token;
    const rank: Record<Role, number> = { viewer: 0, operator: 1, admin: 2 };
    for (const route of routeRoles(() => serverId)) {
      for (const role of ['viewer', 'operator', 'admin'] as const) {
        const res = await t.app.inject({ method: route.method, url: route.url(), headers: bearer(tokens[role]), ...(route.payload ? { payload: route.payload() } : {}) });
        const what = `${route.method} ${route.documented} as ${role} token: ${res.body.slice(0, 200)}`;
        if (rank[role] < rank[route.role]) expect(res.statusCode, what).toBe(403);
        else {
          expect([401, 403], what).not.toContain(res.statusCode);
          expect(res.statusCode, what).toBeLessThan(500);
        }
      }
    }
  });

  it("is capped by the token's role, not the owner's", async () => {
    const { token } = await createToken('admin', { role: 'viewer' });
    expect((await t.app.inject({ method: 'GET', url: '/api/servers', headers: bearer(token) })).statusCode).toBe(200);
    const users = await t.app.inject({ method: 'GET', url: '/api/users', headers: bearer(token) });
    expect(users.statusCode).toBe(403);
    const me = await t.app.inject({ method: 'GET', url: '/api/auth/me', headers: bearer(token) });
    expect(me.json().data).toMatchObject({ id: t.userIds.admin, role: 'viewer' });
  });

  it('answers an unknown, malformed, expired or revoked token with 401 like a bad JWT', async () => {
    const badJwt = await t.app.inject({ method: 'GET', url: '/api/servers', headers: bearer('not.a.jwt') });
    expect(badJwt.statusCode).toBe(401);
    // Seconds of margin: on a loaded machine the first use must still come before the expiry.
    const expiresAt = Date.now() + 5_000;
    const expired = await createToken('viewer', { expiresAt: new Date(expiresAt).toISOString() });
    expect((await t.app.inject({ method: 'GET', url: '/api/servers', headers: bearer(expired.token) })).statusCode).toBe(200);
    const revoked = await createToken('viewer');
    expect((await t.app.inject({ method: 'GET', url: '/api/servers', headers: bearer(revoked.token) })).statusCode).toBe(200);
    expect((await t.call('viewer', { method: 'DELETE', url: `/api/tokens/${revoked.id}` })).statusCode).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, expiresAt - Date.now()) + 100));
    const unknown = `mm_pat_${Buffer.alloc(32, 7).toString('base64url')}`;
    for (const token of [unknown, 'mm_pat_short', `${revoked.token}x`, expired.token, revoked.token]) {
      const res = await t.app.inject({ method: 'GET', url: '/api/servers', headers: bearer(token) });
      expect(res.statusCode, token).toBe(401);
      expect(res.json()).toEqual({ success: false, error: badJwt.json().error });
    }
  });

  it('keeps lastUsedAt, written once however often the token is used within a minute', async () => {
    const { id, token } = await createToken('viewer');
    const lastUsed = async () => (await t.database.db.select({ at: apiTokens.lastUsedAt }).from(apiTokens).where(eq(apiTokens.id, id)))[0]?.at ?? null;
    expect(await lastUsed()).toBeNull();
    await t.app.inject({ method: 'GET', url: '/api/servers', headers: bearer(token) });
    let first: Date | null = null;
    for (let i = 0; i < 50 && !first; i += 1) {
      first = await lastUsed();
      if (!first) await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(first).toBeInstanceOf(Date);
    for (let i = 0; i < 5; i += 1) await t.app.inject({ method: 'GET', url: '/api/servers', headers: bearer(token) });
    await other.inject({ method: 'GET', url: '/api/servers', headers: bearer(token) });
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect((await lastUsed())?.getTime()).toBe(first?.getTime());
    const listed = await t.call('viewer', { method: 'GET', url: '/api/tokens' });
    expect(listed.json().data.find((x: { id: string }) => x.id === id).lastUsedAt).toBe(first?.toISOString());
  });

  it('opens the SSE stream with ?access_token=, and only a valid one', async () => {
    const { token } = await createToken('viewer');
    const base = await other.listen({ port: 0, host: '127.0.0.1' });
    const stream = await openSse(`${base}/api/events?access_token=${token}`);
    expect(stream.status).toBe(200);
    expect((await stream.next())?.event).toBe('ready');
    stream.close();
    const refused = await fetch(`${base}/api/events?access_token=mm_pat_${Buffer.alloc(32, 1).toString('base64url')}`);
    expect(refused.status).toBe(401);
  });

  it('names the token in the audit entry of each call made with it', async () => {
    const { id, token } = await createToken('operator');
    const res = await t.app.inject({ method: 'POST', url: `/api/servers/${serverId}/scan`, headers: bearer(token), payload: { scan_type: 'quick' } });
    expect(res.statusCode).toBe(202);
    await t.app.audit.flush();
    const entries = await t.database.db.select().from(auditLog).where(eq(auditLog.tokenId, id));
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({ action: 'scan.trigger', actorId: t.userIds.operator, tokenId: id, statusCode: 202 });
    const creation = await t.database.db.select().from(auditLog).where(eq(auditLog.targetId, id));
    expect(creation[0]).toMatchObject({ action: 'token.create', tokenId: null });
    const viaApi = await t.call('admin', { method: 'GET', url: `/api/audit?userId=${t.userIds.operator}&action=scan.trigger` });
    expect(viaApi.json().data[0]).toMatchObject({ tokenId: id });
  });
});

describe('GET and DELETE /api/tokens', () => {
  it("lists one's own tokens; admins see everyone's with ?all=true", async () => {
    const mine = await createToken('viewer', { name: 'viewer own' });
    const theirs = await createToken('operator', { name: 'operator own' });
    const own = (await t.call('viewer', { method: 'GET', url: '/api/tokens?limit=100' })).json();
    expect(own.data.map((x: { id: string }) => x.id)).toContain(mine.id);
    expect(own.data.every((x: { userId: string }) => x.userId === t.userIds.viewer)).toBe(true);
    expect(own.meta.total).toBe(own.data.length);
    expect((await t.call('operator', { method: 'GET', url: '/api/tokens?all=true' })).statusCode).toBe(403);
    const all = (await t.call('admin', { method: 'GET', url: '/api/tokens?all=true&limit=100' })).json();
    const ids = all.data.map((x: { id: string }) => x.id);
    expect(ids).toEqual(expect.arrayContaining([mine.id, theirs.id]));
    expect(all.data.find((x: { id: string }) => x.id === theirs.id).userEmail).toBe('operator@example.test');
  });

  it("refuses someone else's token to a non-admin (404) and lets an admin revoke it", async () => {
    const theirs = await createToken('operator');
    const denied = await t.call('viewer', { method: 'DELETE', url: `/api/tokens/${theirs.id}` });
    expect(denied.statusCode).toBe(404);
    expect((await t.app.inject({ method: 'GET', url: '/api/servers', headers: bearer(theirs.token) })).statusCode).toBe(200);
    const revoked = await t.call('admin', { method: 'DELETE', url: `/api/tokens/${theirs.id}` });
    expect(revoked.statusCode).toBe(200);
    expect(revoked.json().data.revokedAt).toEqual(expect.any(String));
    const again = await t.call('admin', { method: 'DELETE', url: `/api/tokens/${theirs.id}` });
    expect(again.json().data.revokedAt).toBe(revoked.json().data.revokedAt);
    expect((await t.call('admin', { method: 'DELETE', url: '/api/tokens/00000000-0000-4000-8000-000000000000' })).statusCode).toBe(404);
    expect((await t.call('admin', { method: 'DELETE', url: '/api/tokens/not-an-id' })).statusCode).toBe(400);
  });

  it('revocation reaches another API process that had the token cached, within a second', async () => {
    const { id, token } = await createToken('operator');
    // Warm the other process' cache: from here only the revocation message can make it refuse.
    for (let i = 0; i < 3; i += 1) expect((await other.inject({ method: 'GET', url: '/api/servers', headers: bearer(token) })).statusCode).toBe(200);
    expect((await t.call('operator', { method: 'DELETE', url: `/api/tokens/${id}` })).statusCode).toBe(200);
    const revokedAt = Date.now();
    let status = 200;
    while (status === 200 && Date.now() - revokedAt < 1_000) {
      status = (await other.inject({ method: 'GET', url: '/api/servers', headers: bearer(token) })).statusCode;
      if (status === 200) await new Promise((resolve) => setTimeout(resolve, 25));
    }
    expect(status).toBe(401);
    expect((await t.app.inject({ method: 'GET', url: '/api/servers', headers: bearer(token) })).statusCode).toBe(401);
  });
});
