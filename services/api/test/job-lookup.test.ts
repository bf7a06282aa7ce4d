import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { createProducer, createRedisConnection, type Producer } from '@mm/jobs';
import { createTestRedis, type TestRedis } from '@mm/testing';
import { findJob, findJobWithState } from '../src/domain/job-view.js';
import { VerifiedTokens } from '../src/domain/verified-tokens.js';

let t: TestRedis;
let redis: Redis;
let producer: Producer;
beforeAll(async () => {
  t = await createTestRedis();
  redis = createRedisConnection(t.url, 'producer');
  producer = createProducer({ connection: redis, prefix: t.prefix });
});
afterAll(async () => {
  await producer?.close();
  redis?.disconnect();
  await t?.cleanup();
});

describe('findJob with one EXISTS script', () => {
  it('finds a job in whichever queue holds it, with its state, and null for an unknown id', async () => {
    const scanId = randomUUID();
    const backupId = randomUUID();
    await producer.enqueue('scan:quick', { serverId: randomUUID(), scanId, userId: null });
    await producer.enqueue('backup:manual', {
      serverId: randomUUID(),
      backupId,
      userId: null,
      isScheduled: false,
      options: { backup_type: 'full', compression: false, encryption: false },
    });
    expect((await findJob(producer, scanId, redis))?.queue).toBe('scan');
    const backup = await findJobWithState(producer, backupId, redis);
    expect(backup?.queue).toBe('backup');
    expect(backup?.job.id).toBe(backupId);
    expect(backup?.state).toBe('prioritized');
    expect(await findJob(producer, randomUUID(), redis)).toBeNull();
    expect(await findJobWithState(producer, randomUUID(), redis)).toBeNull();
    // The fallback without a connection (callers that do not pass one) agrees.
    expect((await findJob(producer, backupId))?.queue).toBe('backup');
  });

  it('shares one lookup among concurrent callers of the same id (an SSE reconnect storm)', async () => {
    const scanId = randomUUID();
    await producer.enqueue('scan:quick', { serverId: randomUUID(), scanId, userId: null });
    const found = await Promise.all(Array.from({ length: 50 }, () => findJob(producer, scanId, redis)));
    expect(new Set(found.map((f) => f?.job)).size).toBe(1);
    expect(found[0]?.job.id).toBe(scanId);
    // Once settled, the next lookup reads Redis again (a job removed meanwhile is not served from memory).
    await producer.queue('scan').remove(scanId);
    expect(await findJob(producer, scanId, redis)).toBeNull();
  });
});

describe('VerifiedTokens', () => {
  it('verifies a token once, and again once its exp has passed', () => {
    let calls = 0;
    let exp = Math.floor(Date.now() / 1_000) + 60;
    const tokens = new VerifiedTokens((token: string) => {
      calls += 1;
      if (token === 'bad') throw new Error('invalid signature');
      return { sub: token, exp };
    });
    expect(tokens.get('a').sub).toBe('a');
    expect(tokens.get('a').sub).toBe('a');
    expect(calls).toBe(1);
    expect(() => tokens.get('bad')).toThrow('invalid signature');
    expect(() => tokens.get('bad')).toThrow('invalid signature');
    expect(calls).toBe(3);
    exp = Math.floor(Date.now() / 1_000) - 1;
    tokens.get('expired');
    tokens.get('expired');
    expect(calls).toBe(5);
  });
});
