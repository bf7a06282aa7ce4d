// Test-only settings; defaults match the services this machine and CI start on loopback.
export const testEnv = {
  adminDatabaseUrl: process.env.TEST_DATABASE_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
  redisUrl: process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379',
  /** The queue backend of the suites that run on both (TEST_QUEUE_BACKEND=postgres: the PostgreSQL-backend pass). */
  queueBackend: process.env.TEST_QUEUE_BACKEND === 'postgres' ? ('postgres' as const) : ('redis' as const),
};

/** The environment a test's child server runs with: this process's (PATH, HOME, …) with the given entries on top. */
export const childEnv = (extra: Record<string, string>): NodeJS.ProcessEnv => ({ ...process.env, ...extra });

/**
 * Worker settings under which a killed worker's job comes back within seconds instead of the production 90 s: a short
 * job lock, a frequent stalled-job check, and a server lease as short as the lock (with the default 30 s the retaken
 * job would only be deferred, server busy, until the dead holder's lease ran out).
 */
export const quickTakeoverEnv = {
  WORKER_LOCK_DURATION_MS: '4000',
  WORKER_STALLED_INTERVAL_MS: '1000',
  SERVER_LEASE_MS: '4000',
  SERVER_LEASE_RENEW_MS: '1000',
} as const;
