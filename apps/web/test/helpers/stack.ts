import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { FastifyInstance } from 'fastify';
import { createLogger, parseEnv } from '@mm/config';
import { users, type Server } from '@mm/db';
import {
  createTestDatabase,
  createTestRedis,
  insertTestServer,
  startHostileSshd,
  startTestSshd,
  type HostileExec,
  type HostileSshd,
  type TestDatabase,
  type TestSshd,
} from '@mm/testing';
// The API's own builder: the dashboard is tested against the real app, which serves the real build at /.
import { ApiEnv, buildApp, hashPassword, seedAdmin } from '@mm/api/test-kit';

export const PASSWORD = 'correct-horse-battery-staple';
export const ADMIN_EMAIL = 'admin@example.test';
export const WEB_DIR = fileURLToPath(new URL('../../dist/', import.meta.url));
const WEB_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SERVICES = fileURLToPath(new URL('../../../../services/', import.meta.url));
const run = promisify(execFile);

/** Builds apps/web into dist/ (what `pnpm start` serves), so the test sees the page as users get it. */
export async function buildDashboard(): Promise<void> {
  await run(process.execPath, [join(WEB_ROOT, 'node_modules/vite/bin/vite.js'), 'build', '--logLevel', 'warn'], { cwd: WEB_ROOT });
}

/** PostgreSQL, Redis, the API on loopback serving the built dashboard, real worker processes, a loopback sshd and a host that never answers. */
export interface Stack {
  url: string;
  app: FastifyInstance;
  env: ApiEnv;
  database: TestDatabase;
  sshd: TestSshd;
  /** A host whose every command hangs until the client closes it: its jobs run until cancelled. */
  slowHost: HostileSshd;
  /** A folder on the sshd that servers back up (files under it show in the backup's file browser). */
  siteDir: string;
  /** An empty temporary folder (removed at close) for storage targets the tests create. */
  scratchDir: string;
  servers: { web1: Server; web2: Server; slow: Server };
  close(): Promise<void>;
}

/**
 * A host whose commands never end, until the worker's kill (packages/ssh killCommand, a `pgrep` of the command's
 * marker) arrives: then, as on a real host, the hung commands die and the kill exits 0. Left unanswered, the kill
 * would hold a cancel for the worker's 10 s kill timeout.
 */
function hangUntilKilled(): HostileExec {
  const hung = new Set<Parameters<HostileExec>[1]>();
  return (command, channel) => {
    if (!command.startsWith('pids=$(pgrep ')) {
      hung.add(channel);
      channel.on('close', () => hung.delete(channel));
      return;
    }
    for (const victim of hung) {
      victim.exit('KILL');
      victim.end();
    }
    channel.exit(0);
    channel.end();
  };
}

export async function startStack(): Promise<Stack> {
  const [database, redis, sshd, slowHost, backupDir, scratchDir] = await Promise.all([
    createTestDatabase(),
    createTestRedis(),
    startTestSshd(),
    startHostileSshd({ exec: hangUntilKilled() }),
    mkdtemp(join(tmpdir(), 'mm-web-backups-')),
    mkdtemp(join(tmpdir(), 'mm-web-scratch-')),
  ]);
  const env = parseEnv(ApiEnv, {
    NODE_ENV: 'test',
    LOG_LEVEL: 'silent',
    DATABASE_URL: database.url,
    REDIS_URL: redis.url,
    QUEUE_PREFIX: redis.prefix,
    RATE_LIMIT_MAX: '100000',
    CLEANUP_CRON: 'off',
    ADMIN_EMAIL,
    ADMIN_PASSWORD: PASSWORD,
    BACKUP_DIR: backupDir,
    WEB_DIR,
    SERVER_ALLOW_LOOPBACK: 'true',
    // A name that resolves nowhere: webhooks to it may be created (the admin page's test), and nothing is ever reached.
    WEBHOOK_ALLOWED_HOSTS: 'hooks.example.test',
  });
  await seedAdmin(database.db, { email: env.ADMIN_EMAIL, password: env.ADMIN_PASSWORD }, createLogger({ name: 'test', level: 'silent', pretty: false }));
  await database.db.insert(users).values([{ email: 'operator@example.test', passwordHash: await hashPassword(PASSWORD), role: 'operator' }]);

  const siteDir = join(sshd.workDir, 'site');
  await mkdir(join(siteDir, 'conf'), { recursive: true, mode: 0o755 });
  await writeFile(join(siteDir, 'hello.txt'), 'hello from web-1\n', { mode: 0o644 });
  await writeFile(join(siteDir, 'conf', 'app.ini'), '[app]\nname=demo\n', { mode: 0o644 });
  const credentialsKey = env.CREDENTIALS_KEY;
  const web1 = await insertTestServer(database.db, sshd, { credentialsKey, name: 'web-1', backupPaths: [siteDir] });
  const web2 = await insertTestServer(database.db, sshd, { credentialsKey, name: 'web-2', backupPaths: [siteDir] });
  const slow = await insertTestServer(
    database.db,
    { ...sshd, host: slowHost.host, port: slowHost.port, hostKeyFingerprint: slowHost.hostKeyFingerprint },
    { credentialsKey, name: 'slow-host', backupPaths: [siteDir] },
  );

  const app = await buildApp({ env, logger: false });
  const url = await app.listen({ port: 0, host: '127.0.0.1' });
  // The workers run as in production: their own processes, from their own main.ts.
  const workers = ['scan-worker', 'backup-worker', 'fleet-worker'].map((service) =>
    spawnWorker(service, {
      NODE_ENV: 'test',
      LOG_LEVEL: 'silent',
      DATABASE_URL: database.url,
      REDIS_URL: redis.url,
      QUEUE_PREFIX: redis.prefix,
      CREDENTIALS_KEY: credentialsKey,
      HEALTH_PORT: '0',
      HEALTH_HOST: '127.0.0.1',
      BACKUP_DIR: backupDir,
      SERVER_ALLOW_LOOPBACK: 'true',
      FLEET_STEP_INTERVAL_MS: '200',
    }),
  );

  return {
    url,
    app,
    env,
    database,
    sshd,
    slowHost,
    siteDir,
    scratchDir,
    servers: { web1, web2, slow },
    async close() {
      await Promise.all(workers.map((w) => w.stop()));
      await app.close();
      await Promise.all([sshd.stop(), slowHost.stop()]);
      await Promise.all([database.drop(), redis.cleanup(), rm(backupDir, { recursive: true, force: true }), rm(scratchDir, { recursive: true, force: true })]);
    },
  };
}

function spawnWorker(service: string, env: Record<string, string>): { stop(): Promise<void> } {
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: join(SERVICES, service),
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}
