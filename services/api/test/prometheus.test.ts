import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, createServer, type TestApp } from './helpers/test-app.js';

const TOKEN = 'scrape-token-for-tests-0123456789';
let open: TestApp;
let guarded: TestApp;

beforeAll(async () => {
  [open, guarded] = await Promise.all([createTestApp(), createTestApp({ METRICS_TOKEN: TOKEN })]);
});
afterAll(async () => {
  await Promise.all([open?.close(), guarded?.close()]);
});

/** The value of one sample line, e.g. `mm_queue_jobs{queue="backup",state="waiting"}`. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('GET /metrics', () => {
  it('exposes HTTP latency by route pattern, queue depth by state and process metrics', async () => {
    const serverId = await createServer(open);
    for (let i = 0; i < 3; i++) {
      const res = await open.call('operator', { method: 'POST', url: `/api/servers/${serverId}/backup`, payload: {} });
      expect(res.statusCode).toBe(202);
    }
    await open.call('viewer', { method: 'GET', url: `/api/servers/${serverId}` });
    await open.call('viewer', { method: 'GET', url: '/api/nothing-here' });
    await open.call('admin', { method: 'POST', url: '/api/queues/scan/pause' });

    const res = await open.call(null, { method: 'GET', url: '/metrics' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = res.body;
    // By route pattern: three triggers of different URLs would be one series, and no raw id appears.
    expect(sample(text, 'http_request_duration_seconds_count{method="POST",route="/api/servers/:serverId/backup",status_code="202"}')).toBe(3);
    expect(sample(text, 'http_request_duration_seconds_count{method="GET",route="/api/servers/:id",status_code="200"}')).toBe(1);
    expect(sample(text, 'http_request_duration_seconds_count{method="GET",route="unmatched",status_code="404"}')).toBe(1);
    expect(text).not.toContain(serverId);
    // Queue depth, read at scrape time: every job has a priority, so waiting jobs sit in `prioritized`.
    expect(sample(text, 'mm_queue_jobs{queue="backup",state="prioritized"}')).toBe(3);
    expect(sample(text, 'mm_queue_jobs{queue="scan",state="prioritized"}')).toBe(0);
    expect(sample(text, 'mm_queue_paused{queue="scan"}')).toBe(1);
    expect(sample(text, 'mm_queue_paused{queue="backup"}')).toBe(0);
    expect(sample(text, 'mm_queue_workers{queue="backup"}')).toBe(0);
    expect(sample(text, 'mm_redis_up')).toBe(1);
    // Default process metrics.
    expect(text).toMatch(/^process_cpu_user_seconds_total \d/m);
    expect(text).toMatch(/^nodejs_eventloop_lag_seconds \d/m);
  });

  it('needs no auth by default, and the metrics token when METRICS_TOKEN is set', async () => {
    expect((await open.call(null, { method: 'GET', url: '/metrics' })).statusCode).toBe(200);
    expect((await guarded.call(null, { method: 'GET', url: '/metrics' })).statusCode).toBe(401);
    // A user's JWT, even an admin's, is not the metrics token.
    expect((await guarded.call('admin', { method: 'GET', url: '/metrics' })).statusCode).toBe(401);
    expect((await guarded.app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${TOKEN}x` } })).statusCode).toBe(401);
    const ok = await guarded.app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${TOKEN}` } });
    expect(ok.statusCode).toBe(200);
    expect(ok.body).toContain('mm_queue_jobs');
  });
});
