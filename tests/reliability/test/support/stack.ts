import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { QueueEvents } from 'bullmq';
import { Redis } from 'ioredis';
import { createProducer, createQueueEvents, createRedisConnection, type Producer, type QueueAlias } from '@mm/jobs';
import { ApiClient, createTestDatabase, createTestRedis, freePort, insertTestServer, killAll, quickTakeoverEnv, type ServiceName, type ServiceProcess, spawnService, startTestSshd, type TestDatabase, type TestRedis, type TestSshd, waitFor } from '@mm/testing';
import type { Server } from '@mm/db';

export const ADMIN_EMAIL = 'admin@reliability.test';
// Generated per run: never a fixed secret in the repository.
const ADMIN_PASSWORD = randomBytes(12).toString('hex');

export interface StackOptions {
  /** Redis URL of the test's own redis-server; default: the shared one with a fresh prefix. */
  redisUrl?: string;
  /** Start a loopback sshd and insert a server row pointing at it, with these backup paths (relative to its work dir). */
  sshd?: boolean;
}

export interface Api {
  process: ServiceProcess;
  client: ApiClient;
  port: number;
}

/**
 * One test file's world: its own database, queue prefix, keys, backup dir and (optionally) sshd, and the
 * service processes started against them. `cleanup()` removes all of it, whatever state the test left.
 */
export interface Stack {
  db: TestDatabase;
  redisUrl: string;
  prefix: string;
  /** A plain connection for assertions. */
  redis: Redis;
  /** The test's own producer (enqueue straight into the queues, read job states). */
  producer: Producer;
  events(queue: QueueAlias): Promise<QueueEvents>;
  keys: { credentialsKey: string; encryptionKey: string; jwtSecret: string };
  backupDir: string;
  sshd: TestSshd | undefined;
  processes: Set<ServiceProcess>;
  env(name: ServiceName, extra?: Record<string, string>): Record<string, string>;
  /** Starts a worker and waits until it logs 'worker ready'. */
  startWorker(name: Exclude<ServiceName, 'api'>, extra?: Record<string, string>): Promise<ServiceProcess>;
  /** Starts the API on a free port, waits until /health answers and logs in as the seeded admin. */
  startApi(extra?: Record<string, string>): Promise<Api>;
  insertServer(backupPaths: string[]): Promise<Server>;
  cleanup(): Promise<void>;
}

export async function createStack(opts: StackOptions = {}): Promise<Stack> {
  const cleanups: (() => Promise<void>)[] = [];
  const processes = new Set<ServiceProcess>();
  const queueEvents: QueueEvents[] = [];
  const cleanup = async () => {
    await killAll(processes);
    await Promise.all(queueEvents.map((e) => e.close().catch(() => undefined)));
    for (const step of cleanups.reverse()) await step().catch(() => undefined);
  };
  try {
    const db = await createTestDatabase();
    cleanups.push(() => db.drop());
    let shared: TestRedis | undefined;
    if (!opts.redisUrl) {
      shared = await createTestRedis();
      const s = shared;
      cleanups.push(() => s.cleanup());
    }
    const redisUrl = opts.redisUrl ?? (shared as TestRedis).url;
    const prefix = shared?.prefix ?? `mmrel-${randomBytes(5).toString('hex')}`;
    const redis = shared?.redis ?? new Redis(redisUrl, { maxRetriesPerRequest: 1 });
    if (!shared) cleanups.push(async () => redis.disconnect());
    // Tests stop Redis on purpose: the test's own connections log nothing and throw nothing unhandled meanwhile.
    const ignore = () => undefined;
    redis.on('error', ignore);
    const producerConnection = createRedisConnection(redisUrl, 'producer');
    producerConnection.on('error', ignore);
    const producer = createProducer({ connection: producerConnection, prefix });
    for (const queue of Object.values(producer.queues)) queue.on('error', ignore);
    cleanups.push(async () => {
      await producer.close();
      producerConnection.disconnect();
    });
    const backupDir = await mkdtemp(join(tmpdir(), 'mm-reliability-backups-'));
    cleanups.push(() => rm(backupDir, { recursive: true, force: true }));
    const sshd = opts.sshd ? await startTestSshd() : undefined;
    if (sshd) cleanups.push(() => sshd.stop());
    const keys = { credentialsKey: randomBytes(32).toString('hex'), encryptionKey: randomBytes(32).toString('hex'), jwtSecret: randomBytes(32).toString('hex') };

    const env = (name: ServiceName, extra: Record<string, string> = {}): Record<string, string> => {
      const common = {
        NODE_ENV: 'test',
        LOG_LEVEL: 'info',
        DATABASE_URL: db.url,
        REDIS_URL: redisUrl,
        // The test sshd listens on loopback, which workers refuse by default.
        SERVER_ALLOW_LOOPBACK: 'true',
        QUEUE_PREFIX: prefix,
        CREDENTIALS_KEY: keys.credentialsKey,
      };
      if (name === 'api') {
        // No daily cleanup scheduler: its delayed job would sit in the backup queue's counts these tests assert on.
        return { ...common, JWT_SECRET: keys.jwtSecret, HOST: '127.0.0.1', ADMIN_EMAIL, ADMIN_PASSWORD, CLEANUP_CRON: 'off', ...extra };
      }
      // A killed worker's jobs come back within seconds, not the production 90 s.
      const worker = { ...common, HEALTH_PORT: '0', HEALTH_HOST: '127.0.0.1', ...quickTakeoverEnv };
      // These faults are checked on archive files; restic repositories have their own (backup-worker repository-faults.test.ts).
      if (name === 'backup-worker') return { ...worker, BACKUP_DIR: backupDir, BACKUP_ENCRYPTION_KEY: keys.encryptionKey, BACKUP_ENGINE: 'archive', ...extra };
      return { ...worker, ...extra };
    };

    const stack: Stack = {
      db,
      redisUrl,
      prefix,
      redis,
      producer,
      async events(queue) {
        const events = createQueueEvents(queue, { connection: redisUrl, prefix });
        events.on('error', () => undefined);
        queueEvents.push(events);
        await events.waitUntilReady();
        return events;
      },
      keys,
      backupDir,
      sshd,
      processes,
      env,
      async startWorker(name, extra) {
        const worker = spawnService(name, env(name, extra));
        processes.add(worker);
        await waitFor(() => /"(fleet )?worker ready"/.test(worker.output()) || !worker.running(), `${name} to be ready`);
        if (!worker.running()) throw new Error(`${name} exited at start: ${worker.output().slice(-2000)}`);
        return worker;
      },
      async startApi(extra) {
        const port = await freePort();
        const api = spawnService('api', env('api', { PORT: String(port), ...extra }));
        processes.add(api);
        const client = new ApiClient(`http://127.0.0.1:${port}`);
        await waitFor(
          async () => !api.running() || (await client.request('GET', '/health', undefined, 2_000).then((r) => r.status === 200, () => false)),
          'the API to answer /health',
        );
        if (!api.running()) throw new Error(`api exited at start: ${api.output().slice(-2000)}`);
        await client.login(ADMIN_EMAIL, ADMIN_PASSWORD);
        return { process: api, client, port };
      },
      async insertServer(backupPaths) {
        if (!sshd) throw new Error('this stack has no sshd');
        return insertTestServer(db.db, sshd, { credentialsKey: keys.credentialsKey, backupPaths });
      },
      cleanup,
    };
    return stack;
  } catch (err) {
    await cleanup();
    throw err;
  }
}
