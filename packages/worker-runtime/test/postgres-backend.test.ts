import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import pg from 'pg';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { parseEnv } from '@mm/config';
import { scans } from '@mm/db';
import {
  CANCEL_TOPIC,
  cancelMarkerKey,
  createProducer,
  createRelay,
  openQueueBackend,
  postgresKeyValueStore,
  postgresLeaseStore,
  PostgresServerJobIndex,
  ScanProgress,
  type Handlers,
  type Producer,
  type QueueBackend,
  type ScanPayload,
} from '@mm/jobs';
import { createTestDatabase, insertTestServer, startTestSshd, type TestDatabase, type TestSshd } from '@mm/testing';
import { runWorker, WorkerEnvSchema, type JobContext, type RunningWorker } from '../src/index.js';
import { ServerLeases } from '../src/server-lease.js';

/**
 * The PostgreSQL queue backend's CI pass (docs/ARCHITECTURE.md, "Queue backends"): a worker with QUEUE_BACKEND=postgres
 * and a REDIS_URL where nothing listens runs a real scan over the test sshd, takes a cancel through the Relay and the
 * marker table, and the stores behind leases, cancel markers / idempotency keys and the server job index keep their
 * Redis semantics.
 */
const CREDENTIALS_KEY = 'cd'.repeat(32);
const silent = pino({ level: 'silent' });

let testDb: TestDatabase;
let sshd: TestSshd;
let running: RunningWorker;
let backend: QueueBackend;
let producer: Producer;
let pool: pg.Pool;

const behaviours = new Map<string, (payload: ScanPayload, ctx: JobContext<'scan'>) => Promise<unknown>>();

async function realScan(payload: ScanPayload, ctx: JobContext<'scan'>): Promise<unknown> {
  await ctx.progress(ScanProgress.STARTED);
  const { server, target } = await ctx.loadServer(payload.serverId);
  const session = await ctx.connect(server, target);
  await ctx.record.start();
  const result = await session.exec('echo hello from $(whoami)', { onStdoutLine: (line) => void ctx.output(line) });
  const kernel = (await session.exec('uname -s')).stdout.trim();
  await ctx.record.complete({ online: true, latencyMs: 1, result: { kernel, code: result.code } });
  await ctx.progress(ScanProgress.DONE);
  return { kernel };
}

const handle = (payload: ScanPayload, ctx: JobContext<'scan'>) => (behaviours.get(payload.scanId) ?? realScan)(payload, ctx);
const testHandlers = { 'scan:full': handle, 'scan:quick': handle } as unknown as Handlers<'scan', JobContext<'scan'>>;

async function waitForState(id: string, state: 'completed' | 'failed') {
  await vi.waitFor(async () => expect(await producer.queue('scan').getJobState(id)).toBe(state), { timeout: 30_000, interval: 100 });
  const job = await producer.queue('scan').getJob(id);
  if (!job) throw new Error(`job ${id} vanished`);
  return job;
}

const recordOf = async (id: string) => (await testDb.db.select().from(scans).where(eq(scans.id, id)))[0];

beforeAll(async () => {
  [testDb, sshd] = await Promise.all([createTestDatabase(), startTestSshd()]);
  const env = parseEnv(WorkerEnvSchema, {
    NODE_ENV: 'test',
    LOG_LEVEL: 'silent',
    QUEUE_BACKEND: 'postgres',
    DATABASE_URL: testDb.url,
    // Nothing listens here: the worker must not need Redis at all.
    REDIS_URL: 'redis://127.0.0.1:1',
    SERVER_ALLOW_LOOPBACK: 'true',
    CREDENTIALS_KEY,
    HEALTH_PORT: '0',
    HEALTH_HOST: '127.0.0.1',
    SHUTDOWN_TIMEOUT_MS: '10000',
  });
  running = await runWorker({ queue: 'scan', env, concurrency: 2, handlers: testHandlers, log: silent });
  backend = openQueueBackend(env, 'producer');
  producer = createProducer({ ...backend.queueConfig, jobOptions: { backoff: { type: 'fixed', delay: 50 } } });
  pool = new pg.Pool({ connectionString: testDb.url, max: 2 });
}, 60_000);

afterAll(async () => {
  await running?.close();
  await producer?.close();
  await backend?.close();
  await pool?.end();
  await sshd?.stop();
  await testDb?.drop();
});

describe('worker on the PostgreSQL queue backend', () => {
  it('runs on PostgreSQL, not Redis', () => {
    expect(running.backend.kind).toBe('postgres');
    expect(running.backend.redis).toBeNull();
    expect(running.backend.describe()).toContain('queues on PostgreSQL');
  });

  it('runs a scan over SSH to a completed record, with its live log lines in BullMQ', async () => {
    const server = await insertTestServer(testDb.db, sshd, { credentialsKey: CREDENTIALS_KEY, hostKeyFingerprint: null });
    const scanId = randomUUID();
    await producer.enqueue('scan:full', { serverId: server.id, scanId, userId: null });
    const job = await waitForState(scanId, 'completed');
    expect(job.returnvalue).toEqual({ kernel: 'Linux' });
    expect(job.progress).toBe(100);
    expect(await recordOf(scanId)).toMatchObject({ id: scanId, serverId: server.id, status: 'completed', attempts: 1, result: { kernel: 'Linux', code: 0 } });
    expect((await producer.queue('scan').getJobLogs(scanId)).logs).toContain('hello from mmtest');
    // BullMQ's own tables hold the job, in the schema the switch names.
    const { rows } = await pool.query<{ n: string }>('SELECT count(*) AS n FROM bullmq.job WHERE id = $1', [scanId]);
    expect(Number(rows[0]?.n)).toBe(1);
  });

  it('a cancel published on the Relay reaches the worker holding the job', async () => {
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
    // What the API's canceller does: the marker first, then the message.
    await backend.kv.set(cancelMarkerKey(backend.prefix, scanId), 'operator cancelled', 60_000);
    const relay = createRelay({ ...backend.queueConfig, name: 'test-api' });
    try {
      await relay.publish(CANCEL_TOPIC, { jobId: scanId, reason: 'operator cancelled' });
      const job = await waitForState(scanId, 'failed');
      expect(job.attemptsMade).toBe(1);
      expect(job.failedReason).toBe('job cancelled: operator cancelled');
    } finally {
      await relay.close();
    }
    expect(await recordOf(scanId)).toMatchObject({ status: 'cancelled', error: 'job cancelled: operator cancelled' });
    // The worker cleared the marker of the job that ended cancelled.
    expect(await backend.kv.get(cancelMarkerKey(backend.prefix, scanId))).toBeNull();
  });

  it('a job whose cancel marker is set before it starts is aborted as its handler begins', async () => {
    const server = await insertTestServer(testDb.db, sshd, { credentialsKey: CREDENTIALS_KEY });
    const scanId = randomUUID();
    let abortedAtStart: boolean | undefined;
    behaviours.set(scanId, async (_payload, ctx) => {
      abortedAtStart = ctx.signal?.aborted;
      ctx.signal?.throwIfAborted();
      return {};
    });
    await backend.kv.set(cancelMarkerKey(backend.prefix, scanId), 'cancelled early', 60_000);
    await producer.enqueue('scan:full', { serverId: server.id, scanId, userId: null }, { attempts: 3 });
    const job = await waitForState(scanId, 'failed');
    expect(job.failedReason).toBe('job cancelled: cancelled early');
    expect(abortedAtStart).toBe(true);
    // The marker was consumed by the worker.
    expect(await backend.kv.get(cancelMarkerKey(backend.prefix, scanId))).toBeNull();
  });
});

describe('PostgreSQL stores', () => {
  it('leases are exclusive across two workers, re-taken by the same holder, and free after release or expiry', async () => {
    // Two pools stand for two worker processes.
    const other = new pg.Pool({ connectionString: testDb.url, max: 1 });
    try {
      const a = postgresLeaseStore(pool);
      const b = postgresLeaseStore(other);
      const server = randomUUID();
      expect(await a.acquire(server, 'job-a|t1', 30_000)).toBe('job-a|t1');
      expect(await b.acquire(server, 'job-b|t2', 30_000)).toBe('job-a|t1');
      expect(await a.acquire(server, 'job-a|t1', 30_000)).toBe('job-a|t1');
      expect(await b.renew(server, 'job-b|t2', 30_000)).toBe(false);
      await b.release(server, 'job-b|t2');
      expect(await b.acquire(server, 'job-b|t2', 30_000)).toBe('job-a|t1');
      await a.release(server, 'job-a|t1');
      expect(await b.acquire(server, 'job-b|t2', 200)).toBe('job-b|t2');
      // An expired lease passes to the next job, and its old holder can no longer renew it.
      await sleep(300);
      expect(await a.acquire(server, 'job-a|t3', 30_000)).toBe('job-a|t3');
      expect(await b.renew(server, 'job-b|t2', 30_000)).toBe(false);

      // Many workers racing for one server: exactly one wins.
      const race = randomUUID();
      const holders = await Promise.all(Array.from({ length: 8 }, (_, i) => (i % 2 ? a : b).acquire(race, `job-${i}|t`, 30_000)));
      const winners = holders.filter((h, i) => h === `job-${i}|t`);
      expect(winners).toHaveLength(1);
      expect(new Set(holders).size).toBe(1);
    } finally {
      await other.end();
    }
  });

  it('ServerLeases on the PostgreSQL store: a second job finds the server busy until the first releases', async () => {
    const leases = new ServerLeases(postgresLeaseStore(pool), { prefix: 'unused', leaseMs: 5_000, renewEveryMs: 1_000, log: silent });
    const server = randomUUID();
    const never = () => {
      throw new Error('lease reported lost');
    };
    const first = await leases.acquire(server, 'job-1', 'token-1', never);
    expect(first.acquired).toBe(true);
    expect(await leases.acquire(server, 'job-2', 'token-2', never)).toEqual({ acquired: false, holder: 'job-1' });
    if (first.acquired) await first.lease.release();
    const second = await leases.acquire(server, 'job-2', 'token-2', never);
    expect(second.acquired).toBe(true);
    if (second.acquired) await second.lease.release();
  });

  it('key-value store: set-if-absent, read, take once, expiry', async () => {
    const kv = postgresKeyValueStore(pool);
    const key = `k:${randomUUID()}`;
    expect(await kv.set(key, 'first', 60_000, { onlyIfAbsent: true })).toBe(true);
    expect(await kv.set(key, 'second', 60_000, { onlyIfAbsent: true })).toBe(false);
    expect(await kv.get(key)).toBe('first');
    expect(await kv.set(key, 'third', 60_000)).toBe(true);
    expect(await kv.take(key)).toBe('third');
    expect(await kv.take(key)).toBeNull();
    await kv.set(key, 'short', 100);
    await sleep(200);
    expect(await kv.get(key)).toBeNull();
    expect(await kv.take(key)).toBeNull();
    expect(await kv.set(key, 'after expiry', 60_000, { onlyIfAbsent: true })).toBe(true);
    await kv.delete(key);
    expect(await kv.get(key)).toBeNull();
  });

  it('server job index: newest first, paged, removable, dropped per server', async () => {
    const index = new PostgresServerJobIndex(pool);
    const server = randomUUID();
    const now = Date.now();
    await index.add(server, 'scan', 'a', now - 3_000);
    await index.add(server, 'backup', 'b', now - 2_000);
    await index.add(server, 'update', 'c', now - 1_000);
    await index.add(randomUUID(), 'scan', 'elsewhere', now);
    expect(await index.page(server, 0, 2)).toEqual([
      { queue: 'update', jobId: 'c', at: now - 1_000 },
      { queue: 'backup', jobId: 'b', at: now - 2_000 },
    ]);
    expect(await index.page(server, 2, 2)).toEqual([{ queue: 'scan', jobId: 'a', at: now - 3_000 }]);
    await index.remove(server, 'backup', 'b');
    expect((await index.page(server, 0, 10)).map((e) => e.jobId)).toEqual(['c', 'a']);
    await index.drop(server);
    expect(await index.page(server, 0, 10)).toEqual([]);
  });
});
