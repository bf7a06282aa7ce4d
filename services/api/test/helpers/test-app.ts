import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import { users } from '@mm/db';
import { parseEnv } from '@mm/config';
import { runQueueMigrations, type AnyQueueConfig } from '@mm/jobs';
import { createTestDatabase, createTestRedis, testEnv, type TestDatabase, type TestRedis } from '@mm/testing';
import { buildApp } from '../../src/app.js';
import { ApiEnv } from '../../src/env.js';
import { hashPassword } from '../../src/shared/passwords.js';
import { seedAdmin } from '../../src/features/users/seed-admin.js';
import { createLogger } from '@mm/config';
import type { Role } from '../../src/shared/roles.js';

export const PASSWORD = 'correct-horse-battery-staple';

export interface TestApp {
  app: FastifyInstance;
  env: ApiEnv;
  database: TestDatabase;
  redis: TestRedis;
  /** The queue config a test's own queues and workers take: this app's backend (TEST_QUEUE_BACKEND), database and prefix. */
  queueConfig: AnyQueueConfig;
  tokens: Record<Role, string>;
  userIds: Record<Role, string>;
  /** inject with a role's token (or none) and a JSON body. */
  call(role: Role | null, opts: InjectOptions): Promise<LightMyRequestResponse>;
  close(): Promise<void>;
}

export async function createTestApp(overrides: Record<string, string> = {}): Promise<TestApp> {
  const [database, redis] = await Promise.all([createTestDatabase(), createTestRedis()]);
  const onPostgres = testEnv.queueBackend === 'postgres';
  // The PostgreSQL-backend pass: BullMQ's tables in this file's own database, and a Redis URL nothing answers on.
  if (onPostgres) await runQueueMigrations(database.url);
  const env = parseEnv(ApiEnv, {
    NODE_ENV: 'test',
    LOG_LEVEL: 'silent',
    DATABASE_URL: database.url,
    QUEUE_BACKEND: testEnv.queueBackend,
    REDIS_URL: onPostgres ? 'redis://127.0.0.1:1' : redis.url,
    QUEUE_PREFIX: redis.prefix,
    RATE_LIMIT_MAX: '100000',
    // No daily cleanup scheduler: its delayed job would show up in every test's job counts.
    CLEANUP_CRON: 'off',
    // The suites register 127.0.0.x servers (the loopback sshd fixture), which the host policy refuses by default.
    SERVER_ALLOW_LOOPBACK: 'true',
    // Storage targets on the loopback fixtures (s3rver, rclone, sshd); storage-targets.test.ts checks the guard itself.
    STORAGE_ALLOWED_HOSTS: '127.0.0.1',
    ADMIN_EMAIL: 'Admin@Example.test',
    ADMIN_PASSWORD: PASSWORD,
    ...overrides,
  });
  await seedAdmin(database.db, { email: env.ADMIN_EMAIL, password: env.ADMIN_PASSWORD }, createLogger({ name: 'test', level: 'silent', pretty: false }));
  const passwordHash = await hashPassword(PASSWORD);
  await database.db.insert(users).values([
    { email: 'operator@example.test', passwordHash, role: 'operator' },
    { email: 'viewer@example.test', passwordHash, role: 'viewer' },
  ]);
  const app = await buildApp({ env, logger: false });
  await app.ready();

  // Tokens are signed directly so that the login rate limit stays untouched for the tests that measure it.
  const tokens = {} as Record<Role, string>;
  const userIds = {} as Record<Role, string>;
  for (const row of await database.db.select().from(users)) {
    tokens[row.role] = app.jwt.sign({ sub: row.id, role: row.role });
    userIds[row.role] = row.id;
  }

  return {
    app,
    env,
    database,
    redis,
    queueConfig: onPostgres ? { kind: 'postgres', databaseUrl: database.url, prefix: redis.prefix } : { connection: redis.url, prefix: redis.prefix },
    tokens,
    userIds,
    call(role, opts) {
      const headers = { ...(opts.headers ?? {}), ...(role ? { authorization: `Bearer ${tokens[role]}` } : {}) };
      return app.inject({ ...opts, headers });
    },
    async close() {
      await app.close();
      await Promise.all([database.drop(), redis.cleanup()]);
    },
  };
}

export const sshKeyAuth = {
  type: 'key' as const,
  // Shape only: the API stores it encrypted and never connects.
  privateKey: '-----BEGIN OPENSSH PRIVATE KEY-----\nnot-a-real-key\n-----END OPENSSH PRIVATE KEY-----\n',
};

export async function createServer(t: TestApp, body: Record<string, unknown> = {}): Promise<string> {
  const res = await t.call('operator', {
    method: 'POST',
    url: '/api/servers',
    payload: { name: 'web-1', host: '127.0.0.1', username: 'deploy', auth: { type: 'password', password: 'hunter2-server' }, ...body },
  });
  if (res.statusCode !== 201) throw new Error(`createServer: ${res.statusCode} ${res.body}`);
  return res.json<{ data: { id: string } }>().data.id;
}
