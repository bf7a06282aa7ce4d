import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scans } from '@mm/db';
import { expectErrorEnvelope } from './support/envelope.js';
import { enqueueScan } from './support/enqueue.js';
import { createStack, type Stack } from './support/stack.js';
import { databaseOutage, waitFor, type DatabaseOutage } from '@mm/testing';

/*
 * PostgreSQL unavailable, simulated on this test's own database only (connections refused and terminated):
 * the API answers 503 with its envelope, /health says database down, and a worker whose job meets the outage
 * waits it out (the job is delayed, no attempt used) however long it lasts, then runs it once the database is back.
 */

let stack: Stack;
let outage: DatabaseOutage;

beforeAll(async () => {
  stack = await createStack({ sshd: true });
  outage = databaseOutage(stack.db.name);
});

afterAll(async () => {
  await outage?.close();
  await stack?.cleanup();
});

describe('PostgreSQL unavailable', () => {
  it('API answers 503, and a scan that meets a long outage waits it out without using an attempt', { timeout: 120_000 }, async () => {
    const server = await stack.insertServer([]);
    const [api, worker] = await Promise.all([
      stack.startApi({ RATE_LIMIT_MAX: '100000' }),
      stack.startWorker('scan-worker', { DATABASE_RETRY_DELAY_MS: '1000' }),
    ] as const);

    await outage.begin();
    try {
      const health = await api.client.request('GET', '/health');
      expect(health).toMatchObject({ status: 503, body: { status: 'unavailable', redis: 'up', database: 'down' } });
      expectErrorEnvelope(await api.client.request('GET', '/api/servers'), 503, 'SERVICE_UNAVAILABLE');
      expectErrorEnvelope(await api.client.request('GET', `/api/servers/${server.id}`), 503, 'SERVICE_UNAVAILABLE');
      expectErrorEnvelope(await api.client.request('GET', '/api/auth/me'), 503, 'SERVICE_UNAVAILABLE');

      const scanId = await enqueueScan(stack.producer, server.id, 'scan:quick');
      const job = async () => {
        const found = await stack.producer.queue('scan').getJob(scanId);
        if (!found) throw new Error(`job ${scanId} vanished`);
        return found;
      };
      // Taken more often than its attempts allow: had a deferral counted as an attempt, the job would have used one
      // (and, after the catalog's backoff of 5 s then 10 s, failed) before that. The wait ends early on either, so
      // the assertions below say which; a deferral is the same however long the outage lasts (job-outcome.ts).
      const attempts = (await job()).opts.attempts ?? 1;
      await waitFor(
        async () => {
          const taken = await job();
          return taken.attemptsStarted > attempts || taken.attemptsMade > 0 || taken.failedReason !== undefined;
        },
        'the scan to be taken more times than its attempts',
        60_000,
        250,
      );
      const waiting = await job();
      // Taken several times (every DATABASE_RETRY_DELAY_MS), yet no attempt used and no failure recorded.
      expect(waiting.attemptsStarted).toBeGreaterThanOrEqual(3);
      expect(waiting.attemptsMade).toBe(0);
      expect(waiting.failedReason ?? null).toBeNull();
      expect(await stack.producer.queue('scan').getJobState(scanId)).toMatch(/^(delayed|waiting|prioritized|active)$/);
      expect(worker.output()).toContain('database unavailable: job deferred');

      await outage.end();
      await waitFor(async () => (await stack.producer.queue('scan').getJobState(scanId)) === 'completed', 'the deferred scan to complete', 60_000, 250);
      const [record] = await stack.db.db.select().from(scans).where(eq(scans.id, scanId));
      expect(record).toMatchObject({ id: scanId, status: 'completed', online: true, attempts: 1, error: null });
      // BullMQ counts the attempt that completed: one in all, none for the outage.
      expect((await job()).attemptsMade).toBe(1);
    } finally {
      await outage.end();
    }
    // The API recovers by itself.
    await waitFor(async () => (await api.client.request('GET', '/health')).status === 200, 'API health to recover');
    expect((await api.client.request('GET', `/api/servers/${server.id}`)).status).toBe(200);
    expect(await worker.stop('SIGTERM')).toEqual({ code: 0, signal: null });
    expect(await api.process.stop('SIGTERM')).toEqual({ code: 0, signal: null });
  });
});
