// Test-only settings; defaults match the services this machine and CI start on loopback.
export const testEnv = {
  adminDatabaseUrl: process.env.TEST_DATABASE_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
  redisUrl: process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379',
};
