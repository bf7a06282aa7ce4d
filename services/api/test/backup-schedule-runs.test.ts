import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { execFile } from 'node:child_process';
import { eq } from 'drizzle-orm';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backups } from '@mm/db';
import { backupSchedulerId, recordIdOf } from '@mm/jobs';
import { startTestSshd, TEST_SSH_USER, type TestSshd } from '@mm/testing';
import { runWorker, type RunningWorker } from '@mm/worker-runtime';
import { backupHandlers, parseBackupWorkerEnv } from '@mm/backup-worker/test-kit';
import { buildApp } from '../src/app.js';
import { createTestApp, type TestApp } from './helpers/test-app.js';
import { waitUntil, workerEnvOf } from './helpers/throwaway-worker.js';

// A schedule every 2 s, served by a real backup worker over a loopback sshd, while two API processes (each with its
// reconciler running every second) share one Redis and one of them restarts: every run time gives one backup.

const PERIOD_MS = 2_000;
let t: TestApp;
let sshd: TestSshd;
let backupDir: string;
let worker: RunningWorker;
const apps: FastifyInstance[] = [];

beforeAll(async () => {
  [t, sshd] = await Promise.all([createTestApp({ SCHEDULE_MIN_INTERVAL_S: '2', SCHEDULE_RECONCILE_INTERVAL_MS: '1000' }), startTestSshd()]);
  backupDir = await mkdtemp(join(tmpdir(), 'mm-schedule-runs-'));
  const source = join(sshd.workDir, 'schedule-source');
  await mkdir(source, { recursive: true });
  await writeFile(join(source, 'a.txt'), 'scheduled backup fixture\n');
  await promisify(execFile)('chown', ['-R', `${TEST_SSH_USER}:${TEST_SSH_USER}`, source]);
  const env = parseBackupWorkerEnv(workerEnvOf(t, {
    BACKUP_DIR: backupDir,
  }));
  worker = await runWorker({
    queue: 'backup',
    env,
    concurrency: 2,
    handlers: backupHandlers({ backupDir, encryptionKey: env.BACKUP_ENCRYPTION_KEY, queues: env }),
  });
});

afterAll(async () => {
  await worker?.close();
  for (const app of apps) await app.close();
  await sshd?.stop();
  await t?.close();
  if (backupDir) await rm(backupDir, { recursive: true, force: true });
});

async function secondApi(): Promise<FastifyInstance> {
  const app = await buildApp({ env: t.env, logger: false });
  await app.ready();
  apps.push(app);
  return app;
}

const scheduledRecords = async () => (await t.database.db.select().from(backups).where(eq(backups.isScheduled, true))).filter((b) => b.status === 'completed');

describe('scheduled backups across API processes and restarts', () => {
  it('produce one completed backup per run time: no duplicates, no gap beyond one period', async () => {
    const created = await t.call('operator', {
      method: 'POST',
      url: '/api/servers',
      payload: {
        name: 'scheduled',
        host: sshd.host,
        port: sshd.port,
        username: sshd.username,
        auth: { type: 'key', privateKey: sshd.privateKey },
        hostKeyFingerprint: sshd.hostKeyFingerprint,
        backupPaths: [join(sshd.workDir, 'schedule-source')],
      },
    });
    expect(created.statusCode, created.body).toBe(201);
    const serverId = created.json().data.id as string;

    const second = await secondApi();
    const res = await t.call('operator', {
      method: 'POST',
      url: `/api/servers/${serverId}/backup-schedules`,
      payload: { cron: '*/2 * * * * *', options: { backup_type: 'full', compression: true, encryption: false } },
    });
    expect(res.statusCode, res.body).toBe(201);
    const scheduleId = res.json().data.id as string;

    await waitUntil(async () => (await scheduledRecords()).length >= 2, 'two scheduled backups', 30_000);
    // Restart: the first API process goes away, a new one (a fresh reconciler) comes up; the second keeps running.
    await t.app.close();
    const restarted = await secondApi();
    const atRestart = (await scheduledRecords()).length;
    await waitUntil(async () => (await scheduledRecords()).length >= atRestart + 3, 'three more scheduled backups', 40_000);

    const del = await restarted.inject({
      method: 'DELETE',
      url: `/api/servers/${serverId}/backup-schedules/${scheduleId}`,
      headers: { authorization: `Bearer ${t.tokens.operator}` },
    });
    expect(del.statusCode, del.body).toBe(200);
    // Let runs that had already started finish.
    await waitUntil(async () => (await second.producer.queue('backup').getActiveCount()) === 0, 'active runs to finish', 30_000);

    const jobs = await second.producer.queue('backup').getJobs(['completed']);
    const runs = jobs.filter((j) => j.name === 'backup:scheduled');
    const prefix = `repeat:${backupSchedulerId(scheduleId)}:`;
    for (const j of runs) expect(j.id?.startsWith(prefix)).toBe(true);
    const millis = runs.map((j) => Number(j.id!.slice(prefix.length))).sort((a, b) => a - b);
    expect(new Set(millis).size).toBe(millis.length);
    for (const m of millis) expect(m % PERIOD_MS).toBe(0);
    for (let i = 1; i < millis.length; i++) expect(millis[i]! - millis[i - 1]!).toBeLessThanOrEqual(2 * PERIOD_MS);

    // One completed, scheduled backup record per run, with the record id derived from the run's job id.
    const records = await scheduledRecords();
    expect(records.length).toBe(runs.length);
    expect(new Set(records.map((r) => r.id))).toEqual(new Set(runs.map((j) => recordIdOf('backup:scheduled', j.data, j.id!))));
    expect(records.every((r) => r.serverId === serverId && r.filePath !== null && r.sizeBytes! > 0)).toBe(true);

    // The record and job routes find a scheduled backup by its record id and by its job id.
    const auth = { authorization: `Bearer ${t.tokens.viewer}` };
    const record = await second.inject({ method: 'GET', url: `/api/backups/${records[0]!.id}`, headers: auth });
    expect(record.statusCode, record.body).toBe(200);
    expect(record.json().data).toMatchObject({ id: records[0]!.id, status: 'completed' });
    const job = await second.inject({ method: 'GET', url: `/api/jobs/${encodeURIComponent(runs[0]!.id!)}`, headers: auth });
    expect(job.statusCode, job.body).toBe(200);
    expect(job.json().data).toMatchObject({ state: 'completed', name: 'backup:scheduled', serverId });

    // The worker indexed each run under its server (no producer call announced them): the server's job list has them all.
    const listed = await second.inject({ method: 'GET', url: `/api/jobs?serverId=${serverId}&limit=100`, headers: auth });
    expect(listed.statusCode, listed.body).toBe(200);
    const listedIds = new Set((listed.json().data as { id: string }[]).map((j) => j.id));
    for (const run of runs) expect(listedIds.has(run.id!), run.id).toBe(true);
  });
});
