import { execFileSync } from 'node:child_process';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Job, QueueEvents } from 'bullmq';
import { parseEnv } from '@mm/config';
import { updates, type Server } from '@mm/db';
import { createProducer, createQueueEvents, type Producer, type UpdateOptions } from '@mm/jobs';
import { SshPool } from '@mm/ssh';
import { createTestDatabase, createTestRedis, insertTestServer, startTestSshd, type TestDatabase, type TestRedis, type TestSshd } from '@mm/testing';
import { runWorker, type RunningWorker } from '@mm/worker-runtime';
import { UpdateWorkerEnv } from '../src/env.js';
import { updateHandlers } from '../src/update-handlers.js';
import type { UpdateResult } from '../src/update-result.js';

// The test host is this machine: only dry runs, and a non-dry run that must be refused before it runs anything.

const CREDENTIALS_KEY = randomBytes(32).toString('hex');
const DPKG_STATUS = '/var/lib/dpkg/status';

let db: TestDatabase;
let redis: TestRedis;
let sshd: TestSshd;
let server: Server;
let worker: RunningWorker;
let producer: Producer;
let events: QueueEvents;
const progress = new Map<string, number[]>();

/** What must not change: the package database's mtime and the installed package list. */
function packageState(): { mtimeMs: number; dpkgList: string } {
  const list = execFileSync('dpkg', ['-l'], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  return { mtimeMs: statSync(DPKG_STATUS).mtimeMs, dpkgList: createHash('sha256').update(list).digest('hex') };
}

beforeAll(async () => {
  [db, redis, sshd] = await Promise.all([createTestDatabase(), createTestRedis(), startTestSshd()]);
  server = await insertTestServer(db.db, sshd, { credentialsKey: CREDENTIALS_KEY });
  const env = parseEnv(UpdateWorkerEnv, {
    NODE_ENV: 'test',
    LOG_LEVEL: 'silent',
    DATABASE_URL: db.url,
    REDIS_URL: redis.url,
    QUEUE_PREFIX: redis.prefix,
    CREDENTIALS_KEY,
    HEALTH_PORT: '0',
  });
  worker = await runWorker({ queue: 'update', env, concurrency: 1, handlers: updateHandlers });
  producer = createProducer({ connection: redis.url, prefix: redis.prefix });
  events = createQueueEvents('update', { connection: redis.url, prefix: redis.prefix });
  events.on('progress', ({ jobId, data }) => {
    if (typeof data === 'number') progress.set(jobId, [...(progress.get(jobId) ?? []), data]);
  });
  await events.waitUntilReady();
});

afterAll(async () => {
  await events?.close();
  await producer?.close();
  await worker?.close();
  await sshd?.stop();
  await redis?.cleanup();
  await db?.drop();
});

async function runUpdate(options: UpdateOptions): Promise<{ state: 'completed' | 'failed'; job: Job; error?: string }> {
  const job = await producer.enqueue('update:server', { serverId: server.id, updateId: randomUUID(), userId: null, options }, { backoff: { type: 'fixed', delay: 100 } });
  try {
    await job.waitUntilFinished(events);
  } catch (err) {
    return { state: 'failed', job: (await producer.queue('update').getJob(job.id!))!, error: (err as Error).message };
  }
  return { state: 'completed', job: (await producer.queue('update').getJob(job.id!))! };
}

const updateOf = async (id: string) => (await db.db.select().from(updates).where(eq(updates.id, id)))[0]!;
const logsOf = async (id: string) => (await producer.queue('update').getJobLogs(id, 0, -1)).logs;

/** The packages apt itself lists as upgradable from the current index on this machine. */
function localUpgradable(): string[] {
  const out = execFileSync('apt', ['list', '--upgradable'], { encoding: 'utf8', env: { LC_ALL: 'C', PATH: '/usr/sbin:/usr/bin:/sbin:/bin' }, stdio: ['ignore', 'pipe', 'ignore'] });
  return out.split('\n').flatMap((l) => (/\[upgradable from: /.test(l) ? [l.split('/')[0]!] : [])).sort();
}

describe('update:server dry run', () => {
  it('lists upgradable packages and what would change, changing nothing', async () => {
    const before = packageState();
    const { state, job, error } = await runUpdate({ dry_run: true });
    expect(error).toBeUndefined();
    expect(state).toBe('completed');
    expect(packageState()).toEqual(before);

    const record = await updateOf(job.id!);
    expect(record.status).toBe('completed');
    expect(record.dryRun).toBe(true);
    expect(record.packages).toBeNull();
    expect(record.rebootRequired).toBe(existsSync('/var/run/reboot-required'));
    const result = record.result as UpdateResult;
    expect(result.packageManager).toBe('apt');
    expect(result.dryRun).toBe(true);
    // mmtest is neither root nor a sudoer: the index stays as it is, and the result says so.
    expect(result.refreshed).toBe(false);
    expect(result.notes.some((n) => n.startsWith('package index not refreshed'))).toBe(true);
    expect(Array.isArray(result.upgradable)).toBe(true);
    expect(result.upgradable.map((p) => p.name).sort()).toEqual(localUpgradable());
    for (const p of result.upgradable) {
      expect(typeof p.candidate).toBe('string');
      expect(p.current).not.toBe(p.candidate);
    }
    const upgradableNames = new Set(result.upgradable.map((p) => p.name));
    for (const c of result.changed.filter((c) => c.from !== null)) expect(upgradableNames.has(c.name)).toBe(true);
    expect(result.rebootRequired).toBe(record.rebootRequired);

    expect(progress.get(job.id!)).toEqual([10, 20, 30, 40, 50, 60, 80, 90, 100]);
    const logs = await logsOf(job.id!);
    expect(logs).toContain('$ LC_ALL=C apt list --upgradable 2>/dev/null');
  });

  it('previews only the requested packages and notes the ones it cannot upgrade', async () => {
    const before = packageState();
    const { state, job } = await runUpdate({ dry_run: true, packages: ['mm-no-such-package'] });
    expect(state).toBe('completed');
    expect(packageState()).toEqual(before);
    const record = await updateOf(job.id!);
    expect(record.packages).toEqual(['mm-no-such-package']);
    const result = record.result as UpdateResult;
    expect(result.changed).toEqual([]);
    expect(result.notes).toContain('not upgradable (not installed or already current): mm-no-such-package');
  });
});

describe('update:server without dry run', () => {
  it('fails once with a clear message when the user is not root and sudo -n is refused', async () => {
    // Guard: this test must never reach an upgrade. If mmtest could sudo, stop here instead.
    const pool = new SshPool();
    try {
      const session = await pool.session(server.id, sshd);
      const sudo = await session.exec('sudo -n true');
      expect(sudo.code, 'mmtest must not have passwordless sudo on this machine').not.toBe(0);
    } finally {
      await pool.close();
    }
    const before = packageState();
    // A package that does not exist: even a mistaken run could not change anything.
    const { state, job, error } = await runUpdate({ dry_run: false, packages: ['mm-no-such-package'] });
    expect(state).toBe('failed');
    expect(job.attemptsMade).toBe(1);
    expect(error).toMatch(/needs root: connected as mmtest \(uid \d+\) and sudo/);
    expect(packageState()).toEqual(before);

    const record = await updateOf(job.id!);
    expect(record.status).toBe('failed');
    expect(record.error).toBe(error);
    expect(record.dryRun).toBe(false);
    // Refused before any package command ran.
    expect((await logsOf(job.id!)).filter((l) => l.startsWith('$ '))).toEqual([]);
  });
});
