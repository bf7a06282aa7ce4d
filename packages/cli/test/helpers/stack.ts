import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { createLogger, parseEnv } from '@mm/config';
import { users } from '@mm/db';
import { createTestDatabase, createTestRedis, startTestSshd, type TestDatabase, type TestRedis, type TestSshd } from '@mm/testing';
// The API's own builder, as bench/ uses it: the CLI is tested against the real app, not a stand-in.
import { ApiEnv, buildApp, hashPassword, seedAdmin } from '@mm/api/test-kit';

export const PASSWORD = 'correct-horse-battery-staple';
export const ADMIN_EMAIL = 'admin@example.test';
const SERVICES = fileURLToPath(new URL('../../../../services/', import.meta.url));

/** PostgreSQL, Redis, the API listening on loopback, real scan, backup, fleet and update worker processes and a loopback sshd. */
export interface Stack {
  url: string;
  app: FastifyInstance;
  env: ApiEnv;
  database: TestDatabase;
  redis: TestRedis;
  sshd: TestSshd;
  /** Where the backup worker stores archives (and the API reads downloads from). */
  backupDir: string;
  /** A fresh folder to use as MM_CONFIG_DIR. */
  configDir(): Promise<string>;
  close(): Promise<void>;
}

export async function startStack(): Promise<Stack> {
  const [database, redis, sshd, backupDir] = await Promise.all([createTestDatabase(), createTestRedis(), startTestSshd(), mkdtemp(join(tmpdir(), 'mm-cli-backups-'))]);
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
    // Servers on the loopback sshd may be registered (the API's host address policy refuses loopback otherwise).
    SERVER_ALLOW_LOOPBACK: 'true',
  });
  await seedAdmin(database.db, { email: env.ADMIN_EMAIL, password: env.ADMIN_PASSWORD }, createLogger({ name: 'test', level: 'silent', pretty: false }));
  const passwordHash = await hashPassword(PASSWORD);
  await database.db.insert(users).values([
    { email: 'operator@example.test', passwordHash, role: 'operator' },
    { email: 'viewer@example.test', passwordHash, role: 'viewer' },
  ]);
  const app = await buildApp({ env, logger: false });
  const url = await app.listen({ port: 0, host: '127.0.0.1' });

  // The workers run as they do in production: their own processes, from their own main.ts.
  // The fleet worker steps fleet runs (`mm scan --tag …`); its step interval is lowered so a run's waves move quickly.
  // The update worker runs dry runs only here (`mm update --dry-run`): nothing is installed on this host.
  const workers = ['scan-worker', 'backup-worker', 'fleet-worker', 'update-worker'].map((service) =>
    spawnWorker(service, {
      NODE_ENV: 'test',
      LOG_LEVEL: 'silent',
      DATABASE_URL: database.url,
      REDIS_URL: redis.url,
      QUEUE_PREFIX: redis.prefix,
      CREDENTIALS_KEY: env.CREDENTIALS_KEY,
      HEALTH_PORT: '0',
      HEALTH_HOST: '127.0.0.1',
      BACKUP_DIR: backupDir,
      // The test sshd listens on loopback, which the SSH host policy refuses by default.
      SERVER_ALLOW_LOOPBACK: 'true',
      FLEET_STEP_INTERVAL_MS: '250',
    }),
  );
  const dirs: string[] = [];

  return {
    url,
    app,
    env,
    database,
    redis,
    sshd,
    backupDir,
    async configDir() {
      const dir = await mkdtemp(join(tmpdir(), 'mm-cli-config-'));
      dirs.push(dir);
      return dir;
    },
    async close() {
      await Promise.all(workers.map((w) => w.stop()));
      await app.close();
      await sshd.stop();
      await Promise.all([database.drop(), redis.cleanup(), ...[...dirs, backupDir].map((d) => rm(d, { recursive: true, force: true }))]);
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
