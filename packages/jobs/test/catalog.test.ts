import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type QueueEvents, type Job } from 'bullmq';
import { createTestRedis, type TestRedis } from '@mm/testing';
import {
  InvalidPayloadError,
  JobPriority,
  createProcessor,
  createProducer,
  createQueueEvents,
  createWorker,
  jobNamesOf,
  recordIdOf,
  type Producer,
} from '../src/index.js';

let t: TestRedis;
let producer: Producer;

beforeAll(async () => {
  t = await createTestRedis();
  producer = createProducer({ connection: t.url, prefix: t.prefix });
});

afterAll(async () => {
  await producer.close();
  await t.cleanup();
});

const backupPayload = () => ({
  serverId: randomUUID(),
  backupId: randomUUID(),
  userId: randomUUID(),
  options: { backup_type: 'full' as const, compression: true, encryption: false },
  isScheduled: false,
});

describe('catalog', () => {
  it('maps each queue to exactly its job names', () => {
    expect(jobNamesOf('backup').sort()).toEqual(['backup:check-target', 'backup:cleanup', 'backup:manual', 'backup:purge-server', 'backup:restore', 'backup:scheduled', 'backup:verify']);
    expect(jobNamesOf('scan').sort()).toEqual(['scan:full', 'scan:quick']);
    expect(jobNamesOf('update')).toEqual(['update:server']);
  });
});

describe('enqueue', () => {
  it('stores the job under bull-style keys with the catalog name, id, priority and default options', async () => {
    const payload = backupPayload();
    const job = await producer.enqueue('backup:manual', payload);
    expect(job.id).toBe(payload.backupId);

    const raw = await t.redis.hgetall(`${t.prefix}:backup-queue:${payload.backupId}`);
    expect(raw.name).toBe('backup:manual');
    expect(JSON.parse(raw.data!)).toEqual(payload);
    expect(Number(raw.priority)).toBe(JobPriority.HIGH);
    const opts = JSON.parse(raw.opts!);
    expect(opts.attempts).toBe(3);
    expect(opts.backoff).toEqual({ type: 'exponential', delay: 5000 });
    expect(opts.removeOnComplete ?? opts.rOC).toEqual({ age: 604800, count: 1000 });
    expect(opts.removeOnFail ?? opts.rOF).toEqual({ age: 604800 });
    // A job with a priority waits in the prioritized set, not the wait list.
    expect(await producer.queue('backup').getJobState(payload.backupId)).toBe('prioritized');
  });

  it('gives scans NORMAL and updates CRITICAL priority on their own queues', async () => {
    const scanId = randomUUID();
    const updateId = randomUUID();
    await producer.enqueue('scan:quick', { serverId: randomUUID(), scanId, userId: null });
    await producer.enqueue('update:server', { serverId: randomUUID(), updateId, userId: null, options: { dry_run: true } });
    expect(Number(await t.redis.hget(`${t.prefix}:scan-queue:${scanId}`, 'priority'))).toBe(JobPriority.NORMAL);
    expect(Number(await t.redis.hget(`${t.prefix}:update-queue:${updateId}`, 'priority'))).toBe(JobPriority.CRITICAL);
    expect(await t.redis.exists(`${t.prefix}:backup-queue:${scanId}`)).toBe(0);
  });

  it('applies schema defaults to options', async () => {
    const updateId = randomUUID();
    const job = await producer.enqueue('update:server', { serverId: randomUUID(), updateId, userId: null, options: {} as never });
    expect(job.data).toMatchObject({ options: { dry_run: false } });
  });

  it('is idempotent for a repeated record id', async () => {
    const payload = backupPayload();
    await producer.enqueue('backup:manual', payload);
    await producer.enqueue('backup:manual', payload);
    const waiting = await producer.queue('backup').getJobs(['prioritized', 'waiting']);
    expect(waiting.filter((j) => j.id === payload.backupId)).toHaveLength(1);
  });

  it.each([
    ['a non-uuid server id', { ...backupPayload(), serverId: 'not-a-uuid' }],
    ['an unknown backup type', { ...backupPayload(), options: { backup_type: 'weekly', compression: true, encryption: false } }],
    ['an extra field (a secret must not ride along)', { ...backupPayload(), password: 'hunter2' }],
    ['a missing field', { ...backupPayload(), isScheduled: undefined }],
  ])('rejects %s and enqueues nothing', async (_label, payload) => {
    const before = await producer.queue('backup').getJobCounts();
    await expect(producer.enqueue('backup:manual', payload as never)).rejects.toBeInstanceOf(InvalidPayloadError);
    expect(await producer.queue('backup').getJobCounts()).toEqual(before);
  });

  it('rejects package names that could reach a shell as options', async () => {
    const bad = { serverId: randomUUID(), updateId: randomUUID(), userId: null, options: { dry_run: true, packages: ['curl; rm -rf /'] } };
    await expect(producer.enqueue('update:server', bad)).rejects.toThrow(/packages\/0/);
  });
});

describe('processor', () => {
  it('re-validates the payload: an invalid job fails once, without retries, before its handler runs', async () => {
    const seen: string[] = [];
    const processor = createProcessor(
      'scan',
      {
        'scan:full': async (p) => {
          seen.push(`full ${p.scanId}`);
          return { findings: 0, notes: 0, critical: [] };
        },
        'scan:quick': async (p) => seen.push(`quick ${p.scanId}`),
      },
      () => ({}),
    );
    const worker = createWorker('scan', processor, { connection: t.url, prefix: t.prefix, concurrency: 1 });
    const events: QueueEvents = createQueueEvents('scan', { connection: t.url, prefix: t.prefix });
    await events.waitUntilReady();
    try {
      const good = randomUUID();
      const goodJob = await producer.enqueue('scan:quick', { serverId: randomUUID(), scanId: good, userId: null });
      // Bypass enqueue's validation to simulate a corrupt or forged job.
      const badJob: Job = await producer.queue('scan').add('scan:full', { serverId: 'x', scanId: 'y' }, { jobId: randomUUID(), attempts: 3 });
      const unknown: Job = await producer.queue('scan').add('scan:deep', { scanId: randomUUID() }, { jobId: randomUUID(), attempts: 3 });

      await goodJob.waitUntilFinished(events, 20_000);
      await expect(badJob.waitUntilFinished(events, 20_000)).rejects.toThrow(/invalid payload for scan:full/);
      await expect(unknown.waitUntilFinished(events, 20_000)).rejects.toThrow(/unknown job name "scan:deep"/);

      const failed = await producer.queue('scan').getJob(badJob.id!);
      expect(failed?.attemptsMade).toBe(1);
      // Earlier tests left a scan:quick waiting too; what matters is that no handler ran for the bad jobs.
      expect(seen).toContain(`quick ${good}`);
      expect(seen.filter((s) => s.startsWith('full'))).toEqual([]);
    } finally {
      await worker.close();
      await events.close();
    }
  });

  it('refuses a handler map that does not match the catalog', () => {
    // @ts-expect-error the compiler demands a handler for scan:full too
    expect(() => createProcessor('scan', { 'scan:quick': async () => 1 }, () => ({}))).toThrow(/missing \[scan:full\]/);
    expect(() =>
      createProcessor(
        'update',
        // @ts-expect-error and refuses a handler for a name that is not on this queue
        { 'update:server': async () => 1, 'scan:quick': async () => 1 },
        () => ({}),
      ),
    ).toThrow(/unknown \[scan:quick\]/);
  });
});

describe('recordIdOf', () => {
  it('takes the payload id field when the catalog names one', () => {
    const payload = backupPayload();
    expect(recordIdOf('backup:manual', payload, 'ignored')).toBe(payload.backupId);
  });

  it('derives one stable UUID per scheduler job id, and keeps a UUID job id as it is', () => {
    const data = { serverId: randomUUID(), scheduleId: randomUUID(), options: { backup_type: 'full', compression: true, encryption: false } };
    const a = recordIdOf('backup:scheduled', data, 'repeat:abc:1732790000000');
    expect(a).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(recordIdOf('backup:scheduled', data, 'repeat:abc:1732790000000')).toBe(a);
    expect(recordIdOf('backup:scheduled', data, 'repeat:abc:1732790060000')).not.toBe(a);
    const uuid = randomUUID();
    expect(recordIdOf('backup:scheduled', data, uuid)).toBe(uuid);
  });

  it('gives producer-added jobs without an id field a random UUID job id', async () => {
    const data = { serverId: randomUUID(), scheduleId: randomUUID(), options: { backup_type: 'full' as const, compression: true, encryption: false } };
    const job = await producer.enqueue('backup:scheduled', data);
    expect(job.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-/);
    expect(recordIdOf('backup:scheduled', job.data, String(job.id))).toBe(job.id);
  });
});
