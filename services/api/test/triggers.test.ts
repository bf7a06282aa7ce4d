import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backups, updates } from '@mm/db';
import { JobPriority } from '@mm/jobs';
import { createTestApp, createServer, type TestApp } from './helpers/test-app.js';

let t: TestApp;
let serverId: string;
beforeAll(async () => {
  t = await createTestApp({ BODY_LIMIT_BYTES: '2048' });
  serverId = await createServer(t);
});
afterAll(async () => {
  await t?.close();
});

/** Every job in the three queues, whatever its state: what "nothing enqueued" is measured against. */
async function jobCount(): Promise<number> {
  const counts = await Promise.all(Object.values(t.app.producer.queues).map((q) => q.getJobCountByTypes('wait', 'prioritized', 'active', 'delayed', 'completed', 'failed')));
  return counts.reduce((a, b) => a + b, 0);
}

const post = (path: string, payload?: unknown, headers: Record<string, string> = {}) =>
  t.call('operator', { method: 'POST', url: `/api/servers/${serverId}/${path}`, ...(payload === undefined ? {} : { payload: payload as object }), headers });

describe('trigger routes', () => {
  it('backup: 202, one backup:manual job with priority HIGH, id = backupId, defaults applied', async () => {
    const before = await jobCount();
    const res = await post('backup', { backup_type: 'incremental' });
    expect(res.statusCode).toBe(202);
    const data = res.json().data;
    expect(data.status).toBe('pending');
    expect(data.jobId).toBe(data.backupId);
    const job = await t.app.producer.queue('backup').getJob(data.jobId);
    expect(job?.name).toBe('backup:manual');
    expect(job?.opts.priority).toBe(JobPriority.HIGH);
    expect(job?.data).toEqual({ serverId, backupId: data.backupId, userId: t.userIds.operator, options: { backup_type: 'incremental', compression: true, encryption: false }, isScheduled: false });
    expect(await jobCount()).toBe(before + 1);
    // The hot path writes nothing to PostgreSQL: the worker creates the record.
    expect(await t.database.db.select().from(backups)).toEqual([]);
  });

  it('backup with no body at all uses every default', async () => {
    const res = await post('backup');
    expect(res.statusCode, res.body).toBe(202);
    const job = await t.app.producer.queue('backup').getJob(res.json().data.jobId);
    expect(job?.data.options).toEqual({ backup_type: 'full', compression: true, encryption: false });
  });

  it('scan: scan:full and scan:quick with priority NORMAL', async () => {
    for (const scanType of ['full', 'quick']) {
      const res = await post('scan', { scan_type: scanType });
      expect(res.statusCode).toBe(202);
      const { scanId, jobId } = res.json().data;
      expect(jobId).toBe(scanId);
      const job = await t.app.producer.queue('scan').getJob(jobId);
      expect(job?.name).toBe(`scan:${scanType}`);
      expect(job?.opts.priority).toBe(JobPriority.NORMAL);
      expect(job?.data).toEqual({ serverId, scanId, userId: t.userIds.operator });
    }
  });

  it('update: update:server with priority CRITICAL and the package list', async () => {
    const res = await post('update', { dry_run: true, packages: ['openssl', 'libc6'] });
    expect(res.statusCode).toBe(202);
    const { updateId, jobId } = res.json().data;
    const job = await t.app.producer.queue('update').getJob(jobId);
    expect(job?.name).toBe('update:server');
    expect(job?.opts.priority).toBe(JobPriority.CRITICAL);
    expect(job?.data).toEqual({ serverId, updateId, userId: t.userIds.operator, options: { dry_run: true, packages: ['openssl', 'libc6'] } });
  });

  it('update: the reboot policy goes into the job', async () => {
    const res = await post('update', { dry_run: false, reboot: 'if-required' });
    expect(res.statusCode).toBe(202);
    const job = await t.app.producer.queue('update').getJob(res.json().data.jobId);
    expect(job?.data.options).toEqual({ dry_run: false, reboot: 'if-required' });
  });

  it('bad inputs get a 4xx envelope and enqueue nothing', async () => {
    const before = await jobCount();
    const cases: [string, () => Promise<{ statusCode: number; json(): { success: boolean; error: { code: string } } }>, number, string][] = [
      ['unknown field', () => post('backup', { backup_type: 'full', rm: true }), 400, 'VALIDATION_ERROR'],
      ['wrong type', () => post('backup', { compression: 'yes' }), 400, 'VALIDATION_ERROR'],
      ['bad enum', () => post('backup', { backup_type: 'differential' }), 400, 'VALIDATION_ERROR'],
      ['missing scan_type', () => post('scan', {}), 400, 'VALIDATION_ERROR'],
      ['shell in package name', () => post('update', { packages: ['openssl; reboot'] }), 400, 'VALIDATION_ERROR'],
      ['package with leading dash', () => post('update', { packages: ['-y'] }), 400, 'VALIDATION_ERROR'],
      ['unknown reboot policy', () => post('update', { dry_run: false, reboot: 'sometimes' }), 400, 'VALIDATION_ERROR'],
      ['array body', () => post('scan', [{ scan_type: 'full' }]), 400, 'VALIDATION_ERROR'],
      ['malformed JSON', () => t.call('operator', { method: 'POST', url: `/api/servers/${serverId}/scan`, payload: '{"scan_type": "full"', headers: { 'content-type': 'application/json' } }), 400, 'VALIDATION_ERROR'],
      ['oversized body', () => post('update', { packages: Array.from({ length: 300 }, (_, i) => `package-${i}`) }), 413, 'PAYLOAD_TOO_LARGE'],
      ['not JSON', () => t.call('operator', { method: 'POST', url: `/api/servers/${serverId}/scan`, payload: 'scan_type=full', headers: { 'content-type': 'application/x-www-form-urlencoded' } }), 415, 'UNSUPPORTED_MEDIA_TYPE'],
      ['bad server uuid', () => t.call('operator', { method: 'POST', url: '/api/servers/abc/scan', payload: { scan_type: 'full' } }), 400, 'VALIDATION_ERROR'],
      ['unknown server', () => t.call('operator', { method: 'POST', url: '/api/servers/00000000-0000-4000-8000-000000000000/backup', payload: {} }), 404, 'NOT_FOUND'],
      ['viewer', () => t.call('viewer', { method: 'POST', url: `/api/servers/${serverId}/scan`, payload: { scan_type: 'full' } }), 403, 'FORBIDDEN'],
      ['no token', () => t.call(null, { method: 'POST', url: `/api/servers/${serverId}/scan`, payload: { scan_type: 'full' } }), 401, 'UNAUTHORIZED'],
    ];
    for (const [name, send, status, code] of cases) {
      const res = await send();
      expect(res.statusCode, name).toBe(status);
      expect(res.json(), name).toMatchObject({ success: false, error: { code } });
    }
    expect(await jobCount()).toBe(before);
  });
});

describe('Idempotency-Key', () => {
  it('the same key from the same user returns the first answer and enqueues nothing new', async () => {
    const before = await jobCount();
    const first = await post('scan', { scan_type: 'full' }, { 'idempotency-key': 'k-1' });
    const again = await post('scan', { scan_type: 'full' }, { 'idempotency-key': 'k-1' });
    expect(first.statusCode).toBe(202);
    expect(again.statusCode).toBe(202);
    expect(again.json()).toEqual(first.json());
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(await jobCount()).toBe(before + 1);
  });

  it('another user with the same key gets a job of their own', async () => {
    const mine = await post('scan', { scan_type: 'quick' }, { 'idempotency-key': 'shared' });
    const theirs = await t.call('admin', { method: 'POST', url: `/api/servers/${serverId}/scan`, payload: { scan_type: 'quick' }, headers: { 'idempotency-key': 'shared' } });
    expect(theirs.statusCode).toBe(202);
    expect(theirs.json().data.jobId).not.toBe(mine.json().data.jobId);
  });

  it('the same key for a different request is a 409, and a failed request does not use the key up', async () => {
    await post('scan', { scan_type: 'full' }, { 'idempotency-key': 'k-2' });
    const other = await post('scan', { scan_type: 'quick' }, { 'idempotency-key': 'k-2' });
    expect(other.statusCode).toBe(409);

    const unknown = await t.call('operator', { method: 'POST', url: '/api/servers/00000000-0000-4000-8000-000000000000/scan', payload: { scan_type: 'full' }, headers: { 'idempotency-key': 'k-3' } });
    expect(unknown.statusCode).toBe(404);
    const retried = await post('scan', { scan_type: 'full' }, { 'idempotency-key': 'k-3' });
    expect(retried.statusCode).toBe(202);
    // k-1, shared (operator), shared (admin), k-2, k-3; kept a day: Redis keys, or rows of queue_kv on PostgreSQL.
    const pattern = `${t.redis.prefix}:mm:idempotency:`;
    const ttls =
      t.env.QUEUE_BACKEND === 'postgres'
        ? (await t.database.sql<{ ttl: number }[]>`select extract(epoch from expires_at - now())::int as ttl from queue_kv where starts_with(key, ${pattern})`).map((r) => r.ttl)
        : await Promise.all((await t.redis.redis.keys(`${pattern}*`)).map((key) => t.redis.redis.ttl(key)));
    expect(ttls.length).toBe(5);
    expect(Math.min(...ttls)).toBeGreaterThan(86_000);
  });
});

describe('record routes before and after the worker writes the record', () => {
  it('answers from the job with status pending, then from the record', async () => {
    const res = await post('update', { dry_run: false });
    const { updateId } = res.json().data;
    const pending = await t.call('viewer', { method: 'GET', url: `/api/updates/${updateId}` });
    expect(pending.statusCode).toBe(200);
    expect(pending.json().data).toMatchObject({ id: updateId, serverId, status: 'pending', source: 'job', options: { dry_run: false }, requestedBy: t.userIds.operator });

    await t.database.db.insert(updates).values({ id: updateId, serverId, status: 'completed', progress: 100, dryRun: false, result: { upgraded: ['openssl'] }, finishedAt: new Date() });
    const done = await t.call('viewer', { method: 'GET', url: `/api/updates/${updateId}` });
    expect(done.json().data).toMatchObject({ id: updateId, status: 'completed', progress: 100, result: { upgraded: ['openssl'] }, source: 'record', dryRun: false });
  });

  it('404 when neither the record nor the job exists, 400 for a bad id', async () => {
    for (const kind of ['backups', 'scans', 'updates']) {
      const res = await t.call('viewer', { method: 'GET', url: `/api/${kind}/00000000-0000-4000-8000-000000000000` });
      expect(res.statusCode).toBe(404);
      expect((await t.call('viewer', { method: 'GET', url: `/api/${kind}/nope` })).statusCode).toBe(400);
    }
  });

  it('a backup record from the database, a scan from its job', async () => {
    const backupId = crypto.randomUUID();
    await t.database.db.insert(backups).values({ id: backupId, serverId, status: 'running', progress: 40, backupType: 'full' });
    const b = await t.call('viewer', { method: 'GET', url: `/api/backups/${backupId}` });
    expect(b.json().data).toMatchObject({ id: backupId, status: 'running', progress: 40, backupType: 'full', source: 'record' });
    const scan = await post('scan', { scan_type: 'quick' });
    const s = await t.call('viewer', { method: 'GET', url: `/api/scans/${scan.json().data.scanId}` });
    expect(s.json().data).toMatchObject({ status: 'pending', options: { scan_type: 'quick' }, source: 'job' });
  });
});
