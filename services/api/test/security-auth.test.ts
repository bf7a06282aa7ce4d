import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Role } from '../src/shared/roles.js';
import { createServer, createTestApp, PASSWORD, type TestApp } from './helpers/test-app.js';
import { routeRoles, STREAM_ONLY } from './helpers/route-roles.js';

// Forged, expired, tampered and orphaned JWTs against every /api route; the role table is the one roles.test.ts checks.

let t: TestApp;
let serverId: string;
beforeAll(async () => {
  t = await createTestApp();
  serverId = await createServer(t);
});
afterAll(async () => {
  await t?.close();
});

const b64url = (value: object | string) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');

/** A JWT signed by hand, so header, claims and key are whatever the attack needs. */
function forge(header: object, claims: object, key: string | null, hmac: 'sha256' | 'sha512' = 'sha256'): string {
  const unsigned = `${b64url(header)}.${b64url(claims)}`;
  const signature = key === null ? '' : createHmac(hmac, key).update(unsigned).digest('base64url');
  return `${unsigned}.${signature}`;
}

const now = () => Math.floor(Date.now() / 1000);

/** Every way to present a token the API must refuse with 401. */
function badTokens(): Record<string, string> {
  const secret = t.env.JWT_SECRET;
  const admin = { sub: t.userIds.admin, role: 'admin' as Role, iat: now() };
  const [h, , sig] = t.tokens.viewer.split('.');
  const viewerClaims = JSON.parse(Buffer.from(t.tokens.viewer.split('.')[1] as string, 'base64url').toString()) as Record<string, unknown>;
  return {
    'alg none': forge({ alg: 'none', typ: 'JWT' }, admin, null),
    'alg none, signature kept': `${b64url({ alg: 'none', typ: 'JWT' })}.${b64url(admin)}.${sig}`,
    'wrong secret': forge({ alg: 'HS256', typ: 'JWT' }, { ...admin, exp: now() + 600 }, 'not-the-secret-but-just-as-long-0123456789'),
    'expired': forge({ alg: 'HS256', typ: 'JWT' }, { ...admin, iat: now() - 7_200, exp: now() - 3_600 }, secret),
    'not yet valid': forge({ alg: 'HS256', typ: 'JWT' }, { ...admin, nbf: now() + 3_600, exp: now() + 7_200 }, secret),
    'tampered role claim': `${h}.${b64url({ ...viewerClaims, role: 'admin' })}.${sig}`,
    'HS512 (algorithm not allowed)': forge({ alg: 'HS512', typ: 'JWT' }, { ...admin, exp: now() + 600 }, secret, 'sha512'),
    'unknown user': forge({ alg: 'HS256', typ: 'JWT' }, { sub: '11111111-1111-4111-8111-111111111111', role: 'admin', iat: now(), exp: now() + 600 }, secret),
    'subject that is not a user id': forge({ alg: 'HS256', typ: 'JWT' }, { sub: "' OR 1=1 --", role: 'admin', iat: now(), exp: now() + 600 }, secret),
    'no subject': forge({ alg: 'HS256', typ: 'JWT' }, { role: 'admin', iat: now(), exp: now() + 600 }, secret),
    'garbage': 'not.a.jwt',
    'empty': '',
  };
}

describe('JWT attacks', () => {
  it('answers 401 UNAUTHORIZED to every forged, expired, tampered or orphaned token, on every /api route', async () => {
    const routes = [...routeRoles(() => serverId), ...STREAM_ONLY.map((r) => ({ ...r, url: () => r.url, payload: undefined }))];
    for (const [kind, token] of Object.entries(badTokens())) {
      for (const route of routes) {
        const res = await t.app.inject({
          method: route.method,
          url: route.url(),
          headers: { authorization: `Bearer ${token}` },
          ...(route.payload ? { payload: route.payload() } : {}),
        });
        expect(res.statusCode, `${kind}: ${route.method} ${route.url()} -> ${res.body}`).toBe(401);
        expect(res.json()).toMatchObject({ success: false, error: { code: 'UNAUTHORIZED' } });
      }
    }
  });

  it('refuses the same tokens in ?access_token= on the SSE routes, and ignores ?access_token= elsewhere', async () => {
    for (const [kind, token] of Object.entries(badTokens())) {
      for (const url of ['/api/events', `/api/jobs/${serverId}/events`]) {
        const res = await t.app.inject({ method: 'GET', url: `${url}?access_token=${encodeURIComponent(token || 'x')}` });
        expect(res.statusCode, `${kind}: ${url}`).toBe(401);
      }
    }
    // A valid token in the query string is accepted only where EventSource needs it.
    const res = await t.app.inject({ method: 'GET', url: `/api/servers?access_token=${t.tokens.admin}` });
    expect(res.statusCode).toBe(401);
  });

  it('names an expired token as expired', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/api/auth/me', headers: { authorization: `Bearer ${badTokens().expired}` } });
    expect(res.json().error.message).toMatch(/expired/);
  });

  it('takes the role from the database, not from the token: a viewer holding a validly signed admin claim is still a viewer', async () => {
    const claimsAdmin = forge({ alg: 'HS256', typ: 'JWT' }, { sub: t.userIds.viewer, role: 'admin', iat: now(), exp: now() + 600 }, t.env.JWT_SECRET);
    const res = await t.app.inject({ method: 'GET', url: '/api/users', headers: { authorization: `Bearer ${claimsAdmin}` } });
    expect(res.statusCode).toBe(403);
    const me = await t.app.inject({ method: 'GET', url: '/api/auth/me', headers: { authorization: `Bearer ${claimsAdmin}` } });
    expect(me.json().data).toMatchObject({ id: t.userIds.viewer, role: 'viewer' });
  });

  it("refuses a deleted user's token at once, on every route", async () => {
    const email = 'leaving@example.test';
    const created = await t.call('admin', { method: 'POST', url: '/api/users', payload: { email, password: PASSWORD, role: 'admin' } });
    expect(created.statusCode).toBe(201);
    const login = await t.app.inject({ method: 'POST', url: '/api/auth/login', payload: { email, password: PASSWORD } });
    const token = login.json().data.token as string;
    const before = await t.app.inject({ method: 'GET', url: '/api/users', headers: { authorization: `Bearer ${token}` } });
    expect(before.statusCode).toBe(200);
    const deleted = await t.call('admin', { method: 'DELETE', url: `/api/users/${created.json().data.id}` });
    expect(deleted.statusCode).toBe(200);
    for (const route of routeRoles(() => serverId)) {
      const res = await t.app.inject({ method: route.method, url: route.url(), headers: { authorization: `Bearer ${token}` }, ...(route.payload ? { payload: route.payload() } : {}) });
      expect(res.statusCode, `${route.method} ${route.url()}`).toBe(401);
      expect(res.json().error.message).toMatch(/no longer exists/);
    }
  });
});

describe('the role table', () => {
  it('covers every /api operation of the OpenAPI document, so a new route cannot ship without a role check', async () => {
    const doc = (await t.app.inject({ method: 'GET', url: '/docs/json' })).json<{ paths: Record<string, Record<string, unknown>> }>();
    const documented = Object.entries(doc.paths)
      .filter(([path]) => path.startsWith('/api/'))
      .flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`));
    const tabled = [...routeRoles(() => serverId), ...STREAM_ONLY].map((r) => `${r.method} ${r.documented}`);
    const publicRoutes = ['POST /api/auth/login', 'POST /api/auth/session', 'DELETE /api/auth/session'];
    expect(documented.filter((op) => !tabled.includes(op) && !publicRoutes.includes(op))).toEqual([]);
    expect(tabled.filter((op) => !documented.includes(op))).toEqual([]);
  });
});
