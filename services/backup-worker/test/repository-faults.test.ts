import { execFile } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { QueueEvents } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { retentionPolicies, type Backup, type Server } from '@mm/db';
import { createProducer, createQueueEvents, type Producer } from '@mm/jobs';
import { createTestDatabase, createTestRedis, ensureDebianPackage, insertTestServer, quickTakeoverEnv, startTestSshd, type TestDatabase, type TestRedis, type TestSshd } from '@mm/testing';
import type { CleanupResult } from '../src/handlers/cleanup.js';
import { plainResticEnv, run, spawnWorker, tempDir, waitFor, type WorkerProcess } from './backup-test-kit.js';

const exec = promisify(execFile);
// Sparse zeros: no disk on the source side, yet tar sends every byte and restic hashes it (several seconds).
const BLOB_BYTES = 2 * 1024 * 1024 * 1024;

const credentialsKey = randomBytes(32).toString('hex');
const password = randomBytes(12).toString('hex');
let db: TestDatabase;
let redis: TestRedis;
let sshd: TestSshd;
let backupDir: string;
let repositoryPath: string;
let producer: Producer;
let events: QueueEvents;
let server: Server;
const workers: WorkerProcess[] = [];

beforeAll(async () => {
  await ensureDebianPackage('/usr/bin/restic', 'restic');
  [db, redis, sshd] = await Promise.all([createTestDatabase(), createTestRedis(), startTestSshd()]);
  backupDir = await tempDir('mm-repo-faults-');
  repositoryPath = join(backupDir, 'repository');
  const source = join(sshd.workDir, 'big');
  await mkdir(source);
  await run('truncate', ['-s', String(BLOB_BYTES), join(source, 'blob.bin')]);
  await run('chown', ['-R', 'mmtest:mmtest', source]);
  server = await insertTestServer(db.db, sshd, { credentialsKey, name: 'big-1', backupPaths: [source] });
  producer = createProducer({ connection: redis.url, prefix: redis.prefix, jobOptions: { backoff: { type: 'fixed', delay: 200 } } });
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

function startWorker(): WorkerProcess {
  const worker = spawnWorker({
    NODE_ENV: 'test',
    LOG_LEVEL: 'info',
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    DATABASE_URL: db.url,
    REDIS_URL: redis.url,
    SERVER_ALLOW_LOOPBACK: 'true',
    QUEUE_PREFIX: redis.prefix,
    CREDENTIALS_KEY: credentialsKey,
    BACKUP_DIR: backupDir,
    BACKUP_REPOSITORY_PASSWORD: password,
    BACKUP_LOCK_WAIT_MS: '20000',
    HEALTH_PORT: '0',
    ...quickTakeoverEnv,
  });
  workers.push(worker);
  return worker;
}

async function recordOf(id: string): Promise<Backup> {
  const row = await db.db.query.backups.findFirst({ where: (b, { eq }) => eq(b.id, id) });
  if (!row) throw new Error(`no backup record ${id}`);
  return row;
}

async function snapshotsTagged(tag: string): Promise<{ id: string }[]> {
  const { stdout } = await exec('restic', ['--no-cache', 'snapshots', '--json', '--tag', tag], { env: plainResticEnv({ path: repositoryPath, password }) });
  return JSON.parse(stdout) as { id: string }[];
}

/** restic processes working on this repository (their command lines never hold the password: only flags). */
async function resticProcesses(): Promise<number[]> {
  const pids: number[] = [];
  for (const pid of await readdir('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    const environ = await readFile(`/proc/${pid}/environ`, 'utf8').catch(() => '');
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.includes('restic') && environ.includes(`RESTIC_REPOSITORY=${repositoryPath}\0`)) pids.push(Number(pid));
  }
  return pids;
}

describe('a worker killed mid-backup into a repository', () => {
  it('records no snapshot restic did not finish; the retry completes; the stale lock does not block the next prune', async () => {
    const first = startWorker();
    const backupId = randomUUID();
    await producer.enqueue('backup:manual', { serverId: server.id, backupId, userId: null, options: { backup_type: 'full', compression: true, encryption: true }, isScheduled: false });
    await waitFor(async () => ((await db.db.query.backups.findFirst({ where: (b, { eq }) => eq(b.id, backupId) }))?.progress ?? 0) > 40, 'the transfer to be under way');
    expect((await resticProcesses()).length).toBe(1);
    first.child.kill('SIGKILL');
    await first.exited;
    // restic died with the worker (pdeathsig): it did not take the closed stdin for the end of the tar.
    await waitFor(async () => (await resticProcesses()).length === 0, 'restic to die with its worker', 10_000);
    expect(await snapshotsTagged(`backup:${backupId}`)).toEqual([]);
    expect((await recordOf(backupId)).status).toBe('running');
    // The killed restic's lock is still there: nobody removed it.
    expect((await readdir(join(repositoryPath, 'locks'))).length).toBe(1);

    const second = startWorker();
    const job = await producer.queue('backup').getJob(backupId);
    if (!job) throw new Error('job vanished');
    await job.waitUntilFinished(events);
    const record = await recordOf(backupId);
    expect(record).toMatchObject({ status: 'completed', engine: 'restic', sizeBytes: record.bytesRead });
    const snapshots = await snapshotsTagged(`backup:${backupId}`);
    expect(snapshots.map((s) => s.id)).toEqual([record.snapshotId]);

    // Another backup while the stale lock is still there (backups take shared locks), then a cleanup whose prune
    // needs the exclusive lock: the dead process's lock is removed (its owner is provably gone), the live ones never.
    const secondId = randomUUID();
    const again = await producer.enqueue('backup:manual', { serverId: server.id, backupId: secondId, userId: null, options: { backup_type: 'full', compression: true, encryption: true }, isScheduled: false });
    await again.waitUntilFinished(events);
    expect((await recordOf(secondId)).status).toBe('completed');
    await db.db.insert(retentionPolicies).values({ serverId: server.id, keepLast: 1 });
    const cleanup = await producer.enqueue('backup:cleanup', { userId: null });
    const result = (await cleanup.waitUntilFinished(events)) as CleanupResult;
    expect(result.backups.map((b) => b.id)).toEqual([backupId]);
    expect(await readdir(join(repositoryPath, 'locks'))).toEqual([]);
    second.child.kill('SIGTERM');
    expect((await second.exited).code).toBe(0);
  }, 240_000);
});
