import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProducer, openQueueBackend, runQueueMigrations, type Producer, type QueueBackend } from '@mm/jobs';
import { createTestDatabase, createTestRedis, testEnv, type TestDatabase, type TestRedis } from '@mm/testing';
import { findJob, findJobWithState } from '../src/shared/job-view.js';
import { VerifiedTokens } from '../src/plugins/verified-tokens.js';

let t: TestRedis;
let database: TestDatabase;
let backend: QueueBackend;
let producer: Producer;
beforeAll(async () => {
  [t, database] = await Promise.all([createTestRedis(), createTestDatabase()]);
  // The backend of this pass (TEST_QUEUE_BACKEND): the inspector locates jobs with a Lua script or one SELECT.
  if (testEnv.queueBackend === 'postgres') await runQueueMigrations(database.url);
  backend = openQueueBackend({ QUEUE_BACKEND: testEnv.queueBackend, REDIS_URL: t.url, DATABASE_URL: database.url, QUEUE_PREFIX: t.prefix }, 'producer');
  producer = createProducer(backend.queueConfig);
});
afterAll(async () => {
  await producer?.close();
  await backend?.close();
  await Promise.all([t?.cleanup(), database?.drop()]);
});

describe('findJob through the backend inspector (one EXISTS script on Redis, one SELECT on PostgreSQL)', () => {
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
    expect((await findJob(producer, scanId, backend))?.queue).toBe('scan');
    const backup = await findJobWithState(producer, backupId, backend);
    expect(backup?.queue).toBe('backup');
    expect(backup?.job.id).toBe(backupId);
    expect(backup?.state).toBe('prioritized');
    expect(await findJob(producer, randomUUID(), backend)).toBeNull();
    expect(await findJobWithState(producer, randomUUID(), backend)).toBeNull();
    // The fallback without a connection (callers that do not pass one) agrees.
    expect((await findJob(producer, backupId))?.queue).toBe('backup');
  });

  it('shares one lookup among concurrent callers of the same id (an SSE reconnect storm)', async () => {
    const scanId = randomUUID();
    await producer.enqueue('scan:quick', { serverId: randomUUID(), scanId, userId: null });
    const found = await Promise.all(Array.from({ length: 50 }, () => findJob(producer, scanId, backend)));
    expect(new Set(found.map((f) => f?.job)).size).toBe(1);
    expect(found[0]?.job.id).toBe(scanId);
    // Once settled, the next lookup reads the store again (a job removed meanwhile is not served from memory).
    await producer.queue('scan').remove(scanId);
    expect(await findJob(producer, scanId, backend)).toBeNull();
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
