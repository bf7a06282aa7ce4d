import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../src/app.js';
import { createTestApp, createServer, type TestApp } from './helpers/test-app.js';
import { startWorker, waitUntil } from './helpers/throwaway-worker.js';

let t: TestApp;
let serverId: string;
beforeAll(async () => {
  t = await createTestApp();
  serverId = await createServer(t);
});
afterAll(async () => {
  await t?.close();
});

const metrics = async (app: FastifyInstance = t.app) =>
  app.inject({ method: 'GET', url: '/api/metrics/queues', headers: { authorization: `Bearer ${t.tokens.viewer}` } });

describe('GET /api/metrics/queues', () => {
  it('is healthy with empty queues, in the seed’s shape', async () => {
    const res = await metrics();
    expect(res.statusCode).toBe(200);
    const zero = { waiting: 0, active: 0, completed: 0, failed: 0, delayed: 0, total: 0 };
    expect(res.json()).toEqual({ success: true, data: { backup: zero, scan: zero, update: zero, health: { status: 'healthy', message: 'All queues operating normally' } } });
  });

  it('counts prioritized jobs as waiting and is degraded while no worker serves the queue', async () => {
    for (let i = 0; i < 3; i++) await t.call('operator', { method: 'POST', url: `/api/servers/${serverId}/scan`, payload: { scan_type: 'quick' } });
    const res = await metrics();
    expect(res.json().data.scan).toEqual({ waiting: 3, active: 0, completed: 0, failed: 0, delayed: 0, total: 3 });
    expect(res.json().data.health).toEqual({ status: 'degraded', message: 'scan queue has 3 waiting jobs and no worker connected.' });
  });

  it('is healthy once a worker is connected, degraded above the waiting threshold', async () => {
    const { worker, release } = startWorker(t, 'scan', () => 'block');
    try {
      await waitUntil(async () => (await t.app.producer.queue('scan').getActiveCount()) === 1, 'an active scan');
      const res = await metrics();
      expect(res.json().data.scan).toMatchObject({ waiting: 2, active: 1, total: 3 });
      expect(res.json().data.health.status).toBe('healthy');

      const strict = await buildApp({ env: { ...t.env, DEGRADED_WAITING_THRESHOLD: 1 }, logger: false });
      try {
        const degraded = await metrics(strict);
        expect(degraded.json().data.health).toEqual({ status: 'degraded', message: 'scan queue has 2 waiting jobs (threshold 1).' });
      } finally {
        await strict.close();
      }
    } finally {
      release();
      await worker.close();
    }
  });
});

describe('GET /api/metrics/system', () => {
  it('reports the process, Redis, the database and the queues', async () => {
    const res = await t.call('viewer', { method: 'GET', url: '/api/metrics/system' });
    expect(res.statusCode).toBe(200);
    const { process: proc, redis, database, queues } = res.json().data;
    expect(proc.memory.rssBytes).toBeGreaterThan(0);
    expect(proc.eventLoopDelayMs.p99).toBeGreaterThanOrEqual(0);
    expect(redis.reachable).toBe(true);
    expect(redis.version).toMatch(/^\d+\.\d+/);
    expect(redis.connectedClients).toBeGreaterThan(0);
    expect(redis.usedMemoryBytes).toBeGreaterThan(0);
    if (redis.maxmemoryPolicy === 'noeviction') expect(redis).not.toHaveProperty('warning');
    else expect(redis.warning).toContain('noeviction');
    expect(database.reachable).toBe(true);
    expect(database.latencyMs).toBeGreaterThanOrEqual(0);
    expect(queues.scan.total).toBeGreaterThanOrEqual(3);
  });
});

describe('GET /health', () => {
  it('200 without auth when Redis and PostgreSQL are up', async () => {
    const res = await t.call(null, { method: 'GET', url: '/health' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ status: 'ok', redis: 'up', database: 'up', queueBackend: t.env.QUEUE_BACKEND });
  });
});

describe('with Redis down', () => {
  let down: FastifyInstance;
  beforeAll(async () => {
    // Port 1 on loopback: nothing listens, so every connection is refused.
    down = await buildApp({ env: { ...t.env, REDIS_URL: 'redis://127.0.0.1:1' }, logger: false });
    await down.ready();
  });
  afterAll(async () => {
    await down?.close();
  });
  const call = (method: 'GET' | 'POST' | 'DELETE', url: string, payload?: object) =>
    down.inject({ method, url, headers: { authorization: `Bearer ${t.tokens.operator}` }, ...(payload ? { payload } : {}) });

  it('/health is 503 and names Redis', async () => {
    const res = await down.inject({ method: 'GET', url: '/health' });
    expect(res.statusCode).toBe(503);
    expect(res.json()).toEqual({ status: 'unavailable', redis: 'down', database: 'up', queueBackend: 'redis', message: 'Redis is down.' });
  });

  it('triggers and job routes answer 503 SERVICE_UNAVAILABLE in the envelope', async () => {
    for (const [method, url, payload] of [
      ['POST', `/api/servers/${serverId}/scan`, { scan_type: 'full' }],
      ['POST', `/api/servers/${serverId}/backup`, {}],
      ['GET', '/api/jobs'],
      ['GET', '/api/jobs/00000000-0000-4000-8000-000000000000'],
      ['DELETE', '/api/jobs/00000000-0000-4000-8000-000000000000'],
      ['GET', '/api/jobs/stats/all'],
    ] as const) {
      const res = await call(method, url, payload);
      expect(res.statusCode, url).toBe(503);
      expect(res.json()).toMatchObject({ success: false, error: { code: 'SERVICE_UNAVAILABLE' } });
    }
  });

  it('queue metrics say unhealthy; system metrics say Redis is unreachable', async () => {
    const res = await call('GET', '/api/metrics/queues');
    expect(res.statusCode).toBe(503);
    expect(res.json().data).toMatchObject({ backup: null, scan: null, update: null, health: { status: 'unhealthy' } });
    const sys = await call('GET', '/api/metrics/system');
    expect(sys.statusCode).toBe(200);
    expect(sys.json().data).toMatchObject({ redis: { reachable: false }, database: { reachable: true }, queues: null });
  });
});

describe('with PostgreSQL down', () => {
  it('/health names the database, and authenticated routes answer 503', async () => {
    const down = await buildApp({ env: { ...t.env, DATABASE_URL: 'postgres://postgres@127.0.0.1:1/none' }, logger: false });
    try {
      const health = await down.inject({ method: 'GET', url: '/health' });
      expect(health.statusCode).toBe(503);
      expect(health.json()).toMatchObject({ redis: 'up', database: 'down', message: 'PostgreSQL is down.' });
      const me = await down.inject({ method: 'GET', url: '/api/auth/me', headers: { authorization: `Bearer ${t.tokens.viewer}` } });
      expect(me.statusCode).toBe(503);
      expect(me.json().error.code).toBe('SERVICE_UNAVAILABLE');
      const login = await down.inject({ method: 'POST', url: '/api/auth/login', payload: { email: 'viewer@example.test', password: 'whatever-password' } });
      expect(login.statusCode).toBe(503);
      expect(login.json()).toEqual({ success: false, error: { code: 'SERVICE_UNAVAILABLE', message: 'The database is unavailable; try again shortly.' } });
    } finally {
      await down.close();
    }
  });
});
