import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseEnv } from '@mm/config';
import { backups, scans, servers, type Server } from '@mm/db';
import { startTestSshd, insertTestServer, type TestSshd } from '@mm/testing';
import { runWorker, WorkerEnvSchema, type RunningWorker } from '@mm/worker-runtime';
import { backupHandlers, parseBackupWorkerEnv } from '@mm/backup-worker/test-kit';
import { scanHandlers } from '@mm/scan-worker/test-kit';
import { createTestApp, type TestApp } from './helpers/test-app.js';
import { waitUntil, workerEnvOf } from './helpers/throwaway-worker.js';

// POST /api/jobs/:id/retry end to end: real backup and scan workers in this process, a loopback sshd, real Redis and
// PostgreSQL. Jobs fail for good on a wrong host-key pin; the pin is then fixed and the failed job retried.

const WRONG_PIN = 'SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';

let t: TestApp;
let sshd: TestSshd;
let backupDir: string;
let dataDir: string;
const workers: RunningWorker[] = [];

beforeAll(async () => {
  backupDir = await mkdtemp(join(tmpdir(), 'mm-retry-backups-'));
  // The API reads the files the worker writes: the same BACKUP_DIR.
  [t, sshd] = await Promise.all([createTestApp({ BACKUP_DIR: backupDir }), startTestSshd()]);
  dataDir = join(sshd.workDir, 'retry-data');
  await mkdir(dataDir);
  await writeFile(join(dataDir, 'file.txt'), 'what the retried backup stores\n');
  const backupEnv = parseBackupWorkerEnv(workerEnvOf(t, { BACKUP_DIR: backupDir }));
  const env = parseEnv(WorkerEnvSchema, workerEnvOf(t));
  workers.push(
    await runWorker({ queue: 'backup', env: backupEnv, concurrency: 2, handlers: backupHandlers({ backupDir, encryptionKey: backupEnv.BACKUP_ENCRYPTION_KEY }) }),
    await runWorker({ queue: 'scan', env, concurrency: 2, handlers: scanHandlers }),
  );
});

afterAll(async () => {
  for (const w of workers) await w.close();
  await sshd?.stop();
  await t?.close();
  if (backupDir) await rm(backupDir, { recursive: true, force: true });
});

const pinnedWrong = () => insertTestServer(t.database.db, sshd, { credentialsKey: t.env.CREDENTIALS_KEY, hostKeyFingerprint: WRONG_PIN, backupPaths: [dataDir] });
const fixPin = (server: Server) => t.database.db.update(servers).set({ hostKeyFingerprint: sshd.hostKeyFingerprint }).where(eq(servers.id, server.id));
const retry = (id: string, role: 'viewer' | 'operator' = 'operator') => t.call(role, { method: 'POST', url: `/api/jobs/${id}/retry` });
const backupRow = async (id: string) => (await t.database.db.select().from(backups).where(eq(backups.id, id)))[0];
const scanRow = async (id: string) => (await t.database.db.select().from(scans).where(eq(scans.id, id)))[0];
const stateOf = (queue: 'backup' | 'scan', id: string) => t.app.producer.queue(queue).getJobState(id);

async function trigger(server: Server, what: 'backup' | 'scan'): Promise<string> {
  const payload = what === 'backup' ? { compression: true } : { scan_type: 'quick' };
  const res = await t.call('operator', { method: 'POST', url: `/api/servers/${server.id}/${what}`, payload });
  expect(res.statusCode, res.body).toBe(202);
  return res.json().data.jobId as string;
}

async function logLines(id: string): Promise<string[]> {
  const res = await t.call('viewer', { method: 'GET', url: `/api/jobs/${id}/logs?limit=500` });
  expect(res.statusCode, res.body).toBe(200);
  return (res.json().data.lines as { line: string }[]).map((l) => l.line);
}

describe('POST /api/jobs/:id/retry reopens the failed record and the worker finishes it', () => {
  it('a failed backup retried completes: record completed with a file, attempts counting on, the old error in the log', async () => {
    const server = await pinnedWrong();
    const id = await trigger(server, 'backup');
    await waitUntil(async () => (await stateOf('backup', id)) === 'failed' && (await backupRow(id))?.status === 'failed', 'the backup to fail');
    const failed = await backupRow(id);
    expect(failed).toMatchObject({ status: 'failed', attempts: 1, filePath: null });
    expect(failed?.error).toMatch(/host key mismatch/);

    // A viewer still cannot retry; nothing moves.
    expect((await retry(id, 'viewer')).statusCode).toBe(403);
    expect(await backupRow(id)).toMatchObject({ status: 'failed' });

    await fixPin(server);
    const res = await retry(id);
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().data.id).toBe(id);
    await waitUntil(async () => (await stateOf('backup', id)) === 'completed', 'the retried backup to complete');
    await waitUntil(async () => (await backupRow(id))?.status === 'completed', 'the record to complete');
    const done = await backupRow(id);
    expect(done).toMatchObject({ status: 'completed', attempts: 2, error: null, progress: 100 });
    expect(done?.filePath).toBeTruthy();
    expect(done?.finishedAt?.getTime()).toBeGreaterThan(failed!.finishedAt!.getTime());
    const download = await t.call('operator', { method: 'GET', url: `/api/backups/${id}/download` });
    expect(download.statusCode, download.body).toBe(200);
    expect(download.rawPayload.length).toBe(Number(done?.sizeBytes));
    expect(done?.sizeBytes).toBeGreaterThan(0);
    const lines = await logLines(id);
    expect(lines.some((l) => /host key mismatch/.test(l)), lines.join('\n')).toBe(true);
    expect(lines.some((l) => /^attempt 2 of \d+ started/.test(l)), lines.join('\n')).toBe(true);

    // Completed now: a second retry is a conflict and changes nothing.
    const again = await retry(id);
    expect(again.statusCode).toBe(409);
    expect(again.json()).toMatchObject({ success: false, error: { code: 'CONFLICT' } });
    expect(await backupRow(id)).toMatchObject({ status: 'completed', attempts: 2 });
  });

  it('a failed scan retried: the job and its record both end completed', async () => {
    const server = await pinnedWrong();
    const id = await trigger(server, 'scan');
    await waitUntil(async () => (await stateOf('scan', id)) === 'failed' && (await scanRow(id))?.status === 'failed', 'the scan to fail');
    await fixPin(server);
    expect((await retry(id)).statusCode).toBe(200);
    await waitUntil(async () => (await stateOf('scan', id)) === 'completed', 'the retried scan to complete');
    await waitUntil(async () => (await scanRow(id))?.status === 'completed', 'the scan record to complete');
    expect(await scanRow(id)).toMatchObject({ status: 'completed', attempts: 2, error: null });
  });

  it('a failed job re-run without the retry route (a stale duplicate) does not reopen its record', async () => {
    const server = await pinnedWrong();
    const id = await trigger(server, 'backup');
    await waitUntil(async () => (await stateOf('backup', id)) === 'failed' && (await backupRow(id))?.status === 'failed', 'the backup to fail');
    await fixPin(server);
    // BullMQ's own retry, as a duplicate or a tool other than this API would: the record is not reopened.
    const job = await t.app.producer.queue('backup').getJob(id);
    await job!.retry('failed');
    await waitUntil(async () => (await stateOf('backup', id)) === 'failed', 'the re-run to be refused');
    expect((await t.app.producer.queue('backup').getJob(id))?.failedReason).toMatch(/already failed; records only move forward/);
    const row = await backupRow(id);
    expect(row).toMatchObject({ status: 'failed', filePath: null });
    expect(row?.error).toMatch(/host key mismatch/);
  });
});

describe('POST /api/queues/:queue/retry-failed reopens every failed record it retries', () => {
  it('failed scans are retried and their records complete; a cancelled record stays cancelled and its job failed', async () => {
    const server = await pinnedWrong();
    const ids = [await trigger(server, 'scan'), await trigger(server, 'scan'), await trigger(server, 'scan')];
    const failed = async (id: string) => (await stateOf('scan', id)) === 'failed' && (await scanRow(id))?.status === 'failed';
    await waitUntil(async () => (await Promise.all(ids.map(failed))).every(Boolean), 'the three scans to fail');
    const [first, second, stopped] = ids as [string, string, string];
    // The state a cancel during the run leaves: the job failed, its record cancelled.
    await t.database.db.update(scans).set({ status: 'cancelled', error: 'job cancelled: by user bulk-test' }).where(eq(scans.id, stopped));
    await fixPin(server);

    const res = await t.call('admin', { method: 'POST', url: '/api/queues/scan/retry-failed' });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().data).toEqual({ queue: 'scan', retried: 2, skipped: 1 });
    for (const id of [first, second]) {
      await waitUntil(async () => (await stateOf('scan', id)) === 'completed' && (await scanRow(id))?.status === 'completed', `scan ${id} to complete`);
      expect(await scanRow(id)).toMatchObject({ status: 'completed', attempts: 2, error: null });
    }
    expect(await stateOf('scan', stopped)).toBe('failed');
    expect(await scanRow(stopped)).toMatchObject({ status: 'cancelled', attempts: 1, error: 'job cancelled: by user bulk-test' });

    const again = await t.call('admin', { method: 'POST', url: '/api/queues/scan/retry-failed' });
    expect(again.json().data).toEqual({ queue: 'scan', retried: 0, skipped: 1 });
  });
});
