import { randomUUID } from 'node:crypto';
import type { Job } from 'bullmq';
import { asc } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '@mm/config';
import { servers, webhookDeliveries, webhooks } from '@mm/db';
import { readJob } from '@mm/jobs';
import { createTestDatabase, type TestDatabase } from '@mm/testing';
import { createWebhookOutbox, type WebhookOutbox } from '../src/webhook-outbox.js';

let testDb: TestDatabase;
let outbox: WebhookOutbox;
let serverId: string;
let failedHook: string;
let resultsHook: string;

/** The fields of a BullMQ job the outbox reads; the real Job class needs a live queue for nothing it uses here. */
const job = (name: string, data: Record<string, unknown>, extra: Partial<Job> = {}) => ({ id: randomUUID(), name, data, attemptsMade: 0, processedOn: Date.now(), ...extra }) as unknown as Job;

const deliveries = () => testDb.db.select().from(webhookDeliveries).orderBy(asc(webhookDeliveries.createdAt));

beforeAll(async () => {
  testDb = await createTestDatabase();
  outbox = createWebhookOutbox(testDb.db, createLogger({ name: 'test', level: 'silent', pretty: false }));
  const [server] = await testDb.db.insert(servers).values({ name: 's', host: 'h', username: 'u', authType: 'password', credentials: 'x' }).returning();
  serverId = server!.id;
  const hooks = await testDb.db
    .insert(webhooks)
    .values([
      { url: 'https://a.example/', events: ['job.failed'], secretEncrypted: 'x' },
      { url: 'https://b.example/', events: ['backup.completed', 'scan.critical_finding'], secretEncrypted: 'x' },
    ])
    .returning();
  [failedHook, resultsHook] = [hooks[0]!.id, hooks[1]!.id];
});

afterAll(async () => {
  await testDb?.drop();
});

describe('webhook outbox', () => {
  it('queues backup.completed once per backup, for the subscribed webhook only, with summary fields', async () => {
    const backupId = randomUUID();
    const j = job('backup:manual', { serverId, backupId, userId: null, options: {}, isScheduled: false });
    const result = { backupId, backupType: 'full', filePath: '/var/backups/x.tar.gz', sizeBytes: 1234, sha256: 'ab'.repeat(32), warnings: [] };
    await outbox.jobCompleted('backup', j, readJob('backup', j), result);
    await outbox.jobCompleted('backup', j, readJob('backup', j), result); // a re-run of the same finished backup
    const rows = await deliveries();
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ webhookId: resultsHook, event: 'backup.completed', status: 'pending', attempts: 0, dedupKey: backupId });
    expect(rows[0]!.payload).toMatchObject({ event: 'backup.completed', data: { jobId: j.id, serverId, backupId, backupType: 'full', sizeBytes: 1234, sha256: 'ab'.repeat(32) } });
    expect(JSON.stringify(rows[0]!.payload)).not.toContain('/var/backups');
  });

  it('queues scan.critical_finding only for a full scan whose result has a critical finding', async () => {
    const critical = randomUUID();
    const mild = randomUUID();
    const quick = randomUUID();
    const finding = { code: 'disk-usage', message: '/ is 99% full' };
    const before = (await deliveries()).length;
    const completed = (name: 'scan:full' | 'scan:quick', scanId: string, result: unknown) => {
      const j = job(name, { serverId, scanId, userId: null });
      return outbox.jobCompleted('scan', j, readJob('scan', j), result);
    };
    await completed('scan:full', mild, { findings: 1, notes: 0, critical: [] });
    // A quick scan raises no events, whatever its result holds.
    await completed('scan:quick', quick, { findings: 1, notes: 0, critical: [finding] });
    expect(await deliveries()).toHaveLength(before);
    await completed('scan:full', critical, { findings: 2, notes: 0, critical: [finding] });
    const rows = await deliveries();
    expect(rows).toHaveLength(before + 1);
    expect(rows.at(-1)).toMatchObject({ webhookId: resultsHook, event: 'scan.critical_finding', dedupKey: critical });
    expect(rows.at(-1)!.payload).toMatchObject({ data: { scanId: critical, serverId, findings: [{ code: 'disk-usage', message: '/ is 99% full' }] } });
  });

  it('queues job.failed for a final failure, one per failure of a job retried by hand', async () => {
    const before = (await deliveries()).length;
    const j = job('update:server', { serverId, updateId: randomUUID(), userId: null, options: {} }, { attemptsMade: 2 });
    await outbox.jobFailed('update', j, 'apt-get exploded');
    await outbox.jobFailed('update', { ...j, processedOn: (j.processedOn ?? 0) + 1 } as Job, 'apt-get exploded again');
    const rows = (await deliveries()).slice(before);
    expect(rows.map((r) => r.webhookId)).toEqual([failedHook, failedHook]);
    expect(rows[0]!.payload).toMatchObject({ event: 'job.failed', data: { jobId: j.id, queue: 'update', jobName: 'update:server', serverId, attempts: 3, error: 'apt-get exploded' } });
  });

  it('never fails the job when the outbox cannot be written', async () => {
    const broken = createWebhookOutbox(testDb.db, createLogger({ name: 'test', level: 'silent', pretty: false }));
    // A dedup key the outbox cannot store (NUL is not valid in PostgreSQL text) fails the insert; the call still resolves.
    const j = job('scan:full', { serverId, scanId: randomUUID(), userId: null });
    const read = readJob('scan', j);
    await expect(broken.jobCompleted('scan', j, read, { findings: 1, notes: 0, critical: [{ code: 'x\u0000', message: 'y\u0000' }] })).resolves.toBeUndefined();
  });
});
