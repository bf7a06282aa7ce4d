import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { Writable } from 'node:stream';
import { promisify } from 'node:util';
import { pino } from 'pino';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { parseEnv } from '@mm/config';
import { createDatabase, scans, servers } from '@mm/db';
import { createProducer, ScanProgress, type Handlers, type Producer, type ScanPayload } from '@mm/jobs';
import { createTestDatabase, createTestRedis, insertTestServer, startTestSshd, type TestDatabase, type TestRedis, type TestSshd } from '@mm/testing';
import { runWorker, WorkerEnvSchema, type JobContext, type RunningWorker } from '../src/index.js';
import { startHealthServer } from '../src/health-server.js';
import { startTcpProxy } from './tcp-proxy.js';

const run = promisify(execFile);
const CREDENTIALS_KEY = 'ab'.repeat(32);

let testDb: TestDatabase;
let redis: TestRedis;
let sshd: TestSshd;
let producer: Producer;
let running: RunningWorker;

// What the worker logs, to check that nothing went wrong behind a passing job.
const logLines: { level: number; msg: string }[] = [];
const log = pino(
  { level: 'debug' },
  new Writable({
    write(chunk: Buffer, _enc, done) {
      logLines.push(JSON.parse(chunk.toString()) as { level: number; msg: string });
      done();
    },
  }),
);

/** Per-scan behaviour of the test handler; the default does a small real scan over SSH. */
const behaviours = new Map<string, (payload: ScanPayload, ctx: JobContext<'scan'>) => Promise<unknown>>();

async function realScan(payload: ScanPayload, ctx: JobContext<'scan'>): Promise<unknown> {
  await ctx.progress(ScanProgress.STARTED);
  const { server, target } = await ctx.loadServer(payload.serverId);
  const session = await ctx.connect(server, target);
  await ctx.progress(ScanProgress.SERVER_VERIFIED);
  await ctx.record.start();
  await ctx.progress(ScanProgress.RECORD_CREATED);
  // The remote prints a credential-looking line and the server's own key, which must not reach the job log.
  const result = await session.exec('echo hello from $(whoami); echo password=hunter2; cat', {
    stdin: sshd.privateKey,
    onStdoutLine: (line) => void ctx.output(line),
  });
  await ctx.progress(ScanProgress.EXECUTION_FINISHED);
  const kernel = (await session.exec('uname -s')).stdout.trim();
  await ctx.record.complete({ online: true, latencyMs: 1, result: { kernel, code: result.code } });
  await ctx.progress(ScanProgress.DONE);
  return { kernel };
}

async function handle(payload: ScanPayload, ctx: JobContext<'scan'>) {
  return (behaviours.get(payload.scanId) ?? realScan)(payload, ctx);
}
// One test double for both names: its result is no full scan's, so it raises no events.
const testHandlers = { 'scan:full': handle, 'scan:quick': handle } as unknown as Handlers<'scan', JobContext<'scan'>>;

async function waitForState(id: string, state: 'completed' | 'failed') {
  await vi.waitFor(async () => expect(await producer.queue('scan').getJobState(id)).toBe(state), { timeout: 30_000, interval: 100 });
  const job = await producer.queue('scan').getJob(id);
  if (!job) throw new Error(`job ${id} vanished`);
  return job;
}

async function recordOf(id: string) {
  const [row] = await testDb.db.select().from(scans).where(eq(scans.id, id));
  return row;
}

beforeAll(async () => {
  [testDb, redis, sshd] = await Promise.all([createTestDatabase(), createTestRedis(), startTestSshd()]);
  const env = parseEnv(WorkerEnvSchema, {
    NODE_ENV: 'test',
    LOG_LEVEL: 'silent',
    DATABASE_URL: testDb.url,
    REDIS_URL: redis.url,
    // The test sshd listens on loopback, which workers refuse by default.
    SERVER_ALLOW_LOOPBACK: 'true',
    QUEUE_PREFIX: redis.prefix,
    CREDENTIALS_KEY,
    HEALTH_PORT: '0',
    HEALTH_HOST: '127.0.0.1',
    SHUTDOWN_TIMEOUT_MS: '10000',
  });
  running = await runWorker({ queue: 'scan', env, concurrency: 2, handlers: testHandlers, log });
  producer = createProducer({ connection: redis.url, prefix: redis.prefix, jobOptions: { backoff: { type: 'fixed', delay: 50 } } });
});

afterAll(async () => {
  await running?.close();
  await producer?.close();
  await redis?.cleanup();
  await sshd?.stop();
  await testDb?.drop();
});

describe('job lifecycle', () => {
  it('runs a scan over SSH: progress, record from running to completed, TOFU pin, redacted job log', async () => {
    const server = await insertTestServer(testDb.db, sshd, { credentialsKey: CREDENTIALS_KEY, hostKeyFingerprint: null });
    const scanId = randomUUID();
    await producer.enqueue('scan:full', { serverId: server.id, scanId, userId: null });
    const job = await waitForState(scanId, 'completed');

    expect(job.returnvalue).toEqual({ kernel: 'Linux' });
    expect(job.progress).toBe(100);
    const record = await recordOf(scanId);
    expect(record).toMatchObject({
      id: scanId,
      serverId: server.id,
      status: 'completed',
      progress: 100,
      attempts: 1,
      scanType: 'full',
      online: true,
      error: null,
      result: { kernel: 'Linux', code: 0 },
    });
    expect(record?.startedAt).toBeInstanceOf(Date);
    expect(record?.finishedAt).toBeInstanceOf(Date);

    const [pinned] = await testDb.db.select({ fp: servers.hostKeyFingerprint }).from(servers).where(eq(servers.id, server.id));
    expect(pinned?.fp).toBe(sshd.hostKeyFingerprint);

    const { logs } = await producer.queue('scan').getJobLogs(scanId);
    expect(logs[0]).toBe('hello from mmtest');
    expect(logs).toContain('password=[redacted]');
    const all = logs.join('\n');
    expect(all).not.toContain('hunter2');
    expect(all).toContain('[redacted private key]');
    expect(all).not.toContain(sshd.privateKey.split('\n')[1]);
  });

  it('never moves a finished record back: a failure after completion leaves it completed', async () => {
    const server = await insertTestServer(testDb.db, sshd, { credentialsKey: CREDENTIALS_KEY });
    const scanId = randomUUID();
    behaviours.set(scanId, async (payload, ctx) => {
      await ctx.record.start();
      await ctx.record.complete({ online: true, result: { ok: true } });
      // A late write from the same job: progress, an update and then the runtime's failure write.
      await ctx.progress(55);
      await ctx.record.update({ online: false });
      await ctx.record.start();
      throw new Error(`late failure for ${payload.scanId}`);
    });
    await producer.enqueue('scan:quick', { serverId: server.id, scanId, userId: null }, { attempts: 1 });
    const job = await waitForState(scanId, 'failed');
    expect(job.failedReason).toBe(`late failure for ${scanId}`);
    expect(await recordOf(scanId)).toMatchObject({ status: 'completed', progress: 100, online: true, error: null, result: { ok: true }, scanType: 'quick' });
  });

  it('stores the reason on the last failed attempt of a retryable error (connection refused)', async () => {
    // Registered at port 1 (credentials sealed for it): moving the port under them afterwards would fail to decrypt instead.
    const server = await insertTestServer(testDb.db, { ...sshd, port: 1 }, { credentialsKey: CREDENTIALS_KEY });
    const scanId = randomUUID();
    await producer.enqueue('scan:full', { serverId: server.id, scanId, userId: null }, { attempts: 2 });
    const job = await waitForState(scanId, 'failed');
    expect(job.attemptsMade).toBe(2);
    expect(job.failedReason).toContain('ECONNREFUSED');
    const record = await recordOf(scanId);
    expect(record).toMatchObject({ status: 'failed', attempts: 2, scanType: 'full' });
    expect(record?.error).toContain('ECONNREFUSED');
    expect(record?.finishedAt).toBeInstanceOf(Date);
  });

  it('keeps the record when the requesting user was deleted after enqueueing', async () => {
    const server = await insertTestServer(testDb.db, sshd, { credentialsKey: CREDENTIALS_KEY });
    const scanId = randomUUID();
    await producer.enqueue('scan:quick', { serverId: server.id, scanId, userId: randomUUID() });
    await waitForState(scanId, 'completed');
    expect(await recordOf(scanId)).toMatchObject({ status: 'completed', requestedBy: null, scanType: 'quick' });
  });
});

describe('cancellation', () => {
  it('cancelJob aborts the remote command, kills it, and marks the record cancelled without retry', async () => {
    const server = await insertTestServer(testDb.db, sshd, { credentialsKey: CREDENTIALS_KEY });
    const scanId = randomUUID();
    const seconds = 100_000 + Math.floor(Math.random() * 800_000);
    behaviours.set(scanId, async (payload, ctx) => {
      const { server: row, target } = await ctx.loadServer(payload.serverId);
      const session = await ctx.connect(row, target);
      await ctx.record.start();
      return session.exec(`echo started; sleep ${seconds}`, { signal: ctx.signal, timeoutMs: 0, onStdoutLine: (line) => void ctx.output(line) });
    });
    await producer.enqueue('scan:full', { serverId: server.id, scanId, userId: null }, { attempts: 3 });
    await vi.waitFor(async () => expect((await producer.queue('scan').getJobLogs(scanId)).logs).toContain('started'), { timeout: 30_000, interval: 100 });
    expect(running.worker.cancelJob(scanId, 'operator cancelled')).toBe(true);
    const job = await waitForState(scanId, 'failed');
    expect(job.attemptsMade).toBe(1);
    expect(job.failedReason).toBe('job cancelled: operator cancelled');
    expect(await recordOf(scanId)).toMatchObject({ status: 'cancelled', attempts: 1, error: 'job cancelled: operator cancelled' });
    const { stdout } = await run('pgrep', ['-c', '-u', 'mmtest', '-f', `sleep ${seconds}`]).catch((err: { stdout: string }) => err);
    expect(stdout.trim()).toBe('0');
  });
});

describe('errors that must not be retried', () => {
  it('an invalid payload fails once and leaves the record untouched', async () => {
    const scanId = randomUUID();
    await producer.queue('scan').add('scan:full', { serverId: 'not-a-uuid', scanId, userId: null }, { jobId: scanId, attempts: 3 });
    const job = await waitForState(scanId, 'failed');
    expect(job.attemptsMade).toBe(1);
    expect(job.failedReason).toMatch(/invalid payload for scan:full: \/serverId/);
    expect(await recordOf(scanId)).toBeUndefined();
  });

  it('a deleted server is UnrecoverableError with a clear reason', async () => {
    const server = await insertTestServer(testDb.db, sshd, { credentialsKey: CREDENTIALS_KEY });
    const scanId = randomUUID();
    await producer.enqueue('scan:full', { serverId: server.id, scanId, userId: null }, { attempts: 3, delay: 200 });
    await testDb.db.delete(servers).where(eq(servers.id, server.id));
    const job = await waitForState(scanId, 'failed');
    expect(job.attemptsMade).toBe(1);
    expect(job.failedReason).toBe(`server ${server.id} no longer exists`);
    expect(await recordOf(scanId)).toBeUndefined();
    expect(logLines.filter((l) => l.msg === 'could not record the failure')).toEqual([]);
  });

  it('an authentication failure is not retried and is recorded as the failure reason', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mm-runtime-test-'));
    try {
      await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'other')]);
      const otherKey = await readFile(join(dir, 'other'), 'utf8');
      const server = await insertTestServer(testDb.db, sshd, { credentialsKey: CREDENTIALS_KEY, credentials: { type: 'key', privateKey: otherKey } });
      const scanId = randomUUID();
      await producer.enqueue('scan:full', { serverId: server.id, scanId, userId: null }, { attempts: 3 });
      const job = await waitForState(scanId, 'failed');
      expect(job.attemptsMade).toBe(1);
      expect(job.failedReason).toBe(`authentication failed for mmtest@${sshd.host}:${sshd.port}`);
      expect(await recordOf(scanId)).toMatchObject({ status: 'failed', attempts: 1, error: job.failedReason });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('health probe and shutdown', () => {
  it('GET /health answers 200 with both dependencies up', async () => {
    const res = await fetch(`http://127.0.0.1:${running.healthPort}/health`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok', redis: 'up', database: 'up' });
    expect((await fetch(`http://127.0.0.1:${running.healthPort}/nope`)).status).toBe(404);
  });

  it('answers 503 naming a database that does not answer', async () => {
    // A real client pointed at a port where nothing listens.
    const deadDb = createDatabase('postgres://postgres@127.0.0.1:1/none', { max: 1, connectTimeout: 1 });
    const probe = await startHealthServer({ host: '127.0.0.1', port: 0, timeoutMs: 1_500, checks: { redis: () => redis.redis.ping(), database: () => deadDb.sql`select 1` } });
    try {
      const res = await fetch(`http://127.0.0.1:${probe.port}/health`);
      expect(res.status).toBe(503);
      expect(await res.json()).toEqual({ status: 'error', redis: 'up', database: 'down', down: ['database'] });
    } finally {
      await probe.close();
      await deadDb.close();
    }
  });

  it('reports Redis down, and close() is idempotent and does not hang without Redis', async () => {
    const target = new URL(redis.url);
    const proxy = await startTcpProxy(Number(target.port || 6379), target.hostname);
    const env = parseEnv(WorkerEnvSchema, {
      NODE_ENV: 'test',
      DATABASE_URL: testDb.url,
      REDIS_URL: `redis://127.0.0.1:${proxy.port}`,
      QUEUE_PREFIX: redis.prefix,
      CREDENTIALS_KEY,
      HEALTH_PORT: '0',
      HEALTH_HOST: '127.0.0.1',
    });
    const second = await runWorker({ queue: 'scan', env, concurrency: 1, handlers: testHandlers, log: log.child({ worker: 'second' }) });
    const url = `http://127.0.0.1:${second.healthPort}/health`;
    expect((await fetch(url)).status).toBe(200);

    await proxy.cut();
    await vi.waitFor(
      async () => {
        const res = await fetch(url);
        expect(res.status).toBe(503);
        expect(await res.json()).toEqual({ status: 'error', redis: 'down', database: 'up', down: ['redis'] });
      },
      { timeout: 15_000, interval: 200 },
    );

    await Promise.all([second.close(), second.close()]);
    await second.close();
    await expect(fetch(url)).rejects.toThrow();
    expect(logLines.filter((l) => l.msg === 'worker closed').length).toBeGreaterThanOrEqual(1);
  });
});
