import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseEnv } from '@mm/config';
import { jobLogs } from '@mm/db';
import type { Handlers, ScanPayload } from '@mm/jobs';
import { runWorker, WorkerEnvSchema, type JobContext, type RunningWorker } from '@mm/worker-runtime';
import { createTestApp, createServer, type TestApp } from './helpers/test-app.js';
import { workerEnvOf } from './helpers/throwaway-worker.js';
import { openSse, type SseClient, type SseEvent } from './helpers/sse-client.js';
import { waitUntil } from './helpers/throwaway-worker.js';

let t: TestApp;
let base: string;
let serverId: string;
let worker: RunningWorker;
const clients: SseClient[] = [];

/** Held scans wait for their gate, so a client can connect before anything happens. */
const gates = new Map<string, () => void>();
function gate(scanId: string): Promise<void> {
  return new Promise<void>((resolve) => gates.set(scanId, resolve));
}

async function scan(payload: ScanPayload, ctx: JobContext<'scan'>): Promise<unknown> {
  await gate(payload.scanId);
  await ctx.progress(10);
  for (let i = 1; i <= 3; i++) await ctx.output(`checking ${i}`);
  await ctx.progress(40);
  ctx.warning('package index is 9 days old');
  await ctx.output('checking 4');
  await ctx.progress(100);
  return { ok: true };
}

const trigger = async () => {
  const res = await t.call('operator', { method: 'POST', url: `/api/servers/${serverId}/scan`, payload: { scan_type: 'quick' } });
  expect(res.statusCode, res.body).toBe(202);
  return res.json<{ data: { jobId: string } }>().data.jobId;
};
const logs = (id: string, query = '', role: 'viewer' | 'operator' = 'viewer') => t.call(role, { method: 'GET', url: `/api/jobs/${id}/logs${query}` });
type Page = { jobId: string; lines: { seq: number; at: string; kind: string; line: string }[]; total: number; offset: number; limit: number };
const pageOf = (res: { json: <T>() => T }) => res.json<{ success: true; data: Page }>().data;

beforeAll(async () => {
  t = await createTestApp();
  base = await t.app.listen({ port: 0, host: '127.0.0.1' });
  serverId = await createServer(t);
  const env = parseEnv(WorkerEnvSchema, workerEnvOf(t));
  // One test double for both names: its result is no full scan's, so it raises no events.
  const handlers = { 'scan:full': scan, 'scan:quick': scan } as unknown as Handlers<'scan', JobContext<'scan'>>;
  worker = await runWorker({ queue: 'scan', env, concurrency: 2, handlers });
});

afterAll(async () => {
  for (const c of clients) c.close();
  await worker?.close();
  await t?.close();
});

describe('a job log end to end: worker -> SSE `log` events -> PostgreSQL -> GET /api/jobs/:id/logs', () => {
  let jobId: string;

  it('streams the log lines live, in order between the progress events, then completes', async () => {
    jobId = await trigger();
    const client = await openSse(`${base}/api/jobs/${jobId}/events`, { authorization: `Bearer ${t.tokens.viewer}` });
    clients.push(client);
    expect(client.status).toBe(200);
    const first = await client.next();
    expect(first?.event).toBe('state');
    await waitUntil(async () => gates.has(jobId), 'the scan to start');
    gates.get(jobId)?.();
    const events = await client.collect((e) => e.event === 'completed');
    const summary = events
      .map((e: SseEvent) => (e.event === 'progress' ? `progress:${String(e.data.progress)}` : e.event === 'log' ? `log:${String(e.data.line)}` : e.event))
      // Before the gate opened: `active` and the attempt's first line, depending on when the client connected.
      .filter((e) => e !== 'active' && e !== 'waiting' && !e.startsWith('log:attempt 1 of 3 started'));
    expect(summary.map((s) => s.replace(/ in [\d.]+ s$/, ''))).toEqual([
      'progress:10',
      'log:progress 10% (started)',
      'log:checking 1',
      'log:checking 2',
      'log:checking 3',
      'progress:40',
      'log:progress 40% (execution started)',
      'log:package index is 9 days old',
      'log:checking 4',
      'progress:100',
      'log:progress 100% (done)',
      'log:attempt 1 completed',
      'completed',
    ]);
    expect(events.every((e) => e.data.jobId === jobId && e.data.queue === 'scan')).toBe(true);
    expect(events.find((e) => e.data.line === 'package index is 9 days old')?.data.kind).toBe('warning');
    expect(events.find((e) => e.data.line === 'checking 1')?.data.kind).toBe('output');
    expect(await client.next()).toBeNull();
  });

  it('serves every line from PostgreSQL, paged, to any role, also after the job is removed from Redis', async () => {
    const all = await logs(jobId, '?limit=1000');
    expect(all.statusCode, all.body).toBe(200);
    const full = pageOf(all);
    expect(full).toMatchObject({ jobId, offset: 0, limit: 1000, total: 10 });
    expect(full.lines.map((l) => l.seq)).toEqual(Array.from({ length: 10 }, (_, i) => i + 1));
    expect(full.lines[0]).toMatchObject({ seq: 1, kind: 'milestone', line: expect.stringMatching(/^attempt 1 of 3 started on /) });
    expect(full.lines.filter((l) => l.kind === 'output').map((l) => l.line)).toEqual(['checking 1', 'checking 2', 'checking 3', 'checking 4']);
    expect(full.lines.filter((l) => l.kind === 'warning').map((l) => l.line)).toEqual(['package index is 9 days old']);
    expect(Date.parse(full.lines[0]?.at ?? '')).toBeGreaterThan(Date.now() - 60_000);

    const page = pageOf(await logs(jobId, '?offset=3&limit=4'));
    expect(page).toMatchObject({ total: 10, offset: 3, limit: 4 });
    expect(page.lines).toEqual(full.lines.slice(3, 7));
    const tail = pageOf(await logs(jobId, '?offset=8&limit=5', 'operator'));
    expect(tail.lines.map((l) => l.seq)).toEqual([9, 10]);
    expect(pageOf(await logs(jobId, '?offset=50')).lines).toEqual([]);
    expect(pageOf(await logs(jobId))).toMatchObject({ offset: 0, limit: 100, total: 10 });

    const removed = await t.call('operator', { method: 'DELETE', url: `/api/jobs/${jobId}` });
    expect(removed.statusCode, removed.body).toBe(200);
    expect((await t.call('viewer', { method: 'GET', url: `/api/jobs/${jobId}` })).statusCode).toBe(404);
    const after = await logs(jobId, '?limit=1000');
    expect(after.statusCode).toBe(200);
    expect(pageOf(after).lines).toEqual(full.lines);
  });
});

describe('GET /api/jobs/:id/logs edge cases', () => {
  it('answers an empty page for a job that has written nothing yet', async () => {
    const res = await t.call('operator', { method: 'POST', url: `/api/servers/${serverId}/update`, payload: { dry_run: true } });
    expect(res.statusCode, res.body).toBe(202);
    const id = res.json<{ data: { jobId: string } }>().data.jobId;
    const page = await logs(id);
    expect(page.statusCode, page.body).toBe(200);
    expect(pageOf(page)).toEqual({ jobId: id, lines: [], total: 0, offset: 0, limit: 100 });
  });

  it('accepts a scheduler job id (`repeat:…`) and 404s an unknown job', async () => {
    const scheduled = `repeat:nightly-${randomUUID()}:1732790000000`;
    await t.database.db.insert(jobLogs).values({ jobId: scheduled, queue: 'backup', seq: 1, kind: 'milestone', line: 'attempt 1 of 3 started' });
    const res = await logs(scheduled);
    expect(res.statusCode, res.body).toBe(200);
    expect(pageOf(res).lines.map((l) => l.line)).toEqual(['attempt 1 of 3 started']);

    for (const id of [randomUUID(), 'repeat:nothing:1']) {
      const missing = await logs(id);
      expect(missing.statusCode).toBe(404);
      expect(missing.json()).toMatchObject({ success: false, error: { code: 'NOT_FOUND', message: `Job ${id} was not found.` } });
    }
  });

  it('rejects a bad offset, limit or id with 400 in the error envelope', async () => {
    const id = randomUUID();
    for (const query of ['?limit=0', '?limit=1001', '?limit=ten', '?offset=-1', '?offset=first', '?page=2']) {
      const res = await logs(id, query);
      expect(res.statusCode, query).toBe(400);
      expect(res.json(), query).toMatchObject({ success: false, error: { code: 'VALIDATION_ERROR' } });
    }
    const badId = await logs('bad%20id');
    expect(badId.statusCode).toBe(400);
    expect((await t.call(null, { method: 'GET', url: `/api/jobs/${id}/logs` })).statusCode).toBe(401);
  });
});
