import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backups, jobLogs } from '@mm/db';
import { runWorker, type RunningWorker } from '@mm/worker-runtime';
import { backupHandlers, parseBackupWorkerEnv } from '@mm/backup-worker/test-kit';
import { createServer, createTestApp, type TestApp } from './helpers/test-app.js';
import { waitUntil, workerEnvOf } from './helpers/throwaway-worker.js';

let t: TestApp;
let backupDir: string;
let worker: RunningWorker;

beforeAll(async () => {
  t = await createTestApp();
  backupDir = await mkdtemp(join(tmpdir(), 'mm-retention-'));
  const env = parseBackupWorkerEnv(workerEnvOf(t, {
    BACKUP_DIR: backupDir,
  }));
  worker = await runWorker({
    queue: 'backup',
    env,
    concurrency: 1,
    handlers: backupHandlers({ backupDir, encryptionKey: env.BACKUP_ENCRYPTION_KEY, queues: env }),
  });
});

afterAll(async () => {
  await worker?.close();
  await t?.close();
  if (backupDir) await rm(backupDir, { recursive: true, force: true });
});

const DAY = 86_400_000;
// Noon UTC today, so "n days ago" never straddles midnight however long the test takes.
const noon = new Date(new Date().toISOString().slice(0, 10) + 'T12:00:00Z').getTime();
const daysAgo = (n: number, hours = 0) => new Date(noon - n * DAY + hours * 3_600_000);

interface Fixture {
  status: 'completed' | 'failed' | 'running';
  at: Date;
  type?: 'full' | 'incremental';
  base?: string;
  /** false: no file; 'partial': only a partial left by a failed attempt */
  file?: boolean | 'partial';
}

/** Inserts a backup record (and its archive file under BACKUP_DIR) as the worker would have left it. */
async function insertBackup(serverId: string, f: Fixture): Promise<{ id: string; path: string }> {
  const id = randomUUID();
  const dir = join(backupDir, serverId);
  await mkdir(dir, { recursive: true });
  const path = join(dir, `${id}.tar.gz`);
  const withFile = f.file ?? f.status === 'completed';
  if (withFile === true) await writeFile(path, `archive ${id}`);
  // Its GNU tar snapshot file, stored beside the archive by the worker (issue #12).
  if (withFile === true) await writeFile(join(dir, `${id}.snar`), 'GNU tar-1.34-2\n');
  if (withFile === 'partial') await writeFile(`${path}.partial`, 'half');
  await t.database.db.insert(backups).values({
    id,
    serverId,
    status: f.status,
    backupType: f.type ?? 'full',
    baseBackupId: f.base ?? null,
    createdAt: f.at,
    startedAt: f.at,
    finishedAt: f.status === 'running' ? null : f.at,
    filePath: withFile === true ? path : null,
    sizeBytes: withFile === true ? `archive ${id}`.length : null,
  });
  return { id, path };
}

const put = (serverId: string, role: 'viewer' | 'operator', payload: object) => t.call(role, { method: 'PUT', url: `/api/servers/${serverId}/retention`, payload });

describe('retention policy API', () => {
  it('is readable by viewers, settable by operators, and refuses empty or zero policies', async () => {
    const serverId = await createServer(t, { name: 'policy' });
    expect((await t.call('viewer', { method: 'GET', url: `/api/servers/${serverId}/retention` })).json().data).toMatchObject({ configured: false, keepLast: null });
    expect((await put(serverId, 'viewer', { keepLast: 3 })).statusCode).toBe(403);
    for (const bad of [{}, { keepLast: 0 }, { keepLast: 2, keepMonthly: 1 }, { keepDaily: 1.5 }]) {
      const res = await put(serverId, 'operator', bad);
      expect(res.statusCode, JSON.stringify(bad)).toBe(400);
      expect(res.json().error.code).toBe('VALIDATION_ERROR');
    }
    expect((await t.call('viewer', { method: 'GET', url: `/api/servers/${serverId}/retention` })).json().data.configured).toBe(false);
    const ok = await put(serverId, 'operator', { keepLast: 3, keepWeekly: 4 });
    expect(ok.statusCode, ok.body).toBe(200);
    expect(ok.json().data).toMatchObject({ configured: true, keepLast: 3, keepDaily: null, keepWeekly: 4 });
    expect((await put(randomUUID(), 'operator', { keepLast: 1 })).statusCode).toBe(404);
  });
});

describe('backup:cleanup', () => {
  it('removes exactly the backups beyond each policy, keeps the only success and the chain base, and reports what it removed', async () => {
    const s1 = await createServer(t, { name: 'pruned' });
    const a = await insertBackup(s1, { status: 'completed', at: daysAgo(10) }); // beyond the policy
    const b = await insertBackup(s1, { status: 'completed', at: daysAgo(5) }); // base of c: kept
    const c = await insertBackup(s1, { status: 'completed', at: daysAgo(3, 2), type: 'incremental', base: b.id }); // newest of its day
    const d = await insertBackup(s1, { status: 'completed', at: daysAgo(3, -2) }); // older on the same day
    const e = await insertBackup(s1, { status: 'completed', at: daysAgo(1) }); // the newest
    const x = await insertBackup(s1, { status: 'failed', at: daysAgo(20), file: 'partial' }); // failed, older than what is kept
    const y = await insertBackup(s1, { status: 'failed', at: daysAgo(0, -1) }); // failed, recent: kept
    const r = await insertBackup(s1, { status: 'running', at: daysAgo(30), file: false }); // running: never touched
    expect((await put(s1, 'operator', { keepLast: 1, keepDaily: 2 })).statusCode).toBe(200);

    const s2 = await createServer(t, { name: 'only-one' });
    const only = await insertBackup(s2, { status: 'completed', at: daysAgo(40) });
    const later = await insertBackup(s2, { status: 'failed', at: daysAgo(2) });
    expect((await put(s2, 'operator', { keepDaily: 1 })).statusCode).toBe(200);

    const s3 = await createServer(t, { name: 'no-policy' });
    const untouched = await insertBackup(s3, { status: 'completed', at: daysAgo(400) });
    await t.database.db.insert(jobLogs).values({ jobId: a.id, queue: 'backup', seq: 1, kind: 'output', line: 'old line' });

    // A scan job that finished 8 days ago: past the 7-day age, so the cleanup removes it from Redis.
    const scanQueue = t.app.producer.queue('scan');
    const old = await scanQueue.add('scan:quick', { serverId: s1, scanId: randomUUID(), userId: null }, { jobId: randomUUID() });
    const finishedOn = Date.now() - 8 * DAY;
    await t.redis.redis
      .multi()
      .lrem(`${t.redis.prefix}:scan-queue:wait`, 0, old.id!)
      .zadd(`${t.redis.prefix}:scan-queue:completed`, finishedOn, old.id!)
      .hset(`${t.redis.prefix}:scan-queue:${old.id}`, 'finishedOn', finishedOn, 'processedOn', finishedOn)
      .exec();

    expect((await t.call('operator', { method: 'POST', url: '/api/maintenance/cleanup' })).statusCode).toBe(403);
    const res = await t.call('admin', { method: 'POST', url: '/api/maintenance/cleanup' });
    expect(res.statusCode, res.body).toBe(202);
    const jobId = res.json().data.jobId as string;
    await waitUntil(async () => ['completed', 'failed'].includes(await t.app.producer.queue('backup').getJobState(jobId)), 'the cleanup job', 30_000);
    const view = await t.call('viewer', { method: 'GET', url: `/api/jobs/${jobId}` });
    expect(view.json().data.state, view.body).toBe('completed');
    const result = view.json().data.result;

    const removed = [a, d, x];
    expect(new Set(result.backups.map((rb: { id: string }) => rb.id))).toEqual(new Set(removed.map((rb) => rb.id)));
    expect(result.backups.find((rb: { id: string }) => rb.id === a.id)).toEqual({ id: a.id, serverId: s1, status: 'completed', filePath: a.path, sizeBytes: `archive ${a.id}`.length });
    expect(result.backups.find((rb: { id: string }) => rb.id === x.id)).toMatchObject({ status: 'failed', filePath: null });
    expect(result.bullmqJobs.scan.completed).toBe(1);
    expect(await scanQueue.getJob(old.id!)).toBeUndefined();
    expect(result.skipped).toEqual([]);

    const left = new Set((await t.database.db.select({ id: backups.id }).from(backups)).map((row) => row.id));
    for (const gone of removed) {
      expect(left.has(gone.id)).toBe(false);
      expect(existsSync(gone.path)).toBe(false);
      expect(existsSync(join(backupDir, s1, `${gone.id}.snar`))).toBe(false);
    }
    expect(existsSync(`${x.path}.partial`)).toBe(false);
    for (const kept of [b, c, e, y, r, only, later, untouched]) expect(left.has(kept.id), kept.id).toBe(true);
    for (const kept of [b, c, e, only, untouched]) expect(existsSync(kept.path), kept.path).toBe(true);
    for (const kept of [b, c, e, only, untouched]) expect(existsSync(kept.path.replace(/\.tar\.gz$/, '.snar')), kept.path).toBe(true);
    // The pruned backup's job log went with it (the cleanup job's own log lines stay).
    expect((await t.database.db.select().from(jobLogs)).filter((l) => l.jobId === a.id)).toEqual([]);
  });
});
