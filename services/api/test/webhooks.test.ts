import { createHmac } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { UnrecoverableError } from 'bullmq';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseEnv } from '@mm/config';
import { decryptWebhookSecret, encryptWebhookSecret, webhookDeliveries, webhooks, type WebhookDelivery } from '@mm/db';
import { runWorker, WorkerEnvSchema, type RunningWorker } from '@mm/worker-runtime';
import { createServer, createTestApp, type TestApp } from './helpers/test-app.js';
import { waitUntil, workerEnvOf } from './helpers/throwaway-worker.js';
import { WebhookDispatcher } from '../src/features/webhooks/webhook-dispatcher.js';

const SECRET = 'whsec-test-secret-0123456789abcdef';

interface Received {
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** A real receiver on loopback; `plans` gives per path the statuses to answer in turn (the last one repeats). */
const received: Received[] = [];
const plans = new Map<string, number[]>([['/flaky', [500, 500, 200]]]);
const receiver = http.createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const path = req.url ?? '/';
    received.push({ path, headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
    const plan = plans.get(path) ?? [200];
    const status = plan.length > 1 ? plan.shift()! : plan[0]!;
    res.writeHead(status).end();
  });
});
let base: string;

let t: TestApp;
let strict: TestApp;
let worker: RunningWorker;
let serverId: string;

/** The signature scheme of docs/API.md: t=<unix>,v1=<HMAC of "<delivery id>.<t>.<body>">. */
const verify = (r: Received) => {
  const t = String(r.headers['x-mm-timestamp']);
  return `t=${t},v1=${createHmac('sha256', SECRET).update(`${String(r.headers['x-mm-delivery'])}.${t}.${r.body}`).digest('hex')}`;
};

async function createHook(path: string, events: string[], app: TestApp = t): Promise<string> {
  const res = await app.call('admin', { method: 'POST', url: '/api/webhooks', payload: { url: `${base}${path}`, events, secret: SECRET } });
  expect(res.statusCode, res.body).toBe(201);
  expect(res.body).not.toContain(SECRET);
  return res.json<{ data: { id: string } }>().data.id;
}

async function deliveryOf(webhookId: string, db = t.database.db): Promise<WebhookDelivery | undefined> {
  const [row] = await db.select().from(webhookDeliveries).where(eq(webhookDeliveries.webhookId, webhookId));
  return row;
}

beforeAll(async () => {
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
  const fast = { WEBHOOK_RETRY_BASE_MS: '50', WEBHOOK_POLL_INTERVAL_MS: '100', WEBHOOK_TIMEOUT_MS: '2000', WEBHOOK_MAX_ATTEMPTS: '3' };
  // Loopback is allowed by name, as an operator would for an internal receiver; `strict` keeps the default guard.
  [t, strict] = await Promise.all([createTestApp({ ...fast, WEBHOOK_ALLOWED_HOSTS: '127.0.0.1' }), createTestApp(fast)]);
  serverId = await createServer(t);
  const env = parseEnv(WorkerEnvSchema, workerEnvOf(t));
  worker = await runWorker({
    queue: 'update',
    env,
    concurrency: 1,
    handlers: {
      'update:server': async () => {
        throw new UnrecoverableError('apt-get exploded');
      },
    },
  });
});

afterAll(async () => {
  await worker?.close();
  await Promise.all([t?.close(), strict?.close()]);
  await new Promise<void>((resolve) => receiver.close(() => resolve()));
});

describe('webhook deliveries', () => {
  it('a final job failure in a worker reaches the receiver as a signed POST', async () => {
    const hookId = await createHook('/ok', ['job.failed']);
    const trigger = await t.call('operator', { method: 'POST', url: `/api/servers/${serverId}/update`, payload: { dry_run: true } });
    expect(trigger.statusCode, trigger.body).toBe(202);
    const jobId = trigger.json<{ data: { jobId: string } }>().data.jobId;

    await waitUntil(async () => received.some((r) => r.path === '/ok'), 'the job.failed delivery');
    const got = received.find((r) => r.path === '/ok')!;
    expect(got.headers['x-mm-event']).toBe('job.failed');
    expect(got.headers['content-type']).toBe('application/json');
    expect(got.headers['x-mm-signature']).toBe(verify(got));
    const body = JSON.parse(got.body) as { event: string; data: Record<string, unknown> };
    expect(body).toMatchObject({ event: 'job.failed', data: { jobId, queue: 'update', jobName: 'update:server', serverId, error: 'apt-get exploded' } });

    await waitUntil(async () => (await deliveryOf(hookId))?.status === 'delivered', 'the delivery to be recorded');
    const row = (await deliveryOf(hookId))!;
    expect(got.headers['x-mm-delivery']).toBe(row.id);
    expect(row).toMatchObject({ attempts: 1, lastStatusCode: 200, lastError: null });

    const listed = await t.call('admin', { method: 'GET', url: `/api/webhooks/${hookId}/deliveries` });
    expect(listed.statusCode).toBe(200);
    expect(listed.json()).toMatchObject({ data: [{ id: row.id, event: 'job.failed', status: 'delivered', attempts: 1, nextAttemptAt: null }], meta: { total: 1 } });
    expect(listed.body).not.toContain(SECRET);
  });

  it('retries with backoff: 500, 500, then 200 is three attempts, delivered', async () => {
    const hookId = await createHook('/flaky', ['backup.completed']);
    await t.database.db.insert(webhookDeliveries).values({
      webhookId: hookId,
      event: 'backup.completed',
      dedupKey: 'backup-1',
      payload: { event: 'backup.completed', occurredAt: new Date().toISOString(), data: { backupId: 'b1', sizeBytes: 10 } },
    });
    await waitUntil(async () => (await deliveryOf(hookId))?.status !== 'pending', 'the flaky delivery to settle');
    const row = (await deliveryOf(hookId))!;
    expect(row).toMatchObject({ status: 'delivered', attempts: 3, lastStatusCode: 200, lastError: null });
    expect(row.attemptLog.map((a) => a.statusCode)).toEqual([500, 500, 200]);
    expect(row.attemptLog[0]!.error).toBe('receiver answered HTTP 500');
    const attempts = received.filter((r) => r.path === '/flaky');
    expect(attempts).toHaveLength(3);
    for (const r of attempts) {
      expect(r.headers['x-mm-delivery']).toBe(row.id);
      expect(r.headers['x-mm-signature']).toBe(verify(r));
    }
  });

  it('gives up after WEBHOOK_MAX_ATTEMPTS', async () => {
    plans.set('/down', [503]);
    const hookId = await createHook('/down', ['scan.critical_finding']);
    await t.database.db.insert(webhookDeliveries).values({ webhookId: hookId, event: 'scan.critical_finding', dedupKey: 's1', payload: { event: 'scan.critical_finding', data: {} } });
    await waitUntil(async () => (await deliveryOf(hookId))?.status !== 'pending', 'the failing delivery to settle');
    expect(await deliveryOf(hookId)).toMatchObject({ status: 'failed', attempts: 3, lastStatusCode: 503, deliveredAt: null });
    expect(received.filter((r) => r.path === '/down')).toHaveLength(3);
  });
  it('several dispatchers sharing the outbox send each delivery exactly once', async () => {
    const hookId = await createHook('/shared', ['job.failed']);
    await t.database.db.insert(webhookDeliveries).values(Array.from({ length: 30 }, (_, i) => ({ webhookId: hookId, event: 'job.failed' as const, dedupKey: `shared-${i}`, payload: { n: i } })));
    // Two more dispatchers as other API processes would run them, racing the app's own.
    const others = [0, 1].map(
      () =>
        new WebhookDispatcher({
          db: t.database.db,
          log: t.app.log,
          credentialsKey: t.env.CREDENTIALS_KEY,
          policy: t.app.webhookPolicy,
          timeoutMs: 2_000,
          maxAttempts: 3,
          retryBaseMs: 50,
          pollIntervalMs: 50,
          batchSize: 3,
        }),
    );
    for (const d of others) d.start();
    try {
      await waitUntil(async () => (await t.database.db.select().from(webhookDeliveries).where(eq(webhookDeliveries.webhookId, hookId))).every((r) => r.status === 'delivered'), 'all shared deliveries');
    } finally {
      await Promise.all(others.map((d) => d.close()));
    }
    const ids = received.filter((r) => r.path === '/shared').map((r) => r.headers['x-mm-delivery']);
    expect(ids).toHaveLength(30);
    expect(new Set(ids).size).toBe(30);
    const rows = await t.database.db.select().from(webhookDeliveries).where(eq(webhookDeliveries.webhookId, hookId));
    expect(rows.every((r) => r.attempts === 1)).toBe(true);
  });
});

describe('webhook management', () => {
  it('never returns or stores the secret in clear', async () => {
    const hookId = await createHook('/listed', ['job.failed', 'backup.completed']);
    const list = await t.call('admin', { method: 'GET', url: '/api/webhooks' });
    expect(list.statusCode).toBe(200);
    expect(list.body).not.toContain(SECRET);
    expect(list.json<{ data: { id: string; events: string[] }[] }>().data.find((w) => w.id === hookId)).toMatchObject({ events: ['job.failed', 'backup.completed'], createdBy: t.userIds.admin });
    const [row] = await t.database.db.select().from(webhooks).where(eq(webhooks.id, hookId));
    expect(row!.secretEncrypted).not.toContain(SECRET);
    // v2: under the webhook secret's own key derived from CREDENTIALS_KEY (not the server credentials' key).
    expect(row!.secretEncrypted).toMatch(/^v2\./);
    expect(decryptWebhookSecret(row!.secretEncrypted, t.env.CREDENTIALS_KEY)).toBe(SECRET);
  });

  it('deletes a webhook with its deliveries; an unknown id is 404', async () => {
    const hookId = await createHook('/gone', ['job.failed']);
    await t.database.db.insert(webhookDeliveries).values({ webhookId: hookId, event: 'job.failed', dedupKey: 'x', payload: {}, nextAttemptAt: new Date(Date.now() + 3_600_000) });
    expect((await t.call('admin', { method: 'DELETE', url: `/api/webhooks/${hookId}` })).statusCode).toBe(200);
    expect(await deliveryOf(hookId)).toBeUndefined();
    const again = await t.call('admin', { method: 'DELETE', url: `/api/webhooks/${hookId}` });
    expect(again.statusCode).toBe(404);
    expect((await t.call('admin', { method: 'GET', url: `/api/webhooks/${hookId}/deliveries` })).statusCode).toBe(404);
  });

  it('refuses bad input with 400 and stores nothing', async () => {
    const before = (await t.database.db.select().from(webhooks)).length;
    for (const payload of [
      { url: 'ftp://127.0.0.1/x', events: ['job.failed'], secret: SECRET },
      { url: 'http://user:pw@127.0.0.1/x', events: ['job.failed'], secret: SECRET },
      { url: 'not a url', events: ['job.failed'], secret: SECRET },
      { url: `${base}/x`, events: [], secret: SECRET },
      { url: `${base}/x`, events: ['job.exploded'], secret: SECRET },
      { url: `${base}/x`, events: ['job.failed'], secret: 'short' },
      { url: `${base}/x`, events: ['job.failed'], secret: SECRET, extra: true },
      // A NUL that URL parsing would percent-encode, but PostgreSQL text cannot hold as sent.
      { url: `${base}/a\u0000b`, events: ['job.failed'], secret: SECRET },
    ]) {
      const res = await t.call('admin', { method: 'POST', url: '/api/webhooks', payload });
      expect(res.statusCode, JSON.stringify(payload)).toBe(400);
      expect(res.json()).toMatchObject({ success: false, error: { code: 'VALIDATION_ERROR' } });
      expect(res.body).not.toContain(SECRET);
    }
    expect(await t.database.db.select().from(webhooks)).toHaveLength(before);
  });

  it('is for admins only', async () => {
    for (const role of ['operator', 'viewer'] as const) {
      for (const [method, url] of [
        ['POST', '/api/webhooks'],
        ['GET', '/api/webhooks'],
        ['DELETE', '/api/webhooks/00000000-0000-4000-8000-000000000000'],
        ['GET', '/api/webhooks/00000000-0000-4000-8000-000000000000/deliveries'],
      ] as const) {
        const res = await t.call(role, { method, url, ...(method === 'POST' ? { payload: { url: `${base}/x`, events: ['job.failed'], secret: SECRET } } : {}) });
        expect(res.statusCode, `${role} ${method} ${url}`).toBe(403);
      }
    }
  });
});

describe('SSRF guard (no allow setting)', () => {
  it('refuses loopback, private, link-local and metadata hosts at creation, storing nothing', async () => {
    for (const url of ['http://127.0.0.1:9/hook', 'http://10.1.2.3/hook', 'http://169.254.169.254/latest/meta-data/', 'http://[::1]/hook', 'http://[::ffff:127.0.0.1]/hook', 'http://192.168.0.1/', 'http://localhost/hook']) {
      const res = await strict.call('admin', { method: 'POST', url: '/api/webhooks', payload: { url, events: ['job.failed'], secret: SECRET } });
      expect(res.statusCode, url).toBe(400);
      expect(res.json()).toMatchObject({ success: false, error: { code: 'VALIDATION_ERROR', details: [{ path: '/url' }] } });
      expect(res.json<{ error: { message: string } }>().error.message).toMatch(/private/);
    }
    expect(await strict.database.db.select().from(webhooks)).toHaveLength(0);
  });

  it('refuses again at delivery: a stored URL that now points inside is never contacted', async () => {
    const before = received.length;
    const port = new URL(base).port;
    // As if the hosts had resolved to public addresses when the webhooks were created: an IP literal, and a name (checked in the connect's DNS lookup).
    const hooks = await strict.database.db
      .insert(webhooks)
      .values(['127.0.0.1', 'localhost'].map((host) => ({ url: `http://${host}:${port}/inside`, events: ['job.failed' as const], secretEncrypted: encryptWebhookSecret(SECRET, strict.env.CREDENTIALS_KEY) })))
      .returning();
    await strict.database.db.insert(webhookDeliveries).values(hooks.map((h) => ({ webhookId: h.id, event: 'job.failed' as const, dedupKey: 'inside', payload: {} })));
    for (const hook of hooks) {
      await waitUntil(async () => ((await deliveryOf(hook.id, strict.database.db))?.attemptLog.length ?? 0) > 0, 'the refused attempt');
      const row = (await deliveryOf(hook.id, strict.database.db))!;
      expect(row.lastError, hook.url).toMatch(/loopback, private/);
      expect(row.lastStatusCode).toBeNull();
      expect(row.status).toBe('pending');
    }
    expect(received.slice(before).filter((r) => r.path === '/inside')).toHaveLength(0);
  });
});
