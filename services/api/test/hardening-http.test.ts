import { createHmac } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseEnv } from '@mm/config';
import { webhookDeliveries } from '@mm/db';
import { buildApp } from '../src/app.js';
import { ApiEnv, trustProxySetting } from '../src/env.js';
import { createServer, createTestApp, PASSWORD, type TestApp } from './helpers/test-app.js';
import { waitUntil } from './helpers/throwaway-worker.js';

// Issue #12: login limits under a parallel burst, TRUST_PROXY without "every hop", SSE URLs out of the logs,
// bodyless JSON calls, and webhook signatures that bind the delivery id and time.

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp({ LOGIN_RATE_LIMIT_MAX: '5' });
});
afterAll(async () => {
  await t?.close();
});

describe('login limits under a parallel burst', () => {
  it('50 parallel wrong passwords for one account from 50 addresses: at most LOGIN_RATE_LIMIT_MAX reach the password check', async () => {
    const answers = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        t.app.inject({ method: 'POST', url: '/api/auth/login', remoteAddress: `198.51.100.${i + 1}`, payload: { email: 'operator@example.test', password: `wrong-${i}` } }),
      ),
    );
    const statuses = answers.map((a) => a.statusCode);
    expect(statuses.filter((s) => s === 401).length).toBeLessThanOrEqual(5);
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThanOrEqual(45);
    expect(statuses.every((s) => s === 401 || s === 429)).toBe(true);
    // The account stays locked for the window, even for the right password from a fresh address.
    const right = await t.app.inject({ method: 'POST', url: '/api/auth/login', remoteAddress: '198.51.100.200', payload: { email: 'operator@example.test', password: PASSWORD } });
    expect(right.statusCode).toBe(429);
  });
});

describe('TRUST_PROXY', () => {
  it('is a hop count or a list of proxy addresses; "true" (every hop) is refused with a clear message', () => {
    expect(trustProxySetting('false')).toBe(false);
    expect(trustProxySetting('0')).toBe(false);
    expect(trustProxySetting('2')).toBe(2);
    expect(trustProxySetting('10.0.0.1, 10.0.0.0/8,::1')).toEqual(['10.0.0.1', '10.0.0.0/8', '::1']);
    expect(() => trustProxySetting('true')).toThrow(/TRUST_PROXY.*every hop/);
    for (const bad of ['yes', '1.2.3.4.5', '10.0.0.0/33', 'proxy.example.test', '-1']) expect(() => trustProxySetting(bad), bad).toThrow(/TRUST_PROXY/);
  });

  it('buildApp refuses TRUST_PROXY=true at start', async () => {
    const env = parseEnv(ApiEnv, { ...envSource(t), TRUST_PROXY: 'true' });
    await expect(buildApp({ env, logger: false })).rejects.toThrow(/TRUST_PROXY/);
  });

  it('with one trusted hop, a client cannot pick its address by prepending to X-Forwarded-For', async () => {
    const proxied = await createTestApp({ TRUST_PROXY: '1', LOGIN_RATE_LIMIT_MAX: '2' });
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 4; i++) {
        // Each attempt claims a new address on the left; the proxy appended the real one on the right.
        const res = await proxied.app.inject({
          method: 'POST',
          url: '/api/auth/login',
          remoteAddress: '127.0.0.1',
          headers: { 'x-forwarded-for': `192.0.2.${i + 1}, 203.0.113.50` },
          payload: { email: `nobody-${i}@example.test`, password: 'wrong-password' },
        });
        statuses.push(res.statusCode);
      }
      expect(statuses).toEqual([401, 401, 429, 429]);
    } finally {
      await proxied.close();
    }
  });
});

/** The raw variables of a test app, for building a second instance with one of them changed. */
function envSource(app: TestApp): Record<string, string> {
  return { NODE_ENV: 'test', LOG_LEVEL: 'silent', DATABASE_URL: app.env.DATABASE_URL, REDIS_URL: app.env.REDIS_URL, QUEUE_PREFIX: app.env.QUEUE_PREFIX, CLEANUP_CRON: 'off' };
}

describe('request logs', () => {
  it('never carry an SSE query string, however its key is spelt', async () => {
    const lines: string[] = [];
    const stream = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    const logged = await buildApp({ env: t.env, logger: { level: 'info', stream } });
    try {
      const token = t.tokens.viewer;
      for (const query of [`access%5Ftoken=${token}`, `queue=backup&access_token=${token}`, `%61ccess_token=${token}`, `access_token=${encodeURIComponent(token)}&x=1`]) {
        const res = await logged.inject({ method: 'GET', url: `/api/jobs/00000000-0000-4000-8000-000000000000/events?${query}` });
        expect(res.statusCode, query).not.toBe(500);
      }
      const completed = lines.map((l) => JSON.parse(l) as { msg?: string; req?: { url?: string } }).filter((l) => l.msg === 'request completed');
      expect(completed).toHaveLength(4);
      for (const line of completed) expect(line.req?.url).toBe('/api/jobs/00000000-0000-4000-8000-000000000000/events?[redacted]');
      const all = lines.join('\n');
      expect(all).not.toContain(token);
      expect(all).not.toContain(token.split('.')[2]);
    } finally {
      await logged.close();
    }
  });
});

describe('bodyless calls with Content-Type: application/json and an empty body', () => {
  const NONE = '00000000-0000-4000-8000-000000000000';
  const json = { 'content-type': 'application/json' };

  it('are accepted on every route that takes no body (the seed Python client sends the header on every call)', async () => {
    const serverId = await createServer(t, { name: 'bodyless' });
    for (const [role, method, url, expected] of [
      ['operator', 'POST', `/api/jobs/${NONE}/retry`, 404],
      ['operator', 'POST', `/api/jobs/${NONE}/cancel`, 404],
      ['operator', 'DELETE', `/api/jobs/${NONE}`, 404],
      ['operator', 'POST', `/api/backups/${NONE}/verify`, 404],
      ['operator', 'POST', `/api/servers/${serverId}/backup`, 202],
      ['admin', 'POST', '/api/queues/scan/pause', 200],
      ['admin', 'POST', '/api/queues/scan/resume', 200],
      ['admin', 'POST', '/api/maintenance/cleanup', 202],
      ['viewer', 'GET', '/api/servers', 200],
      ['operator', 'DELETE', `/api/servers/${NONE}`, 404],
    ] as const) {
      const res = await t.call(role, { method, url, headers: json, payload: '' });
      expect(res.statusCode, `${method} ${url}: ${res.body}`).toBe(expected);
    }
  });

  it('still answer 400 where a body is required', async () => {
    const res = await t.call('operator', { method: 'POST', url: '/api/servers', headers: json, payload: '' });
    expect(res.statusCode).toBe(400);
    expect(res.json().error.code).toBe('VALIDATION_ERROR');
  });
});

describe('webhook signatures bind the delivery id and the time', () => {
  const SECRET = 'whsec-hardening-0123456789abcdef';
  const received: { headers: http.IncomingHttpHeaders; body: string }[] = [];
  const receiver = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      res.writeHead(204).end();
    });
  });
  let hooks: TestApp;

  beforeAll(async () => {
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    hooks = await createTestApp({ WEBHOOK_ALLOWED_HOSTS: '127.0.0.1', WEBHOOK_POLL_INTERVAL_MS: '100' });
  });
  afterAll(async () => {
    await hooks?.close();
    await new Promise<void>((resolve) => receiver.close(() => resolve()));
  });

  it('X-MM-Signature is t=<unix seconds>,v1=<HMAC-SHA256 of "<delivery id>.<t>.<body>">, with X-MM-Delivery and X-MM-Timestamp', async () => {
    const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
    const created = await hooks.call('admin', { method: 'POST', url: '/api/webhooks', payload: { url, events: ['backup.completed'], secret: SECRET } });
    expect(created.statusCode, created.body).toBe(201);
    const [row] = await hooks.database.db
      .insert(webhookDeliveries)
      .values({
        webhookId: created.json().data.id,
        event: 'backup.completed',
        dedupKey: 'sig-1',
        payload: { event: 'backup.completed', occurredAt: new Date().toISOString(), data: { backupId: 'b1' } },
      })
      .returning();
    await waitUntil(async () => received.length > 0, 'the delivery');
    const got = received[0]!;
    const deliveryId = got.headers['x-mm-delivery'];
    expect(deliveryId).toBe(row?.id);
    const signature = String(got.headers['x-mm-signature']);
    const match = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(signature);
    expect(match, signature).not.toBeNull();
    const [, ts, mac] = match as RegExpExecArray;
    expect(got.headers['x-mm-timestamp']).toBe(ts);
    expect(Math.abs(Number(ts) - Date.now() / 1_000)).toBeLessThan(60);
    expect(mac).toBe(createHmac('sha256', SECRET).update(`${deliveryId}.${ts}.${got.body}`).digest('hex'));
    // The old scheme (the body alone) is gone: a captured body cannot be re-signed under a new id or time by anyone without the secret.
    expect(mac).not.toBe(createHmac('sha256', SECRET).update(got.body).digest('hex'));
    await waitUntil(async () => (await hooks.database.db.select().from(webhookDeliveries).where(eq(webhookDeliveries.id, row!.id)))[0]?.status === 'delivered', 'delivered');
  });
});
