import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { QueueAlias } from '@mm/jobs';
import { createTestApp, createServer, type TestApp } from './helpers/test-app.js';
import { startWorker, waitUntil } from './helpers/throwaway-worker.js';

let t: TestApp;
let serverId: string;
const failedOnce = new Set<string>();
const workers: { worker: { close(): Promise<void> } }[] = [];

interface QueueJson {
  queue: QueueAlias;
  name: string;
  paused: boolean;
  workers: number;
  counts: Record<string, number>;
}

async function trigger(path: 'backup' | 'scan', payload: object): Promise<string> {
  const res = await t.call('operator', { method: 'POST', url: `/api/servers/${serverId}/${path}`, payload });
  if (res.statusCode !== 202) throw new Error(res.body);
  return res.json().data.jobId;
}

async function queues(): Promise<Record<string, QueueJson>> {
  const res = await t.call('admin', { method: 'GET', url: '/api/queues' });
  expect(res.statusCode, res.body).toBe(200);
  return Object.fromEntries((res.json().data as QueueJson[]).map((q) => [q.queue, q]));
}

const admin = (url: string, payload?: object) => t.call('admin', { method: 'POST', url, ...(payload ? { payload } : {}) });
const stateOf = (queue: QueueAlias, id: string) => t.app.producer.queue(queue).getJobState(id);

beforeAll(async () => {
  t = await createTestApp();
  serverId = await createServer(t);
});

afterAll(async () => {
  await Promise.all(workers.map((w) => w.worker.close()));
  await t?.close();
});

describe('queue administration', () => {
  it('lists every queue with its paused flag, counts and connected workers', async () => {
    const scans = [await trigger('scan', { scan_type: 'quick' }), await trigger('scan', { scan_type: 'full' }), await trigger('scan', { scan_type: 'quick' })];
    // The first two fail once (unrecoverably), then succeed when retried.
    workers.push(
      startWorker(t, 'scan', (job) => {
        if (job.id === scans[2] || failedOnce.has(job.id as string)) return 'complete';
        failedOnce.add(job.id as string);
        return 'fail';
      }),
    );
    await waitUntil(async () => (await Promise.all(scans.map((id) => stateOf('scan', id)))).every((s) => s === 'completed' || s === 'failed'), 'scans');
    await trigger('backup', {});
    await trigger('backup', {});

    const q = await queues();
    expect(Object.keys(q).sort()).toEqual(['backup', 'scan', 'update']);
    expect(q.scan).toMatchObject({ name: 'scan-queue', paused: false, workers: 1, counts: { failed: 2, completed: 1, waiting: 0 } });
    expect(q.backup).toMatchObject({ name: 'backup-queue', paused: false, workers: 0, counts: { waiting: 2, total: 2 } });
    expect(q.update).toMatchObject({ workers: 0, counts: { total: 0 } });
  });

  it('retries every failed job of a queue', async () => {
    const res = await admin('/api/queues/scan/retry-failed');
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().data).toEqual({ queue: 'scan', retried: 2, skipped: 0 });
    await waitUntil(async () => (await queues()).scan?.counts.completed === 3, 'retried scans completed');
    expect((await queues()).scan?.counts.failed).toBe(0);
    expect((await admin('/api/queues/scan/retry-failed')).json().data).toEqual({ queue: 'scan', retried: 0, skipped: 0 });
  });

  it('cleans finished jobs older than a given age, never active ones', async () => {
    const young = await admin('/api/queues/scan/clean', { state: 'completed', olderThanMs: 3_600_000 });
    expect(young.json().data).toEqual({ queue: 'scan', state: 'completed', removed: 0 });
    const all = await admin('/api/queues/scan/clean', { state: 'completed', olderThanMs: 0 });
    expect(all.json().data).toEqual({ queue: 'scan', state: 'completed', removed: 3 });
    expect((await queues()).scan?.counts.completed).toBe(0);
    for (const body of [{ state: 'active', olderThanMs: 0 }, { state: 'completed' }, { state: 'completed', olderThanMs: -1 }]) {
      expect((await admin('/api/queues/scan/clean', body)).statusCode, JSON.stringify(body)).toBe(400);
    }
  });

  it('promotes delayed jobs', async () => {
    const backupId = randomUUID();
    await t.app.producer.enqueue('backup:manual', { serverId, backupId, userId: null, isScheduled: false, options: { backup_type: 'full', compression: true, encryption: false } }, { delay: 3_600_000 });
    expect(await stateOf('backup', backupId)).toBe('delayed');
    const res = await admin('/api/queues/backup/promote-delayed');
    expect(res.json().data).toEqual({ queue: 'backup', promoted: 1 });
    expect(['waiting', 'prioritized']).toContain(await stateOf('backup', backupId));
  });

  it('pauses a queue for every worker, and resumes it', async () => {
    const paused = await admin('/api/queues/backup/pause');
    expect(paused.json().data).toEqual({ queue: 'backup', paused: true });
    expect(await t.app.producer.queue('backup').isPaused()).toBe(true);
    expect((await queues()).backup?.paused).toBe(true);
    const waiting = (await queues()).backup?.counts.waiting as number;
    expect(waiting).toBe(3);

    workers.push(startWorker(t, 'backup', () => 'complete'));
    const resumed = await admin('/api/queues/backup/resume');
    expect(resumed.json().data).toEqual({ queue: 'backup', paused: false });
    expect(await t.app.producer.queue('backup').isPaused()).toBe(false);
    await waitUntil(async () => (await queues()).backup?.counts.completed === 3, 'backups after resume');
  });

  it('answers 400 for an unknown queue', async () => {
    expect((await admin('/api/queues/email/pause')).statusCode).toBe(400);
    expect((await admin('/api/queues/backup-queue/pause')).statusCode).toBe(400);
  });
});
