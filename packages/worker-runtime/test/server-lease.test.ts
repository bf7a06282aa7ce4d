import { setTimeout as sleep } from 'node:timers/promises';
import { randomUUID } from 'node:crypto';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestRedis, type TestRedis } from '@mm/testing';
import { redisLeaseStore } from '@mm/jobs';
import { ServerLeases } from '../src/server-lease.js';

let redis: TestRedis;
let leases: ServerLeases;
const never = () => {
  throw new Error('lease reported lost');
};

beforeAll(async () => {
  redis = await createTestRedis();
  leases = new ServerLeases(redisLeaseStore(redis.redis, redis.prefix), { prefix: redis.prefix, leaseMs: 1_000, renewEveryMs: 200, log: pino({ level: 'silent' }) });
});
afterAll(async () => {
  await redis?.cleanup();
});

describe('server leases (real Redis)', () => {
  it('one holder per server; others learn which job holds it; release frees it', async () => {
    const server = randomUUID();
    const first = await leases.acquire(server, 'job-a', 'token-1', never);
    expect(first.acquired).toBe(true);
    expect(await leases.acquire(server, 'job-b', 'token-2', never)).toEqual({ acquired: false, holder: 'job-a' });
    // Another server is unaffected.
    const elsewhere = await leases.acquire(randomUUID(), 'job-b', 'token-2', never);
    expect(elsewhere.acquired).toBe(true);
    if (elsewhere.acquired) await elsewhere.lease.release();
    // The same job taken again by another worker (stalled, picked up elsewhere: a new lock token) must wait too.
    expect(await leases.acquire(server, 'job-a', 'token-3', never)).toEqual({ acquired: false, holder: 'job-a' });
    if (first.acquired) await first.lease.release();
    expect(await redis.redis.exists(leases.key(server))).toBe(0);
    const second = await leases.acquire(server, 'job-b', 'token-2', never);
    expect(second.acquired).toBe(true);
    if (second.acquired) await second.lease.release();
  });

  it('is renewed while held; a lease taken over after expiry is reported lost once, and a late release leaves the new holder alone', async () => {
    const server = randomUUID();
    let lost = 0;
    const held = await leases.acquire(server, 'job-a', 'token-1', () => lost++);
    if (!held.acquired) throw new Error('not acquired');
    await sleep(1_500); // past leaseMs: only renewal keeps it
    expect(await redis.redis.get(leases.key(server))).toBe('job-a|token-1');
    expect(lost).toBe(0);

    // The holder's lease expired (Redis stalled, say) and another job took the server.
    await redis.redis.set(leases.key(server), 'job-c|token-9', 'PX', 10_000);
    await sleep(600); // a few renewal rounds
    expect(lost).toBe(1);
    await held.lease.release(); // compare-and-delete: never deletes job-c's lease
    expect(await redis.redis.get(leases.key(server))).toBe('job-c|token-9');
  });
});
