import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scans } from '@mm/db';
import { databaseOutage, type DatabaseOutage } from './support/database-outage.js';
import { expectErrorEnvelope } from './support/envelope.js';
import { enqueueScan } from './support/enqueue.js';
import { createStack, type Stack } from './support/stack.js';
import { waitFor } from './support/wait-for.js';

/*
 * PostgreSQL unavailable, simulated on this test's own database only (connections refused and terminated):
 * the API answers 503 with its envelope, /health says database down, and a worker whose job cannot write its
 * record fails the attempt and retries it later (catalog backoff 5 s, then 10 s) instead of losing the record.
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
  it('API answers 503 and a scan that cannot write its record is retried and recorded once the database is back', async () => {
    const server = await stack.insertServer([]);
    const [api, worker] = await Promise.all([stack.startApi({ RATE_LIMIT_MAX: '100000' }), stack.startWorker('scan-worker')] as const);

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
      // The first attempt fails on its record write and is scheduled again, not dropped.
      await waitFor(async () => (await job()).attemptsMade >= 1, 'the first attempt to fail');
      expect(await stack.producer.queue('scan').getJobState(scanId)).toMatch(/^(delayed|waiting|prioritized|active)$/);
      // What PostgreSQL said, not drizzle's SQL text with its parameters.
      const reason = (await job()).failedReason;
      expect(reason).toMatch(/^database query failed: .*(terminat|not currently accepting connections|connect)/i);
      expect(reason).not.toMatch(/Failed query|params:/);

      await outage.end();
      await waitFor(async () => (await stack.producer.queue('scan').getJobState(scanId)) === 'completed', 'the retried scan to complete', 60_000, 250);
      const [record] = await stack.db.db.select().from(scans).where(eq(scans.id, scanId));
      expect(record).toMatchObject({ id: scanId, status: 'completed', online: true });
      expect(record?.attempts).toBeGreaterThanOrEqual(2);
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
