// Test-only settings; defaults match the services this machine and CI start on loopback.
export const testEnv = {
  adminDatabaseUrl: process.env.TEST_DATABASE_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
  redisUrl: process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379',
  /** The queue backend of the suites that run on both (TEST_QUEUE_BACKEND=postgres: the PostgreSQL-backend pass). */
  queueBackend: process.env.TEST_QUEUE_BACKEND === 'postgres' ? ('postgres' as const) : ('redis' as const),
};

/** The environment a test's child server runs with: this process's (PATH, HOME, …) with the given entries on top. */
export const childEnv = (extra: Record<string, string>): NodeJS.ProcessEnv => ({ ...process.env, ...extra });
