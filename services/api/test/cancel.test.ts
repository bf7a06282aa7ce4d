import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Backup, Server } from '@mm/db';
import { cancelMarkerKey } from '@mm/jobs';
import { startTestSshd, insertTestServer, TEST_SSH_USER, type TestSshd } from '@mm/testing';
import { runWorker, type RunningWorker } from '@mm/worker-runtime';
import { backupHandlers, parseBackupWorkerEnv } from '@mm/backup-worker/test-kit';
import { createTestApp, type TestApp } from './helpers/test-app.js';
import { waitUntil, workerEnvOf } from './helpers/throwaway-worker.js';

// POST /api/jobs/:id/cancel and per-job timeouts, end to end: the API, a real backup worker in this process, a
// loopback sshd whose `tar` is this host's (so `pgrep -u mmtest` sees the remote processes), real Redis and PostgreSQL.

const run = promisify(execFile);

let t: TestApp;
let sshd: TestSshd;
let backupDir: string;
let server: Server;
/** A unique folder name: the remote processes of this file's backups are the ones whose command line holds it. */
let slowName: string;
let slowDir: string;
let worker: RunningWorker | undefined;

beforeAll(async () => {
  [t, sshd] = await Promise.all([createTestApp(), startTestSshd()]);
  backupDir = await mkdtemp(join(tmpdir(), 'mm-cancel-backups-'));
  slowName = `slow-${randomUUID()}`;
  slowDir = join(sshd.workDir, slowName);
  await mkdir(slowDir);
  // Sparse: no disk on either side (gzip shrinks zeros a thousandfold), yet tar reads and gzips every byte for minutes.
  await run('truncate', ['-s', '64G', join(slowDir, 'zeros.bin')]);
  await run('chown', ['-R', `${TEST_SSH_USER}:${TEST_SSH_USER}`, slowDir]);
  server = await insertTestServer(t.database.db, sshd, { credentialsKey: t.env.CREDENTIALS_KEY, backupPaths: [slowDir] });
});

afterAll(async () => {
  // A failed test may leave a 64 GB backup running: stop it rather than wait for it.
  worker?.worker.cancelAllJobs('test teardown');
  await worker?.close();
  await sshd?.stop();
  await t?.close();
  if (backupDir) await rm(backupDir, { recursive: true, force: true });
});

async function startBackupWorker(): Promise<RunningWorker> {
  const env = parseBackupWorkerEnv(workerEnvOf(t, {
    BACKUP_DIR: backupDir,
    // Manual backups keep the catalog's 6 h; scheduled ones get 2 s, for the timeout test.
    JOB_TIMEOUTS_MS: 'backup:scheduled=2000',
  }));
  return runWorker({ queue: 'backup', env, concurrency: 2, handlers: backupHandlers({ backupDir, encryptionKey: env.BACKUP_ENCRYPTION_KEY }) });
}

async function triggerBackup(): Promise<string> {
  const res = await t.call('operator', { method: 'POST', url: `/api/servers/${server.id}/backup`, payload: { compression: true } });
  expect(res.statusCode, res.body).toBe(202);
  return res.json().data.jobId as string;
}

const cancel = (id: string, role: 'operator' | 'viewer' | 'admin' = 'operator') => t.call(role, { method: 'POST', url: `/api/jobs/${id}/cancel` });

async function recordOf(id: string): Promise<Backup | undefined> {
  return t.database.db.query.backups.findFirst({ where: (b, { eq }) => eq(b.id, id) });
}

/** PIDs of the sshd user's processes whose command line names this file's slow folder (timeout, sh, tar). */
async function remoteProcesses(): Promise<string[]> {
  const { stdout } = await run('pgrep', ['-u', TEST_SSH_USER, '-f', slowName]).catch((err: { code?: number; stdout?: string }) => {
    if (err.code === 1) return { stdout: '' }; // pgrep: nothing matched
    throw err;
  });
  return stdout.split('\n').filter(Boolean);
}

/** Files under the backup root (made by mkdtemp in beforeAll): a missing root throws rather than reading as "none". */
async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => e.name);
}

describe('POST /api/jobs/:id/cancel', () => {
  it('removes a waiting job and marks its record cancelled; it never runs', async () => {
    // No worker yet: the job waits.
    const id = await triggerBackup();
    const res = await cancel(id);
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toEqual({ success: true, data: { jobId: id, state: 'cancelled' } });
    expect(await t.app.producer.queue('backup').getJob(id)).toBeUndefined();
    expect(await recordOf(id)).toMatchObject({ status: 'cancelled', attempts: 0, startedAt: null, requestedBy: t.userIds.operator, serverId: server.id });
    expect((await recordOf(id))?.error).toMatch(/^job cancelled before it ran: by user /);

    // A worker started now finds nothing of it: the record stays as it was and no archive appears.
    worker = await startBackupWorker();
    const other = await triggerBackup(); // something the worker does run, so "nothing ran" is not merely "worker idle"
    await waitUntil(async () => (await remoteProcesses()).length > 0, 'the next backup to run');
    expect(await recordOf(id)).toMatchObject({ status: 'cancelled', attempts: 0, startedAt: null });
    expect((await filesUnder(backupDir)).filter((f) => f.startsWith(id))).toEqual([]);
    // Leaves the server for the next test.
    expect((await cancel(other)).statusCode).toBe(202);
    await waitUntil(async () => (await recordOf(other))?.status === 'cancelled', 'the running backup to be cancelled');
  });

  it('stops an active backup: the remote tar ends, no partial file remains, the record is cancelled, no retry', async () => {
    const id = await triggerBackup();
    await waitUntil(async () => (await remoteProcesses()).length > 0 && (await filesUnder(backupDir)).some((f) => f.startsWith(id)), 'the remote tar to be streaming');

    const res = await cancel(id);
    expect(res.statusCode, res.body).toBe(202);
    expect(res.json()).toEqual({ success: true, data: { jobId: id, state: 'cancelling' } });

    await waitUntil(async () => (await recordOf(id))?.status === 'cancelled', 'the record to be cancelled');
    await waitUntil(async () => (await remoteProcesses()).length === 0, 'the remote processes to end', 5_000);
    const record = await recordOf(id);
    expect(record).toMatchObject({ status: 'cancelled', attempts: 1, filePath: null });
    expect(record?.error).toMatch(/^job cancelled: by user /);
    expect(await filesUnder(backupDir)).toEqual([]);

    const queue = t.app.producer.queue('backup');
    await waitUntil(async () => (await queue.getJob(id))?.finishedOn !== undefined, 'the job to be finished in the queue');
    const job = await queue.getJob(id);
    expect(await job?.getState()).toBe('failed');
    expect(job?.attemptsMade).toBe(1);
    expect(job?.failedReason).toMatch(/^job cancelled: by user /);

    // Finished now: a second cancel is a conflict, in the envelope.
    const again = await cancel(id);
    expect(again.statusCode).toBe(409);
    expect(again.json()).toMatchObject({ success: false, error: { code: 'CONFLICT' } });
  });

  it('stops a job that a worker takes just as it is cancelled (the cancel marker the API sets first)', async () => {
    // The race: the API found the job waiting, but a worker took it before the removal. The worker finds the marker.
    const backupId = randomUUID();
    const marker = cancelMarkerKey(t.redis.prefix, backupId);
    await t.app.queueBackend.kv.set(marker, 'by user race-test', 60_000);
    await t.app.producer.enqueue('backup:manual', {
      serverId: server.id,
      backupId,
      userId: null,
      options: { backup_type: 'full', compression: true, encryption: false },
      isScheduled: false,
    });
    await waitUntil(async () => (await recordOf(backupId))?.status === 'cancelled', 'the record to be cancelled');
    expect(await recordOf(backupId)).toMatchObject({ status: 'cancelled', error: 'job cancelled: by user race-test', attempts: 1, filePath: null });
    // The worker writes the record before its processor throws; the queue marks the job failed just after.
    const queue = t.app.producer.queue('backup');
    await waitUntil(async () => (await queue.getJob(backupId))?.finishedOn !== undefined, 'the job to be finished in the queue');
    const job = await queue.getJob(backupId);
    expect(await job?.getState()).toBe('failed');
    expect(job?.failedReason).toBe('job cancelled: by user race-test');
    expect(await t.app.queueBackend.kv.get(marker)).toBeNull();
    expect(await remoteProcesses()).toEqual([]);
    expect(await filesUnder(backupDir)).toEqual([]);
  });

  it('answers 404 for an unknown job and 403 to a viewer, changing nothing', async () => {
    const unknown = await cancel(randomUUID());
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json()).toMatchObject({ success: false, error: { code: 'NOT_FOUND' } });

    await worker?.worker.pause();
    const id = await triggerBackup();
    const refused = await cancel(id, 'viewer');
    expect(refused.statusCode).toBe(403);
    expect(refused.json()).toMatchObject({ success: false, error: { code: 'FORBIDDEN' } });
    expect(await t.app.producer.queue('backup').getJob(id)).toBeDefined();
    expect((await cancel(id, 'admin')).statusCode).toBe(200);
    await worker?.worker.resume();
  });
});

describe('job timeouts', () => {
  it('stops a job past its limit like a cancel and fails it finally with "timed out after N s"', async () => {
    const job = await t.app.producer.enqueue('backup:scheduled', {
      serverId: server.id,
      scheduleId: randomUUID(),
      options: { backup_type: 'full', compression: true, encryption: false },
    });
    const id = String(job.id);
    await waitUntil(async () => (await job.getState()) === 'failed', 'the job to time out', 20_000);
    const fresh = await t.app.producer.queue('backup').getJob(id);
    expect(fresh?.failedReason).toBe('timed out after 2 s');
    expect(fresh?.attemptsMade).toBe(1);
    // The scheduled backup's record id is the job id (a UUID from the producer).
    expect(await recordOf(id)).toMatchObject({ status: 'failed', error: 'timed out after 2 s', attempts: 1, filePath: null, isScheduled: true });
    await waitUntil(async () => (await remoteProcesses()).length === 0, 'the remote processes to end', 5_000);
    expect(await filesUnder(backupDir)).toEqual([]);
  });
});
