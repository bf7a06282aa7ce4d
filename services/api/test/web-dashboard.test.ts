import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiTokens } from '@mm/db';
import { createTestApp, PASSWORD, type TestApp } from './helpers/test-app.js';

let t: TestApp;
let webDir: string;

beforeAll(async () => {
  // A built dashboard's shape (apps/web/dist): index.html and content-hashed assets.
  webDir = await mkdtemp(join(tmpdir(), 'mm-web-dist-'));
  await mkdir(join(webDir, 'assets'));
  await writeFile(join(webDir, 'index.html'), '<!doctype html><title>Medicine Man</title><script type="module" src="/assets/index-abc123.js"></script>');
  await writeFile(join(webDir, 'assets', 'index-abc123.js'), 'console.log("dashboard")');
  t = await createTestApp({ WEB_DIR: webDir });
});
afterAll(async () => {
  await t?.close();
  await rm(webDir, { recursive: true, force: true });
});

const countTokens = async () => (await t.database.db.select({ n: sql<number>`count(*)::int` }).from(apiTokens))[0]?.n ?? 0;

async function signIn(email = 'operator@example.test') {
  const res = await t.app.inject({ method: 'POST', url: '/api/auth/session', payload: { email, password: PASSWORD } });
  expect(res.statusCode, res.body).toBe(200);
  const cookies = res.cookies as { name: string; value: string; path?: string; httpOnly?: boolean; sameSite?: string }[];
  const session = cookies.find((c) => c.name === 'mm_session');
  return { res, cookies, cookie: `mm_session=${session?.value ?? ''}`, csrfToken: res.json<{ data: { csrfToken: string } }>().data.csrfToken };
}

describe('the dashboard at /', () => {
  it('serves index.html with a strict CSP, and hashed assets as immutable', async () => {
    const page = await t.app.inject({ method: 'GET', url: '/' });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    expect(page.body).toContain('/assets/index-abc123.js');
    const csp = String(page.headers['content-security-policy']);
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain('unsafe-inline');
    expect(page.headers['cache-control']).toBe('no-cache');
    const asset = await t.app.inject({ method: 'GET', url: '/assets/index-abc123.js' });
    expect(asset.statusCode).toBe(200);
    expect(asset.headers['cache-control']).toBe('public, max-age=31536000, immutable');
  });

  it('leaves /api, /docs and unknown paths as they were', async () => {
    const me = await t.app.inject({ method: 'GET', url: '/api/auth/me' });
    expect(me.statusCode).toBe(401);
    expect(me.json()).toMatchObject({ success: false, error: { code: 'UNAUTHORIZED' } });
    const unknown = await t.app.inject({ method: 'GET', url: '/api/no-such-route' });
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json()).toMatchObject({ success: false, error: { code: 'NOT_FOUND' } });
    expect((await t.app.inject({ method: 'GET', url: '/nothing-here.js' })).statusCode).toBe(404);
    // Swagger UI keeps the API's own policy (it needs inline script).
    const docs = await t.app.inject({ method: 'GET', url: '/docs/' });
    expect(String(docs.headers['content-security-policy'])).toContain('unsafe-inline');
  });

  it('is left out, with the API still answering, when it was not built', async () => {
    const bare = await createTestApp({ WEB_DIR: join(webDir, 'not-built') });
    try {
      expect((await bare.app.inject({ method: 'GET', url: '/' })).statusCode).toBe(404);
      expect((await bare.call('viewer', { method: 'GET', url: '/api/auth/me' })).statusCode).toBe(200);
    } finally {
      await bare.close();
    }
  });
});

describe('the cookie session of the dashboard', () => {
  it('sets HttpOnly, SameSite=Strict cookies for /api and /admin and answers a CSRF token', async () => {
    const { cookies, csrfToken } = await signIn();
    expect(cookies.map((c) => [c.name, c.path, c.httpOnly, c.sameSite])).toEqual([
      ['mm_admin_session', '/admin', true, 'Strict'],
      ['mm_session', '/api', true, 'Strict'],
    ]);
    expect(csrfToken).toMatch(/^[\w-]{43}$/);
  });

  it('authenticates reads with the cookie alone, and GET /api/auth/session gives the same CSRF token back', async () => {
    const { cookie, csrfToken } = await signIn();
    const me = await t.app.inject({ method: 'GET', url: '/api/auth/me', headers: { cookie } });
    expect(me.statusCode).toBe(200);
    expect(me.json()).toMatchObject({ data: { email: 'operator@example.test', role: 'operator' } });
    const session = await t.app.inject({ method: 'GET', url: '/api/auth/session', headers: { cookie } });
    expect(session.json()).toMatchObject({ data: { user: { role: 'operator' }, csrfToken } });
    // A Bearer caller gets its user and no CSRF token (it needs none); a forged cookie or none is a 401.
    expect((await t.call('viewer', { method: 'GET', url: '/api/auth/session' })).json()).toMatchObject({ data: { user: { role: 'viewer' }, csrfToken: null } });
    expect((await t.app.inject({ method: 'GET', url: '/api/auth/session', headers: { cookie: 'mm_session=not-a-jwt' } })).statusCode).toBe(401);
    expect((await t.app.inject({ method: 'GET', url: '/api/auth/session' })).statusCode).toBe(401);
  });

  it('refuses an unsafe method without the right X-CSRF-Token, changing nothing', async () => {
    const { cookie, csrfToken } = await signIn();
    const other = await signIn('admin@example.test');
    const before = await countTokens();
    for (const headers of [{ cookie }, { cookie, 'x-csrf-token': 'x'.repeat(43) }, { cookie, 'x-csrf-token': other.csrfToken }]) {
      const res = await t.app.inject({ method: 'POST', url: '/api/tokens', headers, payload: { name: 'forged' } });
      expect(res.statusCode).toBe(403);
      expect(res.json()).toMatchObject({ success: false, error: { code: 'FORBIDDEN', message: expect.stringContaining('x-csrf-token') } });
    }
    expect(await countTokens()).toBe(before);
    const ok = await t.app.inject({ method: 'POST', url: '/api/tokens', headers: { cookie, 'x-csrf-token': csrfToken }, payload: { name: 'from the dashboard' } });
    expect(ok.statusCode, ok.body).toBe(201);
    expect(await countTokens()).toBe(before + 1);
  });

  it('leaves Bearer requests alone: no CSRF header needed, and the header wins over a cookie', async () => {
    const { cookie } = await signIn('admin@example.test');
    const res = await t.call('viewer', { method: 'GET', url: '/api/auth/me', headers: { cookie } });
    expect(res.json()).toMatchObject({ data: { role: 'viewer' } });
    const created = await t.call('operator', { method: 'POST', url: '/api/tokens', payload: { name: 'ci' } });
    expect(created.statusCode).toBe(201);
  });

  it('is cleared by DELETE /api/auth/session', async () => {
    const res = await t.app.inject({ method: 'DELETE', url: '/api/auth/session' });
    const cleared = (res.cookies as { name: string; value: string; path?: string; maxAge?: number }[]).map((c) => [c.name, c.value, c.path, c.maxAge]);
    expect(cleared).toEqual([
      ['mm_admin_session', '', '/admin', 0],
      ['mm_session', '', '/api', 0],
    ]);
  });
});
