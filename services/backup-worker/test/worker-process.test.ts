import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { QueueEvents } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Backup, Server } from '@mm/db';
import { createProducer, createQueueEvents, type Producer } from '@mm/jobs';
import { createTestDatabase, createTestRedis, insertTestServer, quickTakeoverEnv, startTestSshd, type TestDatabase, type TestRedis, type TestSshd } from '@mm/testing';
import { filesUnder, listArchiveVerbose, run, sha256File, sizeOf, spawnWorker, tempDir, waitFor, type WorkerProcess } from './backup-test-kit.js';

// Big enough that a transfer is still running when the test interrupts it (it waits for bytes on disk first).
const BLOB_BYTES = 192 * 1024 * 1024;

const credentialsKey = randomBytes(32).toString('hex');
const encryptionKey = randomBytes(32).toString('hex');

let db: TestDatabase;
let redis: TestRedis;
let sshd: TestSshd;
let backupDir: string;
let producer: Producer;
let events: QueueEvents;
let server: Server;
const workers: WorkerProcess[] = [];

beforeAll(async () => {
  [db, redis, sshd] = await Promise.all([createTestDatabase(), createTestRedis(), startTestSshd()]);
  backupDir = await tempDir('mm-backup-store-');
  const source = join(sshd.workDir, 'big');
  await mkdir(source);
  // Sparse: costs no disk on the source side, yet tar reads and sends every byte.
  await run('truncate', ['-s', String(BLOB_BYTES), join(source, 'blob.bin')]);
  await run('chown', ['-R', 'mmtest:mmtest', source]);
  server = await insertTestServer(db.db, sshd, { credentialsKey, backupPaths: [source] });
  producer = createProducer({ connection: redis.url, prefix: redis.prefix });
  events = createQueueEvents('backup', { connection: redis.url, prefix: redis.prefix });
  await events.waitUntilReady();
});

afterAll(async () => {
  for (const w of workers) if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGKILL');
  await Promise.all(workers.map((w) => w.exited));
  await events?.close();
  await producer?.close();
  await sshd?.stop();
  await redis?.cleanup();
  await db?.drop();
  if (backupDir) await rm(backupDir, { recursive: true, force: true });
});

function startWorker(extra: Record<string, string> = {}): WorkerProcess {
  const worker = spawnWorker({
    NODE_ENV: 'test',
    LOG_LEVEL: 'info',
    DATABASE_URL: db.url,
    REDIS_URL: redis.url,
    // The test sshd listens on loopback, which workers refuse by default.
    SERVER_ALLOW_LOOPBACK: 'true',
    QUEUE_PREFIX: redis.prefix,
    CREDENTIALS_KEY: credentialsKey,
    BACKUP_ENCRYPTION_KEY: encryptionKey,
    BACKUP_DIR: backupDir,
    HEALTH_PORT: '0',
    // These tests are about archive files (repository-faults.test.ts covers the restic engine).
    BACKUP_ENGINE: 'archive',
    // A killed worker's job is taken over within seconds.
    ...quickTakeoverEnv,
    ...extra,
  });
  workers.push(worker);
  return worker;
}

async function enqueue(): Promise<{ backupId: string; partial: string; final: string }> {
  const backupId = randomUUID();
  await producer.enqueue('backup:manual', {
    serverId: server.id,
    backupId,
    userId: null,
    options: { backup_type: 'full', compression: false, encryption: false },
    isScheduled: false,
  });
  const final = join(backupDir, server.id, `${backupId}.tar`);
  return { backupId, partial: `${final}.partial`, final };
}

async function recordOf(id: string): Promise<Backup> {
  const row = await db.db.query.backups.findFirst({ where: (b, { eq }) => eq(b.id, id) });
  if (!row) throw new Error(`no backup record ${id}`);
  return row;
}

/** The stored archive is the whole blob, its record matches the file, and nothing else is left in the folder. */
async function expectStored(backupId: string, final: string): Promise<void> {
  const record = await recordOf(backupId);
  expect(record).toMatchObject({ status: 'completed', progress: 100, filePath: final });
  expect(record.sizeBytes).toBe((await stat(final)).size);
  expect(record.sha256).toBe(await sha256File(final));
  const members = (await listArchiveVerbose(final)).filter((line) => !line.endsWith('/'));
  expect(members).toHaveLength(1);
  expect(members[0]).toMatch(new RegExp(`\\s${BLOB_BYTES}\\s.*big/blob\\.bin$`));
}

describe('worker processes', () => {
  it('kill -9 in the middle of a backup: another worker finishes it after the stall and no partial remains', async () => {
    const first = startWorker();
    const { backupId, partial, final } = await enqueue();
    await waitFor(async () => (await sizeOf(partial)) > 8 * 1024 * 1024, 'the first worker to be writing the archive');
    first.child.kill('SIGKILL');
    expect((await first.exited).signal).toBe('SIGKILL');
    // The crash left its partial file behind and finished nothing.
    expect(existsSync(partial)).toBe(true);
    expect(existsSync(final)).toBe(false);
    expect((await recordOf(backupId)).status).toBe('running');

    const second = startWorker();
    const job = await producer.queue('backup').getJob(backupId);
    if (!job) throw new Error('job vanished');
    await job.waitUntilFinished(events);
    await expectStored(backupId, final);
    // The archive and its GNU tar snapshot file (issue #12), nothing partial.
    expect((await filesUnder(join(backupDir, server.id))).sort()).toEqual([`${backupId}.snar`, `${backupId}.tar`]);
    expect(second.output()).toContain('removed partial archives left by interrupted attempts');
    second.child.kill('SIGTERM');
    expect((await second.exited).code).toBe(0);
  });

  it('SIGTERM in the middle of a backup: the job completes, then the process exits 0', async () => {
    const worker = startWorker({ SHUTDOWN_TIMEOUT_MS: '120000' });
    const { backupId, partial, final } = await enqueue();
    await waitFor(async () => (await sizeOf(partial)) > 8 * 1024 * 1024, 'the worker to be writing the archive');
    worker.child.kill('SIGTERM');
    const exit = await worker.exited;
    expect(exit).toEqual({ code: 0, signal: null });
    // The signal arrived while the backup ran: shutdown began before the archive was stored.
    const log = worker.output();
    expect(log.indexOf('shutting down: finishing active jobs')).toBeGreaterThan(-1);
    expect(log.indexOf('backup stored')).toBeGreaterThan(log.indexOf('shutting down: finishing active jobs'));
    // Everything was done before the process left, not by someone else afterwards.
    expect(await producer.queue('backup').getJobState(backupId)).toBe('completed');
    await expectStored(backupId, final);
    expect(existsSync(partial)).toBe(false);
  });
});
