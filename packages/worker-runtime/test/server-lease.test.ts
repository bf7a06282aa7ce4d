import { setTimeout as sleep } from 'node:timers/promises';
import { randomUUID } from 'node:crypto';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestRedis, type TestRedis } from '@mm/testing';
import { ServerLeases } from '../src/server-lease.js';

let redis: TestRedis;
let leases: ServerLeases;

beforeAll(async () => {
  redis = await createTestRedis();
  leases = new ServerLeases(redis.redis, { prefix: redis.prefix, leaseMs: 1_000, renewEveryMs: 200, log: pino({ level: 'silent' }) });
});
afterAll(async () => {
  await redis?.cleanup();
});

describe('server leases (real Redis)', () => {
  it('one holder per server; others learn who holds it; release frees it', async () => {
    const server = randomUUID();
    const first = await leases.acquire(server, 'job-a');
    expect(first.acquired).toBe(true);
    expect(await leases.acquire(server, 'job-b')).toEqual({ acquired: false, holder: 'job-a' });
    // Another server is unaffected.
    const elsewhere = await leases.acquire(randomUUID(), 'job-b');
    expect(elsewhere.acquired).toBe(true);
    if (elsewhere.acquired) await elsewhere.lease.release();
    // The same job (a retry, a stalled job picked up again) takes its own lease back.
    expect((await leases.acquire(server, 'job-a')).acquired).toBe(true);
    if (first.acquired) await first.lease.release();
    expect(await redis.redis.exists(leases.key(server))).toBe(0);
    const second = await leases.acquire(server, 'job-b');
    expect(second.acquired).toBe(true);
    if (second.acquired) await second.lease.release();
  });

  it('is renewed while held, expires when its holder stops renewing, and a late release leaves the new holder alone', async () => {
    const server = randomUUID();
    const held = await leases.acquire(server, 'job-a');
    if (!held.acquired) throw new Error('not acquired');
    await sleep(1_500); // past leaseMs: only renewal keeps it
    expect(await redis.redis.get(leases.key(server))).toBe('job-a');

    // A holder that crashed renews nothing: simulate by taking the key over after it expires.
    await redis.redis.set(leases.key(server), 'job-a', 'PX', 50);
    await held.lease.release(); // compare-and-delete: still job-a, so deleted
    await redis.redis.set(leases.key(server), 'job-c', 'PX', 10_000);
    const stale = await leases.acquire(randomUUID(), 'job-a');
    if (stale.acquired) await stale.lease.release();
    await held.lease.release(); // idempotent, and never deletes job-c's lease
    expect(await redis.redis.get(leases.key(server))).toBe('job-c');
  });
});
