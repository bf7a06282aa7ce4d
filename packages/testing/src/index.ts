export { createTestDatabase, type TestDatabase } from './test-database.js';
export { createTestRedis, type TestRedis } from './test-redis.js';
export { testEnv } from './env.js';
export { startTestSshd, insertTestServer, fingerprintOfPublicKey, TEST_SSH_USER, type TestSshd, type StartTestSshdOptions, type InsertTestServerOptions } from './sshd.js';
export { ensureDebianPackage } from './debian-package.js';
