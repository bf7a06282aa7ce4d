import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, PASSWORD, type TestApp } from './helpers/test-app.js';

// Login brute force (per client address and per account) and the security headers on every kind of answer.

const MAX = 3;
let t: TestApp;
beforeAll(async () => {
  t = await createTestApp({ LOGIN_RATE_LIMIT_MAX: String(MAX) });
});
afterAll(async () => {
  await t?.close();
});

const login = (email: string, password: string, remoteAddress: string, headers: Record<string, string> = {}) =>
  t.app.inject({ method: 'POST', url: '/api/auth/login', payload: { email, password }, remoteAddress, headers });

describe('login rate limits', () => {
  it('limits one client address, whatever accounts it tries, and X-Forwarded-For does not reset it (TRUST_PROXY off)', async () => {
    const ip = '10.1.0.1';
    for (let i = 0; i < MAX; i++) {
      const res = await login(`nobody${i}@example.test`, 'wrong', ip, { 'x-forwarded-for': `192.0.2.${i}` });
      expect(res.statusCode).toBe(401);
    }
    const blocked = await login('operator@example.test', PASSWORD, ip, { 'x-forwarded-for': '192.0.2.200' });
    expect(blocked.statusCode).toBe(429);
    expect(blocked.json()).toMatchObject({ success: false, error: { code: 'RATE_LIMITED' } });
    expect(Number(blocked.headers['retry-after'])).toBeGreaterThan(0);
    // Another address is not affected.
    expect((await login('operator@example.test', PASSWORD, '10.1.0.2')).statusCode).toBe(200);
  });

  it('limits one account, whatever addresses the guesses come from, even against the right password', async () => {
    for (let i = 0; i < MAX; i++) expect((await login('viewer@example.test', `guess-${i}`, `10.2.0.${i + 1}`)).statusCode).toBe(401);
    const blocked = await login('VIEWER@example.test', PASSWORD, '10.2.1.1');
    expect(blocked.statusCode).toBe(429);
    expect(blocked.json()).toMatchObject({ success: false, error: { code: 'RATE_LIMITED' } });
    expect(blocked.json().error.message).not.toMatch(/password/i);
    expect(Number(blocked.headers['retry-after'])).toBeGreaterThan(0);
    // Other accounts still log in from a fresh address.
    expect((await login('admin@example.test', PASSWORD, '10.2.1.2')).statusCode).toBe(200);
  });

  it('counts failures on the admin session login and the JWT login together', async () => {
    const session = (password: string, remoteAddress: string) =>
      t.app.inject({ method: 'POST', url: '/api/auth/session', payload: { email: 'admin@example.test', password }, remoteAddress });
    for (let i = 0; i < MAX - 1; i++) expect((await session(`guess-${i}`, `10.4.0.${i + 1}`)).statusCode).toBe(401);
    expect((await login('admin@example.test', 'one-more-guess', '10.4.1.1')).statusCode).toBe(401);
    expect((await session(PASSWORD, '10.4.1.2')).statusCode).toBe(429);
    expect((await login('admin@example.test', PASSWORD, '10.4.1.3')).statusCode).toBe(429);
  });

  it('treats an unknown email like a known one, so the limit does not reveal which accounts exist', async () => {
    const known: number[] = [];
    const unknown: number[] = [];
    for (let i = 0; i <= MAX; i++) {
      known.push((await login('operator@example.test', `nope-${i}`, `10.3.0.${i + 1}`)).statusCode);
      unknown.push((await login('ghost@example.test', `nope-${i}`, `10.3.1.${i + 1}`)).statusCode);
    }
    expect(known).toEqual([...Array<number>(MAX).fill(401), 429]);
    expect(unknown).toEqual(known);
  });
});

describe('security headers (@fastify/helmet)', () => {
  const expected: Record<string, RegExp> = {
    'content-security-policy': /default-src 'self'.*frame-ancestors 'self'.*object-src 'none'/,
    'x-content-type-options': /^nosniff$/,
    'x-frame-options': /^SAMEORIGIN$/,
    'strict-transport-security': /^max-age=\d{7,}; includeSubDomains$/,
    'referrer-policy': /^no-referrer$/,
    'cross-origin-opener-policy': /^same-origin$/,
    'cross-origin-resource-policy': /^same-origin$/,
    'x-dns-prefetch-control': /^off$/,
    'x-permitted-cross-domain-policies': /^none$/,
    'x-download-options': /^noopen$/,
  };

  it('sets them on successes, errors, unknown routes and the docs, and names no server software', async () => {
    const answers = [
      await t.app.inject({ method: 'GET', url: '/health' }),
      await t.call('viewer', { method: 'GET', url: '/api/servers' }),
      await t.app.inject({ method: 'GET', url: '/api/servers' }),
      await t.call('viewer', { method: 'GET', url: '/api/users' }),
      await t.call('viewer', { method: 'GET', url: '/api/no-such-route' }),
      await t.call('operator', { method: 'POST', url: '/api/servers', payload: '{', headers: { 'content-type': 'application/json' } }),
      await t.app.inject({ method: 'GET', url: '/docs/json' }),
    ];
    expect(answers.map((a) => a.statusCode)).toEqual([200, 200, 401, 403, 404, 400, 200]);
    for (const res of answers) {
      for (const [name, pattern] of Object.entries(expected)) expect(String(res.headers[name]), `${name} on ${res.statusCode}`).toMatch(pattern);
      expect(res.headers['x-powered-by']).toBeUndefined();
      expect(res.headers.server).toBeUndefined();
    }
  });

  it('grants no cross-origin access: no CORS headers for a foreign Origin, and a preflight is not answered with an allow', async () => {
    const res = await t.call('viewer', { method: 'GET', url: '/api/servers', headers: { origin: 'https://evil.example' } });
    expect(res.headers['access-control-allow-origin']).toBeUndefined();
    const preflight = await t.app.inject({ method: 'OPTIONS', url: '/api/servers', headers: { origin: 'https://evil.example', 'access-control-request-method': 'DELETE' } });
    expect(preflight.headers['access-control-allow-origin']).toBeUndefined();
    expect(preflight.headers['access-control-allow-methods']).toBeUndefined();
  });
});
