import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backups, jobLogs, restores, servers } from '@mm/db';
import { backupSchedulerId } from '@mm/jobs';
import { ResticRepository, type ResticTarget } from '@mm/restic';
import { ensureDebianPackage } from '@mm/testing';
import { runWorker, type RunningWorker } from '@mm/worker-runtime';
import { backupHandlers, parseBackupWorkerEnv } from '@mm/backup-worker/test-kit';
import { createServer, createTestApp, type TestApp } from './helpers/test-app.js';
import { waitUntil, workerEnvOf } from './helpers/throwaway-worker.js';

// DELETE /api/servers/:id with backups (issue #12): refused unless ?deleteBackups=true, which removes the files too.
let t: TestApp;
let dir: string;
let backupDir: string;
let worker: RunningWorker;
let repository: ResticTarget;
let restic: ResticRepository;

beforeAll(async () => {
  await ensureDebianPackage('/usr/bin/restic', 'restic');
  t = await createTestApp();
  dir = await mkdtemp(join(tmpdir(), 'mm-server-delete-'));
  backupDir = join(dir, 'backups');
  await mkdir(backupDir);
  repository = { name: 'default', location: { type: 'local', path: join(dir, 'repo') }, password: 'the-default-repository-password' };
  const resticOptions = { cacheDir: join(dir, 'restic-cache'), lockWaitMs: 5_000, lockRetryDelayMs: 200 };
  restic = new ResticRepository(repository, resticOptions);
  await restic.initOrOpen();
  const env = parseBackupWorkerEnv(workerEnvOf(t, { BACKUP_DIR: backupDir }));
  worker = await runWorker({
    queue: 'backup',
    env,
    concurrency: 1,
    handlers: backupHandlers({
      backupDir,
      encryptionKey: env.BACKUP_ENCRYPTION_KEY,
      repository,
      restic: resticOptions,
      queues: env,
    }),
  });
});

afterAll(async () => {
  await worker?.close();
  await restic?.close();
  await t?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** A completed archive backup as the worker leaves it: the file under BACKUP_DIR/<server id>/ and its record. */
async function archiveBackup(serverId: string): Promise<{ id: string; path: string }> {
  const id = randomUUID();
  await mkdir(join(backupDir, serverId), { recursive: true });
  const path = join(backupDir, serverId, `${id}.tar.gz`);
  await writeFile(path, `archive ${id}`);
  await t.database.db.insert(backups).values({ id, serverId, status: 'completed', backupType: 'full', startedAt: new Date(), finishedAt: new Date(), filePath: path, sizeBytes: 20 });
  return { id, path };
}

/** A completed repository backup: a snapshot tagged as the worker tags it (server:<id>, backup:<id>) and its record. */
async function resticBackup(serverId: string): Promise<{ id: string; snapshotId: string }> {
  const id = randomUUID();
  const summary = await restic.backupStdin({ source: () => Readable.from([Buffer.from(`data of ${id}`)]), filename: `${id}.tar`, host: 'test-host', tags: [`server:${serverId}`, `backup:${id}`], compression: true });
  await t.database.db.insert(backups).values({ id, serverId, status: 'completed', engine: 'restic', storageTargetId: null, snapshotId: summary.snapshotId, sizeBytes: summary.bytesRead });
  return { id, snapshotId: summary.snapshotId };
}

const backupsOf = async (serverId: string) => (await t.database.db.select({ id: backups.id }).from(backups).where(eq(backups.serverId, serverId))).map((r) => r.id);
const serverExists = async (serverId: string) => (await t.database.db.select({ id: servers.id }).from(servers).where(eq(servers.id, serverId))).length === 1;
const snapshotsOf = async (serverId: string) => (await restic.snapshots({ tags: [`server:${serverId}`] })).map((s) => s.id);
const backupJobCount = async () => Object.values(await t.app.producer.queue('backup').getJobCounts()).reduce((a, b) => a + b, 0);

async function finished(jobId: string): Promise<{ state: string; result: Record<string, unknown> }> {
  await waitUntil(async () => ['completed', 'failed'].includes(await t.app.producer.queue('backup').getJobState(jobId)), 'the purge job', 60_000);
  const view = await t.call('viewer', { method: 'GET', url: `/api/jobs/${jobId}` });
  return view.json().data;
}

describe('DELETE /api/servers/:id with backups', () => {
  it('is refused (409) while the server has a backup, naming the count and ?deleteBackups=true; nothing changes, nothing is enqueued', async () => {
    const serverId = await createServer(t, { name: 'has-a-backup' });
    const b = await archiveBackup(serverId);
    const jobsBefore = await backupJobCount();

    const res = await t.call('operator', { method: 'DELETE', url: `/api/servers/${serverId}` });
    expect(res.statusCode, res.body).toBe(409);
    const error = res.json().error;
    expect(error.code).toBe('CONFLICT');
    expect(error.message).toContain('has 1 backup;');
    expect(error.message).toContain('?deleteBackups=true');
    expect(error.details).toEqual([{ path: '/deleteBackups', message: '1 backup would be deleted' }]);

    const bad = await t.call('operator', { method: 'DELETE', url: `/api/servers/${serverId}?deleteBackups=maybe` });
    expect(bad.statusCode, bad.body).toBe(400);
    expect(bad.json().error.code).toBe('VALIDATION_ERROR');
    expect((await t.call('viewer', { method: 'DELETE', url: `/api/servers/${serverId}?deleteBackups=true` })).statusCode).toBe(403);
    // Explicitly false is the plain delete: refused the same way.
    expect((await t.call('operator', { method: 'DELETE', url: `/api/servers/${serverId}?deleteBackups=false` })).statusCode).toBe(409);

    expect(await serverExists(serverId)).toBe(true);
    expect(await backupsOf(serverId)).toEqual([b.id]);
    expect(existsSync(b.path)).toBe(true);
    expect(await backupJobCount()).toBe(jobsBefore);
  });

  it('?deleteBackups=true: 202, then the job deletes the archive files, the records, their job logs, the schedules\' job schedulers and the server', async () => {
    const serverId = await createServer(t, { name: 'archive-purge' });
    const b = await archiveBackup(serverId);
    // A partial left by a killed attempt, and a file whose record is already gone: both are the server's, both go.
    const partial = join(backupDir, serverId, `${randomUUID()}.tar.gz.partial`);
    const orphan = join(backupDir, serverId, `${randomUUID()}.tar.gz`);
    await writeFile(partial, 'half');
    await writeFile(orphan, 'no record');
    await t.database.db.insert(jobLogs).values({ jobId: b.id, queue: 'backup', seq: 1, kind: 'output', line: 'a line of the backup' });
    const schedule = await t.call('operator', { method: 'POST', url: `/api/servers/${serverId}/backup-schedules`, payload: { cron: '0 2 * * *', options: { backup_type: 'full', compression: true, encryption: false } } });
    expect(schedule.statusCode, schedule.body).toBe(201);
    const scheduleId = schedule.json().data.id as string;
    expect(await t.app.producer.queue('backup').getJobScheduler(backupSchedulerId(scheduleId))).toBeTruthy();
    // Another server's archive in the same folder is not touched.
    const other = await createServer(t, { name: 'bystander' });
    const kept = await archiveBackup(other);

    const res = await t.call('operator', { method: 'DELETE', url: `/api/servers/${serverId}?deleteBackups=true` });
    expect(res.statusCode, res.body).toBe(202);
    const data = res.json().data;
    expect(data).toEqual({ id: serverId, deleting: true, jobId: expect.any(String) });

    const job = await finished(data.jobId);
    expect(job.state, JSON.stringify(job)).toBe('completed');
    expect(job.result).toEqual({ serverId, backups: 1, archiveFiles: 3, snapshots: {}, leftAlone: [], serverDeleted: true });
    expect(existsSync(b.path)).toBe(false);
    expect(existsSync(partial)).toBe(false);
    expect(existsSync(orphan)).toBe(false);
    expect(await backupsOf(serverId)).toEqual([]);
    expect(await t.database.db.select().from(jobLogs).where(eq(jobLogs.jobId, b.id))).toEqual([]);
    expect(await serverExists(serverId)).toBe(false);
    expect((await t.call('viewer', { method: 'GET', url: `/api/servers/${serverId}` })).statusCode).toBe(404);
    expect(await t.app.producer.queue('backup').getJobScheduler(backupSchedulerId(scheduleId))).toBeFalsy();

    expect(existsSync(kept.path)).toBe(true);
    expect(await backupsOf(other)).toEqual([kept.id]);
  });

  it('?deleteBackups=true forgets the server\'s restic snapshots by its server tag, and only those', async () => {
    const serverId = await createServer(t, { name: 'restic-purge' });
    const b = await resticBackup(serverId);
    const other = await createServer(t, { name: 'restic-bystander' });
    const kept = await resticBackup(other);
    expect(await snapshotsOf(serverId)).toEqual([b.snapshotId]);

    const refused = await t.call('operator', { method: 'DELETE', url: `/api/servers/${serverId}` });
    expect(refused.statusCode, refused.body).toBe(409);
    expect(await snapshotsOf(serverId)).toEqual([b.snapshotId]);

    const res = await t.call('operator', { method: 'DELETE', url: `/api/servers/${serverId}?deleteBackups=true` });
    expect(res.statusCode, res.body).toBe(202);
    const job = await finished(res.json().data.jobId);
    expect(job.state, JSON.stringify(job)).toBe('completed');
    expect(job.result).toMatchObject({ backups: 1, snapshots: { default: 1 }, serverDeleted: true });
    expect(await snapshotsOf(serverId)).toEqual([]);
    expect(await backupsOf(serverId)).toEqual([]);
    expect(await serverExists(serverId)).toBe(false);

    expect(await snapshotsOf(other)).toEqual([kept.snapshotId]);
    expect(await backupsOf(other)).toEqual([kept.id]);
  });

  it('waits while a restore onto another server reads one of its backups: the attempt fails, nothing is deleted', async () => {
    const serverId = await createServer(t, { name: 'being-restored-from' });
    const b = await archiveBackup(serverId);
    const target = await createServer(t, { name: 'restore-target' });
    const restoreId = randomUUID();
    await t.database.db.insert(restores).values({ id: restoreId, serverId: target, status: 'running', backupId: b.id, chain: [b.id], targetPath: '/srv/restore' });

    const res = await t.call('operator', { method: 'DELETE', url: `/api/servers/${serverId}?deleteBackups=true` });
    expect(res.statusCode, res.body).toBe(202);
    const jobId = res.json().data.jobId as string;
    const queue = t.app.producer.queue('backup');
    await waitUntil(async () => ((await queue.getJob(jobId))?.attemptsMade ?? 0) >= 1, 'the first purge attempt', 30_000);
    const job = await queue.getJob(jobId);
    expect(job?.failedReason).toContain(`restore ${restoreId} is reading a backup of server ${serverId}`);
    expect(await serverExists(serverId)).toBe(true);
    expect(await backupsOf(serverId)).toEqual([b.id]);
    expect(existsSync(b.path)).toBe(true);
    // Its retries fail the same way while the restore is running; removing it keeps the queue quiet (an active retry may hold its lock).
    await job?.remove().catch(() => undefined);
  });

  it('a server without backups is still deleted at once (200), with or without the option', async () => {
    for (const query of ['', '?deleteBackups=true']) {
      const serverId = await createServer(t, { name: `empty${query ? '-opt' : ''}` });
      const res = await t.call('operator', { method: 'DELETE', url: `/api/servers/${serverId}${query}` });
      expect(res.statusCode, res.body).toBe(200);
      expect(res.json().data).toEqual({ id: serverId, deleted: true });
      expect(await serverExists(serverId)).toBe(false);
    }
  });
});
