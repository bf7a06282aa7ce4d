import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectCompletedRecords, expectNoOpenRecords, expectStoredArchives } from './support/consistency.js';
import { acceptedJobId, expectErrorEnvelope } from './support/envelope.js';
import { sparseSource } from './support/files.js';
import { startOwnRedis, type OwnRedis } from './support/redis-server.js';
import { createStack, type Stack } from './support/stack.js';
import { waitFor } from '@mm/testing';

/*
 * Redis restarted mid-run, on a redis-server of this test's own (AOF on, no RDB): jobs queued before the
 * restart survive it, the API answers 503 with its error envelope while Redis is away (the request completes;
 * its latency belongs to `pnpm bench`), /health says redis down, and the workers reconnect and drain by themselves.
 */

let own: OwnRedis;
let stack: Stack;

beforeAll(async () => {
  own = await startOwnRedis();
  stack = await createStack({ redisUrl: own.url, sshd: true });
});

afterAll(async () => {
  await stack?.cleanup();
  await own?.destroy();
});

describe('Redis restarted mid-run', () => {
  it('keeps queued jobs, answers 503 while down, and the workers drain after it is back', async () => {
    const source = await sparseSource(stack.sshd!, 'data', 24 * 1024 * 1024);
    const server = await stack.insertServer([source]);
    const [api, backupWorker, scanWorker] = await Promise.all([
      stack.startApi({ RATE_LIMIT_MAX: '100000' }),
      stack.startWorker('backup-worker'),
      stack.startWorker('scan-worker'),
    ] as const);

    const backups: string[] = [];
    const scans: string[] = [];
    for (let i = 0; i < 6; i++) backups.push(acceptedJobId(await api.client.request('POST', `/api/servers/${server.id}/backup`, { compression: false, encryption: false })));
    for (let i = 0; i < 10; i++) scans.push(acceptedJobId(await api.client.request('POST', `/api/servers/${server.id}/scan`, { scan_type: i % 2 ? 'full' : 'quick' })));
    // Backups of one server run one at a time (the others wait or are deferred) and last a while: some are still
    // queued when Redis goes away.
    const waitingBefore = await stack.producer.queue('backup').getJobs(['wait', 'prioritized', 'delayed']);
    expect(waitingBefore.length).toBeGreaterThan(0);

    await own.stop();
    await waitFor(async () => (await api.client.request('GET', '/health')).status === 503, '/health to notice Redis is down');
    const health = await api.client.request('GET', '/health');
    expect(health).toMatchObject({ status: 503, body: { status: 'unavailable', redis: 'down', database: 'up' } });
    expectErrorEnvelope(await api.client.request('POST', `/api/servers/${server.id}/scan`, { scan_type: 'quick' }), 503, 'SERVICE_UNAVAILABLE');
    expectErrorEnvelope(await api.client.request('GET', `/api/jobs/${backups[0]}`), 503, 'SERVICE_UNAVAILABLE');
    expectErrorEnvelope(await api.client.request('GET', '/api/jobs?limit=5'), 503, 'SERVICE_UNAVAILABLE');
    // Reads from PostgreSQL keep working without Redis.
    expect((await api.client.request('GET', `/api/servers/${server.id}`)).status).toBe(200);
    expect(backupWorker.running() && scanWorker.running()).toBe(true);

    await own.start();
    await waitFor(async () => (await api.client.request('GET', '/health')).status === 200, '/health to recover');
    await waitFor(() => stack.producer.queue('backup').getJobCounts().then(() => true, () => false), 'the test producer to reconnect');
    // The jobs that were waiting when Redis stopped are still there (AOF), untouched by the outage.
    for (const job of waitingBefore) expect(await stack.producer.queue('backup').getJobState(String(job.id))).not.toBe('unknown');
    scans.push(acceptedJobId(await api.client.request('POST', `/api/servers/${server.id}/scan`, { scan_type: 'quick' })));

    // Nobody restarts the workers: they reconnect and drain the queues themselves.
    const states = async (queue: 'backup' | 'scan', ids: string[]) => Promise.all(ids.map((id) => stack.producer.queue(queue).getJobState(id)));
    await waitFor(
      async () => [...(await states('backup', backups)), ...(await states('scan', scans))].every((s) => s === 'completed' || s === 'failed'),
      'both queues to drain',
      5 * 60_000,
      500,
    );
    await expectCompletedRecords(stack, 'backup', backups);
    await expectCompletedRecords(stack, 'scan', scans);
    await expectNoOpenRecords(stack);
    await expectStoredArchives(stack, server.id, backups);
    expect(backupWorker.running() && scanWorker.running()).toBe(true);

    expect(await api.process.stop('SIGTERM')).toEqual({ code: 0, signal: null });
    expect(await backupWorker.stop('SIGTERM')).toEqual({ code: 0, signal: null });
    expect(await scanWorker.stop('SIGTERM')).toEqual({ code: 0, signal: null });
  });
});
