import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { testEnv } from './env.js';

export interface TestRedis {
  url: string;
  /** A queue prefix of this test file's own. */
  prefix: string;
  /** A plain connection for assertions on what landed in Redis. */
  redis: Redis;
  /** Deletes every key under the prefix and closes the connection. */
  cleanup(): Promise<void>;
}

export async function createTestRedis(): Promise<TestRedis> {
  const prefix = `mmtest-${randomBytes(5).toString('hex')}`;
  const redis = new Redis(testEnv.redisUrl, { maxRetriesPerRequest: 3 });
  return {
    url: testEnv.redisUrl,
    prefix,
    redis,
    async cleanup() {
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
        if (keys.length) await redis.unlink(...keys);
        cursor = next;
      } while (cursor !== '0');
      redis.disconnect();
    },
  };
}
