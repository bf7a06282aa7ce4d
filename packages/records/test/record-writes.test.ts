import { randomUUID } from 'node:crypto';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backups, restores, scans, servers, updates, users } from '@mm/db';
import { catalog, jobNames, recordIdOfJobId, type JobName, type PayloadOf } from '@mm/jobs';
import { createTestDatabase, type TestDatabase } from '@mm/testing';
import { cancelRecord, createRecordLifecycle, findOpenRecord, findRecordStatus, recordKindOf, recordKinds, reopenFailedRecord } from '../src/index.js';

let t: TestDatabase;

beforeAll(async () => {
  t = await createTestDatabase();
});

afterAll(async () => {
  await t?.drop();
});

async function newServer(): Promise<string> {
  const [row] = await t.db
    .insert(servers)
    .values({ name: `s-${randomUUID()}`, host: '10.0.0.1', username: 'root', authType: 'password', credentials: 'not-read-here' })
    .returning({ id: servers.id });
  return row!.id;
}

async function newUser(): Promise<string> {
  const [row] = await t.db.insert(users).values({ email: `${randomUUID()}@example.test`, passwordHash: 'x', role: 'operator' }).returning({ id: users.id });
  return row!.id;
}

/** A finished backup row for restores to point at (restores.backup_id is a foreign key). */
async function newBackup(serverId: string): Promise<string> {
  const id = randomUUID();
  await createRecordLifecycle<'backup'>(t.db, {
    name: 'backup:manual',
    payload: { serverId, backupId: id, userId: null, options: { backup_type: 'full', compression: true, encryption: false } },
    jobId: id,
    attempt: 1,
  }).start();
  return id;
}

const scanJob = (serverId: string, userId: string | null, attempt = 1) => {
  const scanId = randomUUID();
  const payload: PayloadOf<'scan:full'> = { serverId, scanId, userId };
  return { name: 'scan:full' as const, payload, jobId: scanId, attempt };
};

const scanRow = async (id: string) => (await t.db.select().from(scans).where(eq(scans.id, id)))[0];

describe('record kinds come from the catalog', () => {
  it('lists every table a catalog entry names, once, with the queue of the jobs that write it', () => {
    const named = new Set(jobNames.map((n) => catalog[n].record).filter((r) => r !== null));
    expect(recordKinds.map((k) => k.name).sort()).toEqual([...named].sort());
    expect(recordKinds.length).toBe(4);
    for (const kind of recordKinds) {
      expect(kind.jobNames.length).toBeGreaterThan(0);
      for (const name of kind.jobNames) expect(catalog[name].queue).toBe(kind.queue);
    }
    expect(recordKindOf('backup:restore')?.table).toBe(restores);
    expect(recordKindOf('update:server')?.table).toBe(updates);
    expect(recordKindOf('backup:scheduled')?.table).toBe(backups);
    expect(recordKindOf('backup:verify')).toBeNull();
    expect(recordKindOf('backup:cleanup')).toBeNull();
  });
});

describe('the lifecycle of a record', () => {
  it('start fills the columns the payload determines, complete ends it, and a finished record never moves again', async () => {
    const serverId = await newServer();
    const userId = await newUser();
    const job = scanJob(serverId, userId);
    const lifecycle = createRecordLifecycle<'scan'>(t.db, job);
    await lifecycle.start();
    let row = await scanRow(job.jobId);
    expect(row).toMatchObject({ status: 'running', scanType: 'full', serverId, requestedBy: userId, attempts: 1, error: null });
    expect(row!.startedAt).toBeInstanceOf(Date);

    await lifecycle.progress(42.4);
    expect((await scanRow(job.jobId))!.progress).toBe(42);
    await lifecycle.complete({ online: true, result: { ok: 1 } });
    row = await scanRow(job.jobId);
    expect(row).toMatchObject({ status: 'completed', progress: 100, online: true, result: { ok: 1 } });

    // Forward-only: neither a late failure, a progress write nor a restart touches a completed record.
    await lifecycle.fail('late', { final: true, cancelled: false });
    await lifecycle.progress(5);
    await createRecordLifecycle<'scan'>(t.db, { ...job, attempt: 2 }).start();
    expect(await scanRow(job.jobId)).toMatchObject({ status: 'completed', progress: 100, attempts: 1, error: null });
  });

  it('a failed attempt that will be retried keeps the record running; the last one fails it', async () => {
    const serverId = await newServer();
    const job = scanJob(serverId, null);
    await createRecordLifecycle<'scan'>(t.db, job).start();
    await createRecordLifecycle<'scan'>(t.db, job).fail('boom 1', { final: false, cancelled: false });
    expect(await scanRow(job.jobId)).toMatchObject({ status: 'running', attempts: 1, error: 'boom 1' });
    const second = createRecordLifecycle<'scan'>(t.db, { ...job, attempt: 2 });
    await second.start();
    expect(await scanRow(job.jobId)).toMatchObject({ status: 'running', attempts: 2, error: null });
    await second.fail('boom 2', { final: true, cancelled: false });
    const row = await scanRow(job.jobId);
    expect(row).toMatchObject({ status: 'failed', attempts: 2, error: 'boom 2' });
    expect(row!.finishedAt).toBeInstanceOf(Date);
  });

  it('a job that fails before creating its record still leaves one, with the payload columns (update: dry run, packages)', async () => {
    const serverId = await newServer();
    const updateId = randomUUID();
    const payload: PayloadOf<'update:server'> = { serverId, updateId, userId: null, options: { dry_run: true, packages: ['curl'] } };
    await createRecordLifecycle<'update'>(t.db, { name: 'update:server', payload, jobId: updateId, attempt: 3 }).fail('no route to host', { final: true, cancelled: false });
    const [row] = await t.db.select().from(updates).where(eq(updates.id, updateId));
    expect(row).toMatchObject({ status: 'failed', attempts: 3, dryRun: true, packages: ['curl'], error: 'no route to host', options: { dry_run: true, packages: ['curl'] } });
  });

  it('a requester deleted since the enqueue drops the link, not the record', async () => {
    const serverId = await newServer();
    const userId = await newUser();
    await t.db.delete(users).where(eq(users.id, userId));
    const job = scanJob(serverId, userId);
    await createRecordLifecycle<'scan'>(t.db, job).start();
    expect(await scanRow(job.jobId)).toMatchObject({ status: 'running', requestedBy: null });
  });

  it('a server deleted while its job waited: the final failure has nothing to attach to and does not throw', async () => {
    const serverId = await newServer();
    await t.db.delete(servers).where(eq(servers.id, serverId));
    const job = scanJob(serverId, null);
    await expect(createRecordLifecycle<'scan'>(t.db, job).fail('server gone', { final: true, cancelled: false })).resolves.toBeUndefined();
    expect(await scanRow(job.jobId)).toBeUndefined();
  });

  it('a scheduled backup, whose job id is a scheduler id, gets its record id derived from that id and isScheduled set', async () => {
    const serverId = await newServer();
    const jobId = `repeat:${randomUUID()}:1700000000000`;
    const payload: PayloadOf<'backup:scheduled'> = { serverId, scheduleId: randomUUID(), options: { backup_type: 'incremental', compression: false, encryption: true } };
    const lifecycle = createRecordLifecycle<'backup'>(t.db, { name: 'backup:scheduled', payload, jobId, attempt: 1 });
    await lifecycle.start({ filePath: '/tmp/x.tar' });
    const [row] = await t.db.select().from(backups).where(eq(backups.id, recordIdOfJobId(jobId)));
    expect(row).toMatchObject({ status: 'running', isScheduled: true, backupType: 'incremental', compression: false, encryption: true, filePath: '/tmp/x.tar' });
  });

  it('jobs without a record write nothing', async () => {
    const payload: PayloadOf<'backup:cleanup'> = { userId: null };
    const lifecycle = createRecordLifecycle<'backup'>(t.db, { name: 'backup:cleanup', payload, jobId: randomUUID(), attempt: 1 });
    await expect(lifecycle.start()).resolves.toBeUndefined();
    await expect(lifecycle.fail('x', { final: true, cancelled: false })).resolves.toBeUndefined();
  });
});

describe('cancelRecord (a job removed before it ran)', () => {
  const restoreJob = async (serverId: string, userId: string | null) => {
    const restoreId = randomUUID();
    const data = { restoreId, backupId: await newBackup(serverId), serverId, targetPath: '/srv/restore', userId };
    return { name: 'backup:restore' as JobName, data, id: restoreId };
  };

  it('inserts the cancelled record with the payload columns', async () => {
    const serverId = await newServer();
    const job = await restoreJob(serverId, await newUser());
    await cancelRecord(t.db, job, 'job cancelled before it ran: no longer needed');
    const [row] = await t.db.select().from(restores).where(eq(restores.id, job.id));
    expect(row).toMatchObject({ status: 'cancelled', targetPath: '/srv/restore', backupId: job.data.backupId, attempts: 0, error: 'job cancelled before it ran: no longer needed' });
    expect(row!.requestedBy).toBe(job.data.userId);
  });

  it('leaves a finished record alone, and ignores payloads the worker would refuse and jobs without a record', async () => {
    const serverId = await newServer();
    const job = scanJob(serverId, null);
    const lifecycle = createRecordLifecycle<'scan'>(t.db, job);
    await lifecycle.start();
    await lifecycle.complete();
    await cancelRecord(t.db, { name: 'scan:full', data: job.payload, id: job.jobId }, 'too late');
    expect(await scanRow(job.jobId)).toMatchObject({ status: 'completed', error: null });

    const bad = randomUUID();
    await cancelRecord(t.db, { name: 'scan:full', data: { serverId, scanId: bad, userId: null, extra: 1 }, id: bad }, 'x');
    expect(await scanRow(bad)).toBeUndefined();
    await expect(cancelRecord(t.db, { name: 'backup:cleanup', data: { userId: null }, id: randomUUID() }, 'x')).resolves.toBeUndefined();
    await expect(cancelRecord(t.db, { name: 'no:such', data: {}, id: randomUUID() }, 'x')).resolves.toBeUndefined();
  });
});

describe('reopenFailedRecord (POST /api/jobs/:id/retry)', () => {
  const failedScan = async () => {
    const job = scanJob(await newServer(), null);
    const lifecycle = createRecordLifecycle<'scan'>(t.db, job);
    await lifecycle.start();
    await lifecycle.fail('no route to host', { final: true, cancelled: false });
    return { job, bull: { name: 'scan:full', data: job.payload, id: job.jobId } };
  };

  it('moves a failed record back to pending (error and attempts kept) and retries; the next attempt runs and completes it', async () => {
    const { job, bull } = await failedScan();
    let retried = 0;
    expect(await reopenFailedRecord(t.db, bull, async () => void retried++)).toEqual({ outcome: 'reopened' });
    expect(retried).toBe(1);
    expect(await scanRow(job.jobId)).toMatchObject({ status: 'pending', attempts: 1, error: 'no route to host', finishedAt: null, progress: 0 });
    const next = createRecordLifecycle<'scan'>(t.db, { ...job, attempt: 2 });
    await next.start();
    expect(await scanRow(job.jobId)).toMatchObject({ status: 'running', attempts: 2, error: null });
    await next.complete();
    expect(await scanRow(job.jobId)).toMatchObject({ status: 'completed', attempts: 2 });
  });

  it('without it a failed record stays failed: a stale attempt cannot start, progress or complete it', async () => {
    const { job } = await failedScan();
    const stale = createRecordLifecycle<'scan'>(t.db, { ...job, attempt: 2 });
    await stale.start();
    await stale.progress(50);
    await stale.complete();
    expect(await scanRow(job.jobId)).toMatchObject({ status: 'failed', attempts: 1, error: 'no route to host' });
  });

  it('refuses a cancelled, completed or open record without retrying; retries a job that has no record', async () => {
    const serverId = await newServer();
    const cancelled = scanJob(serverId, null);
    await cancelRecord(t.db, { name: 'scan:full', data: cancelled.payload, id: cancelled.jobId }, 'job cancelled before it ran: by user x');
    const running = scanJob(serverId, null);
    await createRecordLifecycle<'scan'>(t.db, running).start();
    const never = async () => {
      throw new Error('must not retry');
    };
    expect(await reopenFailedRecord(t.db, { name: 'scan:full', data: cancelled.payload, id: cancelled.jobId }, never)).toEqual({ outcome: 'refused', status: 'cancelled' });
    expect(await scanRow(cancelled.jobId)).toMatchObject({ status: 'cancelled' });
    expect(await reopenFailedRecord(t.db, { name: 'scan:full', data: running.payload, id: running.jobId }, never)).toEqual({ outcome: 'refused', status: 'running' });

    let retried = 0;
    const none = scanJob(serverId, null);
    expect(await reopenFailedRecord(t.db, { name: 'scan:full', data: none.payload, id: none.jobId }, async () => void retried++)).toEqual({ outcome: 'no-record' });
    expect(await reopenFailedRecord(t.db, { name: 'backup:cleanup', data: { userId: null }, id: randomUUID() }, async () => void retried++)).toEqual({ outcome: 'no-record' });
    expect(retried).toBe(2);
    expect(await scanRow(none.jobId)).toBeUndefined();
  });

  it('puts the record back to failed, with its finish time, when the retry itself is refused', async () => {
    const { job, bull } = await failedScan();
    const before = await scanRow(job.jobId);
    await expect(
      reopenFailedRecord(t.db, bull, async () => {
        throw new Error('job is not in the failed state');
      }),
    ).rejects.toThrow('job is not in the failed state');
    expect(await scanRow(job.jobId)).toMatchObject({ status: 'failed', progress: before!.progress, finishedAt: before!.finishedAt, error: 'no route to host' });
  });
});

describe('lookups across record kinds', () => {
  it('findRecordStatus finds a record in any table by its job id; findOpenRecord finds a running one of a server', async () => {
    const serverId = await newServer();
    expect(await findOpenRecord(t.db, serverId)).toBeNull();
    const restoreId = randomUUID();
    const payload: PayloadOf<'backup:restore'> = { restoreId, backupId: await newBackup(serverId), serverId, targetPath: '/srv', userId: null };
    const lifecycle = createRecordLifecycle<'backup'>(t.db, { name: 'backup:restore', payload, jobId: restoreId, attempt: 1 });
    await lifecycle.start();
    await t.db.update(backups).set({ status: 'completed' }).where(eq(backups.serverId, serverId));
    expect(await findOpenRecord(t.db, serverId)).toEqual({ id: restoreId, kind: 'restores' });
    expect(await findRecordStatus(t.db, restoreId)).toMatchObject({ queue: 'backup', status: 'running' });
    await lifecycle.complete({ chain: [] });
    expect(await findOpenRecord(t.db, serverId)).toBeNull();
    expect(await findRecordStatus(t.db, restoreId)).toMatchObject({ queue: 'backup', status: 'completed', progress: 100 });
    expect(await findRecordStatus(t.db, randomUUID())).toBeNull();
  });
});
