import { execFileSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer } from 'node:net';
import { cpus, release, totalmem } from 'node:os';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Job, QueueEvents } from 'bullmq';
import { parseEnv } from '@mm/config';
import { scans, servers, type Server } from '@mm/db';
import { createProducer, createQueueEvents, type EnqueueOptions, type Producer } from '@mm/jobs';
import { createTestDatabase, createTestRedis, insertTestServer, startTestSshd, type TestDatabase, type TestRedis, type TestSshd } from '@mm/testing';
import { runWorker, type RunningWorker } from '@mm/worker-runtime';
import { ScanWorkerEnv } from '../src/env.js';
import { findingsOf } from '../src/full-scan/findings.js';
import type { FullScanResult } from '../src/full-scan/result-schema.js';
import type { QuickScanResult } from '../src/quick-scan/result-schema.js';
import { scanHandlers } from '../src/handlers.js';

const CREDENTIALS_KEY = randomBytes(32).toString('hex');

let db: TestDatabase;
let redis: TestRedis;
let sshd: TestSshd;
let worker: RunningWorker;
let producer: Producer;
let events: QueueEvents;
const progress = new Map<string, number[]>();
/** Start time of every attempt, per job, taken from the job itself as each attempt fails. */
const attemptStarts = new Map<string, number[]>();

beforeAll(async () => {
  [db, redis, sshd] = await Promise.all([createTestDatabase(), createTestRedis(), startTestSshd()]);
  const env = parseEnv(ScanWorkerEnv, {
    NODE_ENV: 'test',
    LOG_LEVEL: 'silent',
    DATABASE_URL: db.url,
    REDIS_URL: redis.url,
    // The test sshd listens on loopback, which workers refuse by default.
    SERVER_ALLOW_LOOPBACK: 'true',
    QUEUE_PREFIX: redis.prefix,
    CREDENTIALS_KEY,
    HEALTH_PORT: '0',
  });
  worker = await runWorker({ queue: 'scan', env, concurrency: 5, handlers: scanHandlers });
  worker.worker.on('failed', (job: Job | undefined) => {
    if (job?.id && job.processedOn) attemptStarts.set(job.id, [...(attemptStarts.get(job.id) ?? []), job.processedOn]);
  });
  producer = createProducer({ connection: redis.url, prefix: redis.prefix });
  events = createQueueEvents('scan', { connection: redis.url, prefix: redis.prefix });
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

async function enqueue(name: 'scan:quick' | 'scan:full', server: Server, opts?: EnqueueOptions): Promise<Job> {
  return producer.enqueue(name, { serverId: server.id, scanId: randomUUID(), userId: null }, opts);
}

/** Waits for the job's end; resolves with its final state instead of throwing on failure. */
async function settle(job: Job): Promise<{ state: 'completed' | 'failed'; job: Job; error?: string }> {
  try {
    await job.waitUntilFinished(events);
  } catch (err) {
    const failed = await producer.queue('scan').getJob(job.id!);
    return { state: 'failed', job: failed!, error: (err as Error).message };
  }
  return { state: 'completed', job: (await producer.queue('scan').getJob(job.id!))! };
}

const scanOf = async (id: string) => (await db.db.select().from(scans).where(eq(scans.id, id)))[0]!;
const serverOf = async (id: string) => (await db.db.select().from(servers).where(eq(servers.id, id)))[0]!;
const logsOf = async (id: string) => (await producer.queue('scan').getJobLogs(id, 0, -1)).logs;

/** A fingerprint in the right format that no real key has. */
const bogusFingerprint = () => `SHA256:${randomBytes(32).toString('base64').replace(/=+$/, '')}`;

describe('scan:quick', () => {
  it('reports the server online with its latency and uname, and updates its last-seen status', async () => {
    const server = await insertTestServer(db.db, sshd, { credentialsKey: CREDENTIALS_KEY });
    const { state, job, error } = await settle(await enqueue('scan:quick', server));
    expect(error).toBeUndefined();
    expect(state).toBe('completed');

    const scan = await scanOf(job.id!);
    expect(scan.status).toBe('completed');
    expect(scan.scanType).toBe('quick');
    expect(scan.online).toBe(true);
    expect(scan.latencyMs).toBeGreaterThan(0);
    expect(scan.progress).toBe(100);
    const result = scan.result as QuickScanResult;
    // The test sshd runs on this machine, so the remote uname is the local one.
    expect(result.uname).toBe(execFileSync('uname', ['-a'], { encoding: 'utf8' }).trim());
    expect(result.hostKeyFingerprint).toBe(sshd.hostKeyFingerprint);
    expect(result.uptimeSeconds).toBeGreaterThan(0);

    const row = await serverOf(server.id);
    expect(row.lastSeenStatus).toBe('online');
    expect(row.lastLatencyMs).toBe(scan.latencyMs);
    expect(row.lastSeenAt).not.toBeNull();

    expect(progress.get(job.id!)).toEqual([10, 20, 30, 40, 80, 90, 100]);
    expect(await logsOf(job.id!)).toContain(`uname=${result.uname}`);
  });
});

describe('scan:full', () => {
  it('gathers typed facts of the server in one script run, with findings', async () => {
    const server = await insertTestServer(db.db, sshd, { credentialsKey: CREDENTIALS_KEY });
    const { state, job, error } = await settle(await enqueue('scan:full', server));
    expect(error).toBeUndefined();
    expect(state).toBe('completed');

    const scan = await scanOf(job.id!);
    expect(scan.status).toBe('completed');
    expect(scan.scanType).toBe('full');
    expect(scan.online).toBe(true);
    const result = scan.result as FullScanResult;
    expect(result.kernel?.release).toBe(release());
    expect(result.cpu?.count).toBe(cpus().length);
    expect(Math.abs(result.memory!.totalBytes - totalmem()) / totalmem()).toBeLessThan(0.01);
    expect(result.os?.id).toBe('debian');
    expect(result.packages?.manager).toBe('apt');
    expect(result.packages?.installed).toBeGreaterThan(0);
    expect(result.disks?.some((d) => d.mount === '/' && d.sizeBytes > 0)).toBe(true);
    // The test sshd itself listens on its loopback port.
    expect(result.listeningPorts).toContainEqual({ protocol: 'tcp', address: sshd.host, port: sshd.port });
    // Unprivileged: sshd -T needs root, so the settings come from the config files.
    expect(result.sshd?.source).toBe('config files');
    // Exactly the findings its own facts call for (not a loop over a list that may be empty), and the job's summary
    // counts them, carrying the critical ones for the scan.critical_finding webhook.
    expect(result.findings).toEqual(findingsOf(result));
    const critical = result.findings.filter((f) => f.severity === 'critical').map((f) => ({ code: f.code, message: f.message }));
    expect(job.returnvalue).toEqual({ findings: result.findings.length, notes: result.notes.length, critical });
    // No systemd in this container: a null fact with a note, not a failed scan.
    if (result.failedUnits === null) expect(result.notes.some((n) => n.startsWith('failed systemd units'))).toBe(true);

    const history = progress.get(job.id!)!;
    expect(history.slice(0, 4)).toEqual([10, 20, 30, 40]);
    expect(history.slice(-3)).toEqual([80, 90, 100]);
    expect(history.length).toBeGreaterThan(7);
    expect([...history].sort((a, b) => a - b)).toEqual(history);
    expect(new Set(history).size).toBe(history.length);

    const logs = await logsOf(job.id!);
    expect(logs).toContain('@@mm-section end');
    expect((await serverOf(server.id)).lastSeenStatus).toBe('online');
  });

  it('counts pending updates and the security ones among them, and keeps both on the server row', async () => {
    // A stand-in apt (packages/testing): 4 upgradable packages, 3 of them from the security suite, 1 current.
    const fake = await startTestSshd({
      fakePackageManager: {
        packages: [
          { name: 'curl', installed: '7.88.1-10+deb12u8', candidate: '7.88.1-10+deb12u8', security: true },
          { name: 'libssl3', installed: '3.0.14-1~deb12u2', candidate: '3.0.15-1~deb12u1', security: true },
          { name: 'linux-image-amd64', installed: '6.1.119-1', candidate: '6.1.123-1', security: true },
          { name: 'openssl', installed: '3.0.14-1~deb12u2', candidate: '3.0.15-1~deb12u1', security: true },
          { name: 'tzdata', installed: '2024a-0+deb12u1', candidate: '2025b-0+deb12u1' },
        ],
      },
    });
    try {
      const server = await insertTestServer(db.db, fake, { credentialsKey: CREDENTIALS_KEY });
      const { state, job, error } = await settle(await enqueue('scan:full', server));
      expect(error).toBeUndefined();
      expect(state).toBe('completed');
      const result = (await scanOf(job.id!)).result as FullScanResult;
      expect(result.packages).toEqual({ manager: 'apt', installed: 5, upgradable: 4, security: 3 });
      const row = await serverOf(server.id);
      expect([row.upgradablePackages, row.securityUpdates]).toEqual([4, 3]);
    } finally {
      await fake.stop();
    }
  });
});

describe('failures', () => {
  it('fails once, without retrying, when the host key changed', async () => {
    const pinned = bogusFingerprint();
    const server = await insertTestServer(db.db, sshd, { credentialsKey: CREDENTIALS_KEY, hostKeyFingerprint: pinned });
    const { state, job, error } = await settle(await enqueue('scan:quick', server, { backoff: { type: 'fixed', delay: 100 } }));
    expect(state).toBe('failed');
    expect(job.attemptsMade).toBe(1);
    expect(error).toContain(pinned);
    expect(error).toContain(sshd.hostKeyFingerprint);

    const scan = await scanOf(job.id!);
    expect(scan.status).toBe('failed');
    expect(scan.error).toContain(pinned);
    expect(scan.error).toContain(sshd.hostKeyFingerprint);
    expect(scan.online).toBeNull();
    // The pin is not replaced by what the server presented.
    expect((await serverOf(server.id)).hostKeyFingerprint).toBe(pinned);
  });

  it('retries an unreachable server 3 times, then marks the scan failed and the server offline', async () => {
    const server = await unreachableServer();
    const { state, job } = await settle(await enqueue('scan:quick', server, { backoff: { type: 'exponential', delay: 100 } }));
    expect(state).toBe('failed');
    expect(job.attemptsMade).toBe(3);
    expect(job.failedReason).toMatch(/unreachable.*ECONNREFUSED/);

    const scan = await scanOf(job.id!);
    expect(scan.status).toBe('failed');
    expect(scan.attempts).toBe(3);
    expect(scan.online).toBe(false);
    expect(scan.error).toMatch(/ECONNREFUSED/);
    const row = await serverOf(server.id);
    expect(row.lastSeenStatus).toBe('offline');
    expect(row.lastLatencyMs).toBeNull();
  });

  it('waits the catalog backoff between attempts: 5 s, then 10 s', async () => {
    const server = await unreachableServer();
    const { state, job } = await settle(await enqueue('scan:quick', server));
    expect(state).toBe('failed');
    const starts = attemptStarts.get(job.id!)!;
    expect(starts).toHaveLength(3);
    // Loose lower bounds: this checks the configured exponential backoff, not performance.
    expect(starts[1]! - starts[0]!).toBeGreaterThanOrEqual(4_500);
    expect(starts[2]! - starts[1]!).toBeGreaterThanOrEqual(9_000);
  }, 90_000);
});

/** A server row whose port has nothing listening (a port the kernel just handed out and took back). */
async function unreachableServer(): Promise<Server> {
  const port = await new Promise<number>((resolve) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
  return insertTestServer(db.db, { ...sshd, port }, { credentialsKey: CREDENTIALS_KEY, name: `unreachable-${port}` });
}
