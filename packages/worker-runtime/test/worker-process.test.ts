import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { encryptCredentials, scans, servers } from '@mm/db';
import { createProducer, type Producer } from '@mm/jobs';
import { createTestDatabase, createTestRedis, type TestDatabase, type TestRedis } from '@mm/testing';

const MAIN = fileURLToPath(new URL('./fixtures/scan-worker-main.ts', import.meta.url));
const CWD = fileURLToPath(new URL('..', import.meta.url));
const CREDENTIALS_KEY = 'cd'.repeat(32);

let testDb: TestDatabase;
let redis: TestRedis;
let producer: Producer;
let serverId: string;
const children = new Set<ChildProcess>();

interface Started {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
}

/** Starts the fixture worker as a real process, the way `tsx src/main.ts` runs a service. */
function startWorker(env: Record<string, string>): Started {
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN], {
    cwd: CWD,
    env: {
      NODE_ENV: 'test',
      LOG_LEVEL: 'info',
      DATABASE_URL: testDb.url,
      REDIS_URL: redis.url,
      // The test sshd listens on loopback, which workers refuse by default.
      SERVER_ALLOW_LOOPBACK: 'true',
      QUEUE_PREFIX: redis.prefix,
      CREDENTIALS_KEY,
      HEALTH_PORT: '0',
      HEALTH_HOST: '127.0.0.1',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, stdout: () => stdout, stderr: () => stderr, exited };
}

async function waitForState(id: string, state: string) {
  await vi.waitFor(async () => expect(await producer.queue('scan').getJobState(id)).toBe(state), { timeout: 30_000, interval: 100 });
}

beforeAll(async () => {
  [testDb, redis] = await Promise.all([createTestDatabase(), createTestRedis()]);
  producer = createProducer({ connection: redis.url, prefix: redis.prefix });
  // The fixture jobs never connect; the row only has to exist for the record's foreign key.
  const id = randomUUID();
  const credentials = encryptCredentials({ type: 'password', password: randomUUID() }, CREDENTIALS_KEY, { serverId: id, host: '127.0.0.1', port: 1, username: 'nobody' });
  const [server] = await testDb.db.insert(servers).values({ id, name: 'fixture', host: '127.0.0.1', port: 1, username: 'nobody', authType: 'password', credentials }).returning();
  serverId = server?.id ?? '';
});

afterAll(async () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await producer?.close();
  await redis?.cleanup();
  await testDb?.drop();
});

describe('worker process', () => {
  it('a missing Redis is one clear line on stderr and exit 1, no stack trace', async () => {
    const worker = startWorker({ REDIS_URL: 'redis://127.0.0.1:1' });
    expect(await worker.exited).toBe(1);
    const lines = worker.stderr().trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^Redis is not answering at 127\.0\.0\.1:1\./);
  });

  it('a missing PostgreSQL is one clear line on stderr and exit 1', async () => {
    const worker = startWorker({ DATABASE_URL: 'postgres://postgres@127.0.0.1:1/none' });
    expect(await worker.exited).toBe(1);
    const lines = worker.stderr().trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^PostgreSQL is not answering at 127\.0\.0\.1:1 /);
  });

  it('SIGTERM lets the active job finish, then exits 0', async () => {
    const worker = startWorker({ FIXTURE_JOB_MS: '1500' });
    await vi.waitFor(() => expect(worker.stdout()).toContain('"msg":"worker ready"'), { timeout: 30_000, interval: 100 });
    expect(worker.stdout()).toMatch(/"queue":"scan","concurrency":1/);
    const scanId = randomUUID();
    await producer.enqueue('scan:full', { serverId, scanId, userId: null });
    await waitForState(scanId, 'active');
    worker.child.kill('SIGTERM');
    expect(await worker.exited).toBe(0);
    expect(await producer.queue('scan').getJobState(scanId)).toBe('completed');
    const [record] = await testDb.db.select().from(scans).where(eq(scans.id, scanId));
    expect(record).toMatchObject({ status: 'completed', progress: 100, result: { slept: 1500 } });
  });

  it('a second signal exits at once, leaving the job to stalled-job recovery', async () => {
    const worker = startWorker({ FIXTURE_JOB_MS: '60000' });
    await vi.waitFor(() => expect(worker.stdout()).toContain('"msg":"worker ready"'), { timeout: 30_000, interval: 100 });
    const scanId = randomUUID();
    await producer.enqueue('scan:full', { serverId, scanId, userId: null });
    await waitForState(scanId, 'active');
    // Active in Redis is not yet "record written": wait for the handler to be past its record.start.
    await vi.waitFor(() => expect(worker.stdout()).toContain('fixture job running'), { timeout: 10_000, interval: 50 });
    worker.child.kill('SIGTERM');
    await vi.waitFor(() => expect(worker.stdout()).toContain('shutting down'), { timeout: 10_000, interval: 50 });
    worker.child.kill('SIGINT');
    expect(await worker.exited).toBe(1);
    expect(worker.stdout()).toContain('second signal: exiting now');
    expect(await producer.queue('scan').getJobState(scanId)).toBe('active');
    const [record] = await testDb.db.select().from(scans).where(eq(scans.id, scanId));
    expect(record?.status).toBe('running');
  });
});
