import { createCipheriv, randomBytes, randomUUID } from 'node:crypto';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Job, QueueEvents } from 'bullmq';
import { parseEnv } from '@mm/config';
import { encryptCredentials, scans, servers, type Server } from '@mm/db';
import { createProducer, createQueueEvents, type Producer } from '@mm/jobs';
import {
  createTestDatabase,
  createTestRedis,
  endlessOutput,
  printThenExit,
  insertTestServer,
  startHostileSshd,
  startTestSshd,
  type HostileSshd,
  type TestDatabase,
  type TestRedis,
  type TestSshd,
} from '@mm/testing';
import { runWorker, type RunningWorker } from '@mm/worker-runtime';
import { ScanWorkerEnv } from '../src/env.js';
import { scanHandlers } from '../src/handlers.js';

// Attacks by a managed host, or by an operator pointing a server at one, against a real scan worker.
const CREDENTIALS_KEY = randomBytes(32).toString('hex');
const PASSWORD = `server-password-${randomUUID()}`;

interface Stack {
  redis: TestRedis;
  worker: RunningWorker;
  producer: Producer;
  events: QueueEvents;
}

let db: TestDatabase;
let sshd: TestSshd;
let hostile: HostileSshd;
let lab: Stack;
let strict: Stack;
/** A row in the unbound v1 format, as the code before bound credentials wrote it: the workers upgrade it at start. */
let legacy: Server;

function legacyV1(plain: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', Buffer.from(CREDENTIALS_KEY, 'hex'), iv);
  const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
  return ['v1', iv.toString('base64url'), cipher.getAuthTag().toString('base64url'), body.toString('base64url')].join('.');
}

async function startStack(allowLoopback: boolean): Promise<Stack> {
  const redis = await createTestRedis();
  const env = parseEnv(ScanWorkerEnv, {
    NODE_ENV: 'test',
    LOG_LEVEL: 'silent',
    DATABASE_URL: db.url,
    REDIS_URL: redis.url,
    SERVER_ALLOW_LOOPBACK: String(allowLoopback),
    QUEUE_PREFIX: redis.prefix,
    CREDENTIALS_KEY,
    HEALTH_PORT: '0',
  });
  const worker = await runWorker({ queue: 'scan', env, concurrency: 2, handlers: scanHandlers });
  const producer = createProducer({ connection: redis.url, prefix: redis.prefix });
  const events = createQueueEvents('scan', { connection: redis.url, prefix: redis.prefix });
  await events.waitUntilReady();
  return { redis, worker, producer, events };
}

async function stopStack(stack: Stack | undefined): Promise<void> {
  await stack?.events.close();
  await stack?.producer.close();
  await stack?.worker.close();
  await stack?.redis.cleanup();
}

beforeAll(async () => {
  [db, sshd, hostile] = await Promise.all([createTestDatabase(), startTestSshd(), startHostileSshd()]);
  const [row] = await db.db
    .insert(servers)
    .values({ name: 'legacy', host: sshd.host, port: sshd.port, username: sshd.username, authType: 'key', credentials: legacyV1(JSON.stringify(sshd.credentials)), hostKeyFingerprint: sshd.hostKeyFingerprint })
    .returning();
  legacy = row!;
  [lab, strict] = await Promise.all([startStack(true), startStack(false)]);
});

afterAll(async () => {
  await stopStack(lab);
  await stopStack(strict);
  await hostile?.stop();
  await sshd?.stop();
  await db?.drop();
});

/** Runs one quick scan of `server` to its end; a failure resolves with the job, whose attemptsMade tells if it retried. */
async function quickScan(stack: Stack, server: Server): Promise<{ state: 'completed' | 'failed'; job: Job }> {
  const job = await stack.producer.enqueue('scan:quick', { serverId: server.id, scanId: randomUUID(), userId: null }, { backoff: { type: 'fixed', delay: 100 } });
  const state = await job.waitUntilFinished(stack.events).then(
    () => 'completed' as const,
    () => 'failed' as const,
  );
  return { state, job: (await stack.producer.queue('scan').getJob(job.id!))! };
}

/** What an operator's PATCH of host and port did before the API required fresh credentials with it: the pin forgotten too. */
async function moveToHostile(server: Server): Promise<void> {
  await db.db.update(servers).set({ host: hostile.host, port: hostile.port, hostKeyFingerprint: null }).where(eq(servers.id, server.id));
}

describe('credentials do not follow a server to a new host', () => {
  it('a password server moved to a hostile host: the worker sends it nothing, fails once naming the server', async () => {
    const server = await insertTestServer(db.db, sshd, { credentialsKey: CREDENTIALS_KEY, name: 'moved-password', credentials: { type: 'password', password: PASSWORD } });
    await moveToHostile(server);
    const { state, job } = await quickScan(lab, server);
    expect(hostile.auths.map((a) => a.password)).not.toContain(PASSWORD);
    expect(hostile.connections()).toBe(0);
    expect(state).toBe('failed');
    expect(job.attemptsMade).toBe(1);
    expect(job.failedReason).toContain(`server moved-password (${server.id})`);
    expect(job.failedReason).toMatch(/could not be decrypted/);
    expect(job.failedReason).not.toContain(PASSWORD);
    const [scan] = await db.db.select().from(scans).where(eq(scans.id, job.data.scanId as string));
    expect(scan?.status).toBe('failed');
  });

  it('a key server moved to a hostile host that accepts any key: no connection, no retry', async () => {
    const server = await insertTestServer(db.db, sshd, { credentialsKey: CREDENTIALS_KEY, name: 'moved-key' });
    await moveToHostile(server);
    const before = hostile.connections();
    const { state, job } = await quickScan(lab, server);
    expect(hostile.connections()).toBe(before);
    expect(hostile.commands).toEqual([]);
    expect(state).toBe('failed');
    expect(job.attemptsMade).toBe(1);
    expect(job.failedReason).toContain('server moved-key');
  });

  it('the same server, not moved, still scans (the binding matches its own row)', async () => {
    const server = await insertTestServer(db.db, sshd, { credentialsKey: CREDENTIALS_KEY, name: 'not-moved' });
    const { state, job } = await quickScan(lab, server);
    expect(job.failedReason).toBeUndefined();
    expect(state).toBe('completed');
  });
});

describe('a host that prints without end', () => {
  it('the scan command is killed at the output cap and the job fails once, naming the limit', async () => {
    // The kill command (pgrep) just exits; every other command prints 64 KiB chunks for as long as it is read.
    hostile.setExec((command, channel) => (command.includes('pgrep') ? printThenExit('') : endlessOutput(Buffer.alloc(64 * 1024, 'y\n')))(command, channel));
    const server = await insertBoundServer(hostile.host, hostile.port);
    const { state, job } = await quickScan(lab, server);
    expect(state).toBe('failed');
    expect(job.attemptsMade).toBe(1);
    expect(job.failedReason).toContain('passed its limit of 16777216 bytes; the command was killed');
    expect(hostile.commands.some((c) => c.includes('pgrep'))).toBe(true);
  });
});

describe('credentials stored before they were bound', () => {
  it('a v1 row is re-encrypted as v2 when the workers start, and its server scans', async () => {
    const [row] = await db.db.select().from(servers).where(eq(servers.id, legacy.id));
    expect(row?.credentials).toMatch(/^v2\./);
    const { state, job } = await quickScan(lab, legacy);
    expect(job.failedReason).toBeUndefined();
    expect(state).toBe('completed');
  });
});

describe('host address policy in the worker', () => {
  it('without SERVER_ALLOW_LOOPBACK a loopback server is refused before the TCP probe or SSH: no retry, naming the rule', async () => {
    const server = await insertTestServer(db.db, sshd, { credentialsKey: CREDENTIALS_KEY, name: 'loopback' });
    const { state, job } = await quickScan(strict, server);
    expect(state).toBe('failed');
    expect(job.attemptsMade).toBe(1);
    expect(job.failedReason).toContain(`host ${sshd.host} is not allowed: loopback address`);
  });

  it.each([
    ['a cloud-metadata address', '169.254.169.254', 22, 'cloud-metadata address'],
    ["this deployment's Redis", '127.0.0.1', 6379, "it is this deployment's Redis"],
    ["this deployment's PostgreSQL", '127.0.0.1', 5432, "it is this deployment's PostgreSQL"],
  ])('%s is refused even with loopback allowed', async (_what, host, port, reason) => {
    const server = await insertBoundServer(host, port);
    const { state, job } = await quickScan(lab, server);
    expect(state).toBe('failed');
    expect(job.attemptsMade).toBe(1);
    expect(job.failedReason).toContain(reason);
  });
});

/** A server row at `host:port` whose credentials are sealed for exactly that address (what the API stores). */
async function insertBoundServer(host: string, port: number): Promise<Server> {
  const id = randomUUID();
  const credentials = encryptCredentials({ type: 'password', password: PASSWORD }, CREDENTIALS_KEY, { serverId: id, host, port, username: 'root' });
  const [row] = await db.db.insert(servers).values({ id, name: `at-${host}-${port}`, host, port, username: 'root', authType: 'password', credentials }).returning();
  return row!;
}
