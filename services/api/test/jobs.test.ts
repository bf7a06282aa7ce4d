import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { QueueAlias } from '@mm/jobs';
import { createTestApp, createServer, type TestApp } from './helpers/test-app.js';
import { startWorker, waitUntil } from './helpers/throwaway-worker.js';

let t: TestApp;
let s1: string;
let s2: string;
const ids: Record<string, string> = {};
let releaseActive: () => void = () => {};
let closeActive: () => Promise<void> = async () => {};

interface JobJson {
  id: string;
  queue: string;
  name: string;
  state: string;
  createdAt: string;
  serverId: string;
}

async function trigger(serverId: string, path: 'backup' | 'scan' | 'update', payload: object): Promise<string> {
  const res = await t.call('operator', { method: 'POST', url: `/api/servers/${serverId}/${path}`, payload });
  if (res.statusCode !== 202) throw new Error(res.body);
  return res.json().data.jobId;
}

const stateOf = async (queue: QueueAlias, id: string) => t.app.producer.queue(queue).getJobState(id);

async function list(query: string): Promise<{ data: JobJson[]; meta: { total?: number } }> {
  const res = await t.call('viewer', { method: 'GET', url: `/api/jobs?${query}` });
  expect(res.statusCode, res.body).toBe(200);
  return res.json();
}

beforeAll(async () => {
  t = await createTestApp();
  s1 = await createServer(t, { name: 's1' });
  s2 = await createServer(t, { name: 's2' });
  // Finished jobs: scans A1 (fails), A2, A3 (complete); backups B1 (completes), B2 (fails, server 2).
  ids.A1 = await trigger(s1, 'scan', { scan_type: 'full' });
  ids.A2 = await trigger(s1, 'scan', { scan_type: 'quick' });
  ids.A3 = await trigger(s2, 'scan', { scan_type: 'full' });
  ids.B1 = await trigger(s1, 'backup', {});
  ids.B2 = await trigger(s2, 'backup', {});
  const scanWorker = startWorker(t, 'scan', (job) => (job.id === ids.A1 ? 'fail' : 'complete'));
  const backupWorker = startWorker(t, 'backup', (job) => (job.id === ids.B2 ? 'fail' : 'complete'));
  await waitUntil(async () => (await Promise.all([ids.A1, ids.A2, ids.A3].map((id) => stateOf('scan', id as string)))).every((s) => s === 'completed' || s === 'failed'), 'scans');
  await waitUntil(async () => (await Promise.all([ids.B1, ids.B2].map((id) => stateOf('backup', id as string)))).every((s) => s === 'completed' || s === 'failed'), 'backups');
  await Promise.all([scanWorker.worker.close(), backupWorker.worker.close()]);
  // Still waiting (prioritized): scans A4 (server 1), A5 (server 2), backup B3 (server 1).
  ids.A4 = await trigger(s1, 'scan', { scan_type: 'quick' });
  ids.A5 = await trigger(s2, 'scan', { scan_type: 'quick' });
  ids.B3 = await trigger(s1, 'backup', { backup_type: 'incremental' });
  // Active: update U1, held by a worker until the end.
  ids.U1 = await trigger(s1, 'update', { dry_run: true });
  const updateWorker = startWorker(t, 'update', () => 'block');
  releaseActive = updateWorker.release;
  closeActive = () => updateWorker.worker.close();
  await waitUntil(async () => (await stateOf('update', ids.U1 as string)) === 'active', 'active update');
});

afterAll(async () => {
  releaseActive();
  await closeActive();
  await t?.close();
});

describe('GET /api/jobs/:id', () => {
  it('reports a failed job with its reason and attempts', async () => {
    const res = await t.call('viewer', { method: 'GET', url: `/api/jobs/${ids.A1}` });
    expect(res.statusCode).toBe(200);
    expect(res.json().data).toMatchObject({ id: ids.A1, queue: 'scan', name: 'scan:full', state: 'failed', attempts: 1, maxAttempts: 3, serverId: s1, failedReason: `boom ${ids.A1}` });
    expect(res.json().data.finishedAt).not.toBeNull();
  });

  it('reports a completed job with its result, an active one and a prioritized one', async () => {
    const done = (await t.call('viewer', { method: 'GET', url: `/api/jobs/${ids.B1}` })).json().data;
    expect(done).toMatchObject({ queue: 'backup', name: 'backup:manual', state: 'completed', result: { ok: true, id: ids.B1 }, progress: 0 });
    expect(done.processedAt).not.toBeNull();
    expect((await t.call('viewer', { method: 'GET', url: `/api/jobs/${ids.U1}` })).json().data.state).toBe('active');
    expect((await t.call('viewer', { method: 'GET', url: `/api/jobs/${ids.A4}` })).json().data).toMatchObject({ state: 'prioritized', processedAt: null, finishedAt: null });
  });

  it('404 for an unknown id, 400 for a malformed one', async () => {
    const res = await t.call('viewer', { method: 'GET', url: '/api/jobs/00000000-0000-4000-8000-000000000000' });
    expect(res.statusCode).toBe(404);
    expect(res.json().error.code).toBe('NOT_FOUND');
    expect((await t.call('viewer', { method: 'GET', url: '/api/jobs/123' })).statusCode).toBe(400);
  });
});

describe('GET /api/jobs', () => {
  it('lists every job newest first across queues, with a total', async () => {
    const { data, meta } = await list('limit=100');
    expect(data.map((j) => j.id).sort()).toEqual(Object.values(ids).sort());
    expect(meta.total).toBe(9);
    const times = data.map((j) => Date.parse(j.createdAt));
    expect(times).toEqual([...times].sort((a, b) => b - a));
    expect(data[0]?.id).toBe(ids.U1);
  });

  it('filters by queue, by state, by both, and by several states', async () => {
    expect((await list('queue=backup')).data.map((j) => j.id).sort()).toEqual([ids.B1, ids.B2, ids.B3].sort());
    expect((await list('state=failed')).data.map((j) => j.id).sort()).toEqual([ids.A1, ids.B2].sort());
    const both = await list('queue=backup&state=completed&limit=20');
    expect(both.data.map((j) => j.id)).toEqual([ids.B1]);
    expect(both.meta.total).toBe(1);
    const several = await list('state=completed,active&queue=scan,update');
    expect(several.data.map((j) => j.id).sort()).toEqual([ids.A2, ids.A3, ids.U1].sort());
    expect(several.data.every((j) => ['completed', 'active'].includes(j.state))).toBe(true);
  });

  it('pages across several states and queues without gaps or repeats', async () => {
    const query = 'state=completed,failed,prioritized';
    const all = (await list(`${query}&limit=100`)).data.map((j) => j.id);
    expect(all).toHaveLength(8);
    const paged: string[] = [];
    for (let offset = 0; offset < all.length; offset += 3) paged.push(...(await list(`${query}&limit=3&offset=${offset}`)).data.map((j) => j.id));
    expect(paged).toEqual(all);
    expect((await list(`${query}&limit=3&offset=9`)).data).toEqual([]);
  });

  it('filters by server, also combined with state, and pages', async () => {
    const server2 = await list(`serverId=${s2}`);
    expect(server2.data.map((j) => j.id)).toEqual([ids.A5, ids.B2, ids.A3]);
    expect(server2.data.every((j) => j.serverId === s2)).toBe(true);
    expect((await list(`serverId=${s1}&state=prioritized`)).data.map((j) => j.id)).toEqual([ids.B3, ids.A4]);
    expect((await list(`serverId=${s1}&queue=scan&limit=1&offset=1`)).data.map((j) => j.id)).toEqual([ids.A2]);
  });

  it('400 for an unknown state, queue or a limit above 100', async () => {
    for (const q of ['state=running', 'queue=email', 'limit=101', 'serverId=abc', 'offset=-1', 'foo=bar']) {
      const res = await t.call('viewer', { method: 'GET', url: `/api/jobs?${q}` });
      expect(res.statusCode, q).toBe(400);
    }
  });
});

describe('GET /api/jobs/stats/all', () => {
  it('counts per queue and state, with totals', async () => {
    const res = await t.call('viewer', { method: 'GET', url: '/api/jobs/stats/all' });
    const { queues, totals } = res.json().data;
    expect(queues.scan).toMatchObject({ completed: 2, failed: 1, prioritized: 2, active: 0 });
    expect(queues.backup).toMatchObject({ completed: 1, failed: 1, prioritized: 1 });
    expect(queues.update).toMatchObject({ active: 1 });
    expect(totals).toMatchObject({ completed: 3, failed: 2, prioritized: 3, active: 1, total: 9 });
  });
});

describe('DELETE /api/jobs/:id and POST /api/jobs/:id/retry', () => {
  it('refuses to remove an active job (409) and removes a finished one', async () => {
    const active = await t.call('operator', { method: 'DELETE', url: `/api/jobs/${ids.U1}` });
    expect(active.statusCode).toBe(409);
    expect(await stateOf('update', ids.U1 as string)).toBe('active');

    const removed = await t.call('operator', { method: 'DELETE', url: `/api/jobs/${ids.A2}` });
    expect(removed.statusCode).toBe(200);
    expect((await t.call('viewer', { method: 'GET', url: `/api/jobs/${ids.A2}` })).statusCode).toBe(404);
    expect((await t.call('operator', { method: 'DELETE', url: `/api/jobs/${ids.A2}` })).statusCode).toBe(404);
  });

  it('retries a failed job and refuses any other', async () => {
    const retried = await t.call('operator', { method: 'POST', url: `/api/jobs/${ids.B2}/retry` });
    expect(retried.statusCode).toBe(200);
    expect(retried.json().data).toMatchObject({ id: ids.B2, state: 'prioritized' });
    expect(await stateOf('backup', ids.B2 as string)).toBe('prioritized');

    for (const id of [ids.B1, ids.B2, ids.U1]) {
      const res = await t.call('operator', { method: 'POST', url: `/api/jobs/${id}/retry` });
      expect(res.statusCode).toBe(409);
      expect(res.json().error.code).toBe('CONFLICT');
    }
    expect((await t.call('operator', { method: 'POST', url: '/api/jobs/00000000-0000-4000-8000-000000000000/retry' })).statusCode).toBe(404);
  });
});
