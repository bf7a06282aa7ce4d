import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ScanProgress } from '@mm/jobs';
import { createTestApp, createServer, PASSWORD, type TestApp } from './helpers/test-app.js';
import { startWorker, waitUntil } from './helpers/throwaway-worker.js';

// The seed's curl calls and its Python polling loop, translated to fetch against a real listening server.
let t: TestApp;
let BASE_URL: string;
let TOKEN: string;
let serverId: string;
let headers: Record<string, string>;

beforeAll(async () => {
  t = await createTestApp();
  serverId = await createServer(t);
  await t.app.listen({ port: 0, host: '127.0.0.1' });
  const address = t.app.server.address();
  if (!address || typeof address === 'string') throw new Error('no port');
  BASE_URL = `http://127.0.0.1:${address.port}`;
  const login = await fetch(`${BASE_URL}/api/auth/login`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ email: 'operator@example.test', password: PASSWORD }),
  });
  TOKEN = ((await login.json()) as { data: { token: string } }).data.token;
  headers = { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json' };
});
afterAll(async () => {
  await t?.close();
});

const get = async (path: string) => {
  const res = await fetch(`${BASE_URL}${path}`, { headers: { Authorization: `Bearer ${TOKEN}` } });
  return { status: res.status, body: (await res.json()) as { success: boolean; data: Record<string, unknown> & Record<string, unknown>[]; meta?: unknown } };
};

describe("the seed's examples", () => {
  let backupJobId: string;
  let scanJobId: string;

  it('1. trigger a backup', async () => {
    const res = await fetch(`${BASE_URL}/api/servers/${serverId}/backup`, { method: 'POST', headers, body: JSON.stringify({ backup_type: 'full', compression: true, encryption: false }) });
    expect(res.status).toBe(202);
    const body = (await res.json()) as { success: boolean; data: { backupId: string; jobId: string; status: string } };
    expect(body).toEqual({ success: true, data: { backupId: expect.stringMatching(/^[0-9a-f-]{36}$/), jobId: body.data.backupId, status: 'pending' } });
    expect(res.headers.get('x-request-id')).toBeTruthy();
    backupJobId = body.data.jobId;
  });

  it('2. trigger a scan', async () => {
    const res = await fetch(`${BASE_URL}/api/servers/${serverId}/scan`, { method: 'POST', headers, body: JSON.stringify({ scan_type: 'full' }) });
    expect(res.status).toBe(202);
    const body = (await res.json()) as { data: { scanId: string; jobId: string; status: string } };
    expect(body.data.status).toBe('pending');
    scanJobId = body.data.jobId;
  });

  it('3. check job status', async () => {
    const { status, body } = await get(`/api/jobs/${backupJobId}`);
    expect(status).toBe(200);
    expect(body.data).toMatchObject({ id: backupJobId, state: 'prioritized', progress: 0, attempts: 0, maxAttempts: 3 });
  });

  it('4. list jobs with each filter, 6./7. retry a failed job and remove a completed one', async () => {
    // Fail the scan and complete the backup with throwaway workers.
    const scans = startWorker(t, 'scan', () => 'fail');
    const backups = startWorker(t, 'backup', () => 'complete');
    await waitUntil(async () => (await t.app.producer.queue('scan').getJobState(scanJobId)) === 'failed', 'failed scan');
    await waitUntil(async () => (await t.app.producer.queue('backup').getJobState(backupJobId)) === 'completed', 'completed backup');
    await Promise.all([scans.worker.close(), backups.worker.close()]);

    const all = await get('/api/jobs');
    expect(all.body.data.map((j) => j.id)).toEqual([scanJobId, backupJobId]);
    expect((await get('/api/jobs?queue=backup')).body.data.map((j) => j.id)).toEqual([backupJobId]);
    expect((await get('/api/jobs?state=failed')).body.data.map((j) => j.id)).toEqual([scanJobId]);
    const combined = await get('/api/jobs?queue=backup&state=completed&limit=20');
    expect(combined.body.data.map((j) => j.id)).toEqual([backupJobId]);
    expect(combined.body.meta).toEqual({ limit: 20, offset: 0, total: 1 });
    expect((await get('/api/jobs?state=failed&limit=50')).body.data).toHaveLength(1);

    const retry = await fetch(`${BASE_URL}/api/jobs/${scanJobId}/retry`, { method: 'POST', headers: { Authorization: `Bearer ${TOKEN}` } });
    expect(retry.status).toBe(200);
    expect((await get(`/api/jobs/${scanJobId}`)).body.data.state).toBe('prioritized');

    const remove = await fetch(`${BASE_URL}/api/jobs/${backupJobId}`, { method: 'DELETE', headers: { Authorization: `Bearer ${TOKEN}` } });
    expect(remove.status).toBe(200);
    expect((await get(`/api/jobs/${backupJobId}`)).status).toBe(404);
  });

  it('5. queue metrics and system health', async () => {
    const { status, body } = await get('/api/metrics/queues');
    expect(status).toBe(200);
    expect(Object.keys(body.data).sort()).toEqual(['backup', 'health', 'scan', 'update']);
    expect(body.data.scan).toEqual({ waiting: 1, active: 0, completed: 0, failed: 0, delayed: 0, total: 1 });
    expect(body.data.health).toMatchObject({ status: 'degraded' });
    const health = await fetch(`${BASE_URL}/health`);
    expect(health.status).toBe(200);
    expect((await get('/api/metrics/system')).body.data).toHaveProperty('queues.scan.waiting', 1);
  });

  it('the Python polling loop: trigger a scan and poll until it is completed', async () => {
    // The retried scan from above is still waiting: this worker completes every scan, reporting the seed's milestones.
    const seen: { state: string; progress: number }[] = [];
    const worker = startWorker(t, 'scan', () => 'complete', async (job) => {
      for (const p of Object.values(ScanProgress)) await job.updateProgress(p);
    });
    try {
      const res = await fetch(`${BASE_URL}/api/servers/${serverId}/scan`, { method: 'POST', headers, body: JSON.stringify({ scan_type: 'full' }) });
      const data = ((await res.json()) as { data: { jobId: string } }).data;
      const jobId = data.jobId;
      for (;;) {
        const response = await fetch(`${BASE_URL}/api/jobs/${jobId}`, { headers });
        const job = ((await response.json()) as { data: { state: string; progress: number } }).data;
        seen.push({ state: job.state, progress: job.progress });
        if (['completed', 'failed'].includes(job.state)) break;
        await sleep(100); // the seed waits 5 s; the loop is the same
      }
    } finally {
      await worker.worker.close();
    }
    expect(seen.at(-1)).toEqual({ state: 'completed', progress: 100 });
    const progress = seen.map((s) => s.progress);
    expect(progress).toEqual([...progress].sort((a, b) => a - b));
  });
});
