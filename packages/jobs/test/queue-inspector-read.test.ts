import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPostgresBackend, FlowProducer, Job, type Queue, type Worker } from 'bullmq';
import { Redis } from 'ioredis';
import pg from 'pg';
import { createTestDatabase, createTestRedis, waitFor } from '@mm/testing';
import { createQueue, createWorker, POSTGRES_QUEUE_SCHEMA, runQueueMigrations, type AnyQueueConfig } from '../src/backend.js';
import { QueueName, queueAliases, type QueueAlias } from '../src/catalog.js';
import { postgresBroadcast } from '../src/stores/broadcast.js';
import { postgresQueueInspector, redisQueueInspector, type QueueInspector } from '../src/stores/queue-inspector.js';

/** One backend under test: its queue config, an inspector on it, a flow producer, and what to close afterwards. */
interface Backend {
  config: AnyQueueConfig;
  inspector: QueueInspector;
  flows: FlowProducer;
  /** Redis only: a plain connection and the key prefix, to leave a job hash outside every state. */
  raw?: { redis: Redis; prefix: string };
  close(): Promise<void>;
}

async function redisBackend(): Promise<Backend> {
  const test = await createTestRedis();
  const client = new Redis(test.url, { maxRetriesPerRequest: 1 });
  const flows = new FlowProducer({ connection: new Redis(test.url, { maxRetriesPerRequest: null }), prefix: test.prefix });
  return {
    config: { connection: test.url, prefix: test.prefix },
    inspector: redisQueueInspector(client, test.prefix),
    flows,
    raw: { redis: test.redis, prefix: test.prefix },
    async close() {
      await flows.close();
      client.disconnect();
      await test.cleanup();
    },
  };
}

async function postgresBackend(): Promise<Backend> {
  const db = await createTestDatabase();
  await runQueueMigrations(db.url);
  const pool = new pg.Pool({ connectionString: db.url, max: 2 });
  const flows = new FlowProducer({ connection: { connectionString: db.url, schema: POSTGRES_QUEUE_SCHEMA, max: 2, skipMigrations: true } }, createPostgresBackend);
  return {
    config: { kind: 'postgres', databaseUrl: db.url, prefix: 'mmtest' },
    inspector: postgresQueueInspector(pool, POSTGRES_QUEUE_SCHEMA, postgresBroadcast(pool, db.url)),
    flows: flows as unknown as FlowProducer,
    async close() {
      await flows.close();
      await pool.end();
      await db.drop();
    },
  };
}

/** A Job's own values, without the functions BullMQ binds per instance (toKey), which never compare equal. */
const fieldsOf = (job: Job): Record<string, unknown> => Object.fromEntries(Object.entries(job).filter(([, value]) => typeof value !== 'function'));

describe.each([
  ['Redis', redisBackend],
  ['PostgreSQL', postgresBackend],
])('QueueInspector.read on %s', (_name, open) => {
  let backend: Backend;
  let queues: Record<QueueAlias, Queue>;
  let worker: Worker;
  let releaseActive: () => void = () => {};
  const activeGate = new Promise<void>((resolve) => (releaseActive = resolve));

  beforeAll(async () => {
    backend = await open();
    queues = Object.fromEntries(queueAliases.map((q) => [q, createQueue(q, backend.config)])) as Record<QueueAlias, Queue>;
    // Only the scan queue has a worker: the backup and update queues keep their jobs where they were added.
    worker = createWorker(
      'scan',
      async (job) => {
        if (job.name === 'hold') await activeGate;
        if (job.name === 'boom') throw new Error('the host refused');
        return { scanned: job.data.n };
      },
      { ...backend.config, concurrency: 4 },
    );
  });

  afterAll(async () => {
    releaseActive();
    await worker?.close();
    await Promise.all(Object.values(queues ?? {}).map((q) => q.close()));
    await backend?.close();
  });

  /** read() against BullMQ's own reads: the same state as job.getState() and the same Job as queue.getJob(). */
  async function expectReadLikeBullmq(id: string, queue: QueueAlias, state: string): Promise<void> {
    const read = await backend.inspector.read(id);
    const job = await queues[queue].getJob(id);
    expect(job).toBeDefined();
    expect(read?.queue).toBe(queue);
    expect(read?.state).toBe(await (job as Job).getState());
    expect(read?.state).toBe(state);
    // The Job the API builds from the read equals getJob's field for field (data, opts, progress, results, parent...).
    expect(fieldsOf(Job.fromJSON(queues[queue], read?.job as never, id))).toEqual(fieldsOf(job as Job));
  }

  it('reads waiting, prioritized and delayed jobs, and a flow parent waiting for its child', async () => {
    await queues.backup.add('backup:manual', { serverId: 's1', n: 1 }, { jobId: 'waiting-1' });
    await queues.backup.add('backup:manual', { serverId: 's1', n: 2 }, { jobId: 'prioritized-1', priority: 2 });
    await queues.backup.add('backup:manual', { serverId: 's1', n: 3 }, { jobId: 'delayed-1', delay: 60_000 });
    await backend.flows.add({
      name: 'parent',
      queueName: QueueName.backup,
      data: { n: 4 },
      opts: { jobId: 'parent-1' },
      children: [{ name: 'child', queueName: QueueName.backup, data: { n: 5 }, opts: { jobId: 'child-1' } }],
    });
    await expectReadLikeBullmq('waiting-1', 'backup', 'waiting');
    await expectReadLikeBullmq('prioritized-1', 'backup', 'prioritized');
    await expectReadLikeBullmq('delayed-1', 'backup', 'delayed');
    await expectReadLikeBullmq('parent-1', 'backup', 'waiting-children');
    await expectReadLikeBullmq('child-1', 'backup', 'waiting');
  });

  it('reads active, completed and failed jobs with their progress, result and failure', async () => {
    await queues.scan.add('hold', { n: 1 }, { jobId: 'active-1' });
    await queues.scan.add('scan', { n: 7 }, { jobId: 'completed-1' });
    await queues.scan.add('boom', { n: 8 }, { jobId: 'failed-1', attempts: 1 });
    const stateIs = (id: string, state: string) => async () => (await queues.scan.getJobState(id)) === state;
    await waitFor(stateIs('active-1', 'active'), 'active-1 active', 15_000, 20);
    await waitFor(stateIs('completed-1', 'completed'), 'completed-1 completed', 15_000, 20);
    await waitFor(stateIs('failed-1', 'failed'), 'failed-1 failed', 15_000, 20);
    await expectReadLikeBullmq('active-1', 'scan', 'active');
    await expectReadLikeBullmq('completed-1', 'scan', 'completed');
    await expectReadLikeBullmq('failed-1', 'scan', 'failed');
    const completed = await backend.inspector.read('completed-1');
    expect(completed?.job.returnvalue && JSON.parse(completed.job.returnvalue)).toEqual({ scanned: 7 });
    expect((await backend.inspector.read('failed-1'))?.job.failedReason).toBe('the host refused');
  });

  it('reads a job added while its queue is paused as waiting, like BullMQ', async () => {
    await queues.update.pause();
    try {
      await queues.update.add('update:apply', { serverId: 's2' }, { jobId: 'paused-1' });
      await expectReadLikeBullmq('paused-1', 'update', 'waiting');
    } finally {
      await queues.update.resume();
    }
  });

  it('answers from the first queue in catalog order that holds the id, and null for an id no queue holds', async () => {
    await queues.update.add('update:apply', { serverId: 'in-update' }, { jobId: 'twin-1' });
    await queues.backup.add('backup:manual', { serverId: 'in-backup' }, { jobId: 'twin-1', priority: 1 });
    const twin = await backend.inspector.read('twin-1');
    expect(twin?.queue).toBe('backup');
    expect(JSON.parse(twin?.job.data ?? '{}')).toEqual({ serverId: 'in-backup' });
    await expectReadLikeBullmq('twin-1', 'backup', 'prioritized');
    await queues.update.add('update:apply', { serverId: 's3' }, { jobId: 'update-only-1' });
    await expectReadLikeBullmq('update-only-1', 'update', 'waiting');
    expect(await backend.inspector.read('no-such-job')).toBeNull();
    expect(await Promise.all(queueAliases.map((q) => queues[q].getJob('no-such-job')))).toEqual([undefined, undefined, undefined]);
  });

  it.runIf(_name === 'Redis')('reads a job hash held by no state list as unknown, like BullMQ', async () => {
    const { redis, prefix } = backend.raw as { redis: Redis; prefix: string };
    await queues.backup.add('backup:manual', { serverId: 's4' }, { jobId: 'orphan-1' });
    // What a reader can meet between two steps of a removal: the hash still there, the id in no list or set.
    await redis.lrem(`${prefix}:${QueueName.backup}:wait`, 0, 'orphan-1');
    await expectReadLikeBullmq('orphan-1', 'backup', 'unknown');
  });
});
