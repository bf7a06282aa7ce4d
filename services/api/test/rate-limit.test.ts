import { setTimeout as sleep } from 'node:timers/promises';
import { randomUUID } from 'node:crypto';
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from './helpers/test-app.js';

// The rate limiter (plugins/rate-limit.ts): its headers and their values, the 429, the routes it leaves alone,
// per-route limits, the window and the key cap, as @fastify/rate-limit answered them before it.

const MAX = 3;
const LOGIN_MAX = 2;
/** Ten-minute windows: nothing resets while a test runs. */
let t: TestApp;
/** A one-second window, the shortest the env allows, for the reset. */
let short: TestApp;
beforeAll(async () => {
  t = await createTestApp({ RATE_LIMIT_MAX: String(MAX), RATE_LIMIT_WINDOW_MS: '600000', LOGIN_RATE_LIMIT_MAX: String(LOGIN_MAX) });
  short = await createTestApp({ RATE_LIMIT_MAX: '2', RATE_LIMIT_WINDOW_MS: '1000' });
});
afterAll(async () => {
  await t?.close();
  await short?.close();
});

const get = (url: string, remoteAddress: string, token?: string, app = t.app) =>
  app.inject({ method: 'GET', url, remoteAddress, headers: token ? { authorization: `Bearer ${token}` } : {} });
const viewerGet = (url: string, remoteAddress: string) => get(url, remoteAddress, t.tokens.viewer);
const login = (url: '/api/auth/login' | '/api/auth/session', remoteAddress: string) =>
  t.app.inject({ method: 'POST', url, remoteAddress, payload: { email: `${randomUUID()}@example.test`, password: 'wrong' } });

const limit = (res: LightMyRequestResponse) => res.headers['x-ratelimit-limit'];
const remaining = (res: LightMyRequestResponse) => res.headers['x-ratelimit-remaining'];
const reset = (res: LightMyRequestResponse) => Number(res.headers['x-ratelimit-reset']);
const noLimitHeaders = (res: LightMyRequestResponse) =>
  expect(Object.keys(res.headers).filter((h) => h.startsWith('x-ratelimit-') || h === 'retry-after'), `${res.statusCode} ${res.body}`).toEqual([]);

describe('the global limit', () => {
  it('counts down x-ratelimit-remaining on successes and handler errors alike, with the seconds left in the window', async () => {
    const ip = '10.9.0.1';
    const answers = [await viewerGet('/api/servers', ip), await viewerGet(`/api/servers/${randomUUID()}`, ip), await viewerGet('/api/servers', ip)];
    expect(answers.map((a) => a.statusCode)).toEqual([200, 404, 200]);
    expect(answers.map(limit)).toEqual(['3', '3', '3']);
    expect(answers.map(remaining)).toEqual(['2', '1', '0']);
    // The window began with the first request: its full length, then what is left of it, rounded up.
    expect(reset(answers[0]!)).toBe(600);
    for (const a of answers.slice(1)) expect(reset(a)).toBeGreaterThanOrEqual(599);
    for (const a of answers) expect(a.headers['retry-after']).toBeUndefined();
  });

  it('answers 429 in the envelope past the limit, with retry-after and the three headers, for that address only', async () => {
    const ip = '10.9.0.2';
    for (let i = 0; i < MAX; i++) expect((await viewerGet('/api/servers', ip)).statusCode).toBe(200);
    const blocked = await viewerGet('/api/servers', ip);
    expect(blocked.statusCode).toBe(429);
    expect(blocked.json()).toEqual({ success: false, error: { code: 'RATE_LIMITED', message: 'Too many requests; retry in 10 minutes.' } });
    expect([limit(blocked), remaining(blocked)]).toEqual(['3', '0']);
    expect(Number(blocked.headers['retry-after'])).toBeGreaterThanOrEqual(599);
    expect(Number(blocked.headers['retry-after'])).toBeLessThanOrEqual(600);
    expect(reset(blocked)).toBe(Number(blocked.headers['retry-after']));
    expect((await viewerGet('/api/servers', ip)).statusCode).toBe(429);
    expect(remaining(await viewerGet('/api/servers', '10.9.0.3'))).toBe('2');
  });

  it('leaves rateLimit: false routes and unknown routes alone: never refused, no headers, nothing counted', async () => {
    const ip = '10.9.0.4';
    for (let i = 0; i < MAX + 2; i++) {
      const health = await get('/health', ip);
      expect(health.statusCode).toBe(200);
      noLimitHeaders(health);
    }
    const others = [
      await t.app.inject({ method: 'HEAD', url: '/health', remoteAddress: ip }),
      await get('/metrics', ip),
      await viewerGet('/api/no-such-route', ip),
      await get('/no-such-page', ip),
    ];
    expect(others.map((a) => a.statusCode)).toEqual([200, 200, 404, 404]);
    for (const a of others) noLimitHeaders(a);
    expect(remaining(await viewerGet('/api/servers', ip))).toBe('2');
  });

  it('counts a HEAD with its GET, and not an /api call that auth refuses first', async () => {
    const ip = '10.9.0.5';
    const anonymous = await get('/api/servers', ip);
    expect(anonymous.statusCode).toBe(401);
    noLimitHeaders(anonymous);
    const head = await t.app.inject({ method: 'HEAD', url: '/admin/login', remoteAddress: ip });
    expect([head.statusCode, limit(head), remaining(head)]).toEqual([200, '3', '2']);
    const page = await get('/admin/login', ip);
    expect([page.statusCode, remaining(page)]).toEqual([200, '1']);
    expect(remaining(await viewerGet('/api/servers', ip))).toBe('0');
  });
});

describe('per-route limits (the login routes)', () => {
  it('count per route and address, apart from the global limit, with their own window in the message', async () => {
    const ip = '10.9.1.1';
    const attempts = [await login('/api/auth/login', ip), await login('/api/auth/login', ip)];
    expect(attempts.map((a) => [a.statusCode, limit(a), remaining(a)])).toEqual([
      [401, '2', '1'],
      [401, '2', '0'],
    ]);
    expect(reset(attempts[0]!)).toBe(900);
    const blocked = await login('/api/auth/login', ip);
    expect(blocked.statusCode).toBe(429);
    expect(blocked.json()).toEqual({ success: false, error: { code: 'RATE_LIMITED', message: 'Too many requests; retry in 15 minutes.' } });
    expect(Number(blocked.headers['retry-after'])).toBeGreaterThanOrEqual(899);
    // The session login has its own count, and neither touched the global one.
    const session = await login('/api/auth/session', ip);
    expect([session.statusCode, limit(session), remaining(session)]).toEqual([401, '2', '1']);
    const read = await viewerGet('/api/servers', ip);
    expect([read.statusCode, limit(read), remaining(read)]).toEqual([200, '3', '2']);
  });

  it('stay open to an address past the global limit', async () => {
    const ip = '10.9.1.2';
    for (let i = 0; i < MAX; i++) await viewerGet('/api/servers', ip);
    expect((await viewerGet('/api/servers', ip)).statusCode).toBe(429);
    const attempt = await login('/api/auth/login', ip);
    expect([attempt.statusCode, limit(attempt), remaining(attempt)]).toEqual([401, '2', '1']);
  });
});

describe('the window', () => {
  it('ends RATE_LIMIT_WINDOW_MS after the first request of an address; the count then starts over', async () => {
    const ip = '10.9.2.1';
    const first = [await get('/admin/login', ip, undefined, short.app), await get('/admin/login', ip, undefined, short.app)];
    expect(first.map((a) => [a.statusCode, remaining(a), reset(a)])).toEqual([
      [200, '1', 1],
      [200, '0', 1],
    ]);
    const blocked = await get('/admin/login', ip, undefined, short.app);
    expect(blocked.statusCode).toBe(429);
    expect(blocked.headers['retry-after']).toBe('1');
    expect(blocked.json().error.message).toBe('Too many requests; retry in 1 second.');
    await sleep(1_100);
    const again = await get('/admin/login', ip, undefined, short.app);
    expect([again.statusCode, limit(again), remaining(again), reset(again)]).toEqual([200, '2', '1', 1]);
  });
});

describe('memory', () => {
  it('keeps at most 5,000 addresses: a flood of new ones pushes out the oldest count, not the newest', async () => {
    const ip = '10.9.3.1';
    for (let i = 0; i < MAX; i++) await get('/admin/login', ip);
    expect((await get('/admin/login', ip)).statusCode).toBe(429);
    const address = (i: number) => `10.10.${i >> 8}.${i & 255}`;
    for (let i = 0; i < 5_000; i++) await get('/admin/login', address(i));
    // Still counted: an address 4,000 addresses back, and the newest one.
    expect(remaining(await get('/admin/login', address(999)))).toBe('1');
    expect(remaining(await get('/admin/login', address(4_999)))).toBe('1');
    const forgotten = await get('/admin/login', ip);
    expect([forgotten.statusCode, remaining(forgotten)]).toEqual([200, '2']);
  });
});
