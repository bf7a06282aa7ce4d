import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backups, restores } from '@mm/db';
import { JobPriority } from '@mm/jobs';
import { createTestApp, createServer, type TestApp } from './helpers/test-app.js';

let t: TestApp;
let backupDir: string;
let serverId: string;

beforeAll(async () => {
  backupDir = await mkdtemp(join(tmpdir(), 'mm-api-backups-'));
  t = await createTestApp({ BACKUP_DIR: backupDir });
  serverId = await createServer(t, { name: 'web 1/prod' });
});
afterAll(async () => {
  await t?.close();
  if (backupDir) await rm(backupDir, { recursive: true, force: true });
});

/** Every backup-queue job, whatever its state: what "nothing enqueued" is measured against. */
async function jobCount(): Promise<number> {
  return t.app.producer.queue('backup').getJobCountByTypes('wait', 'prioritized', 'active', 'delayed', 'completed', 'failed');
}

interface StoredBackup {
  id: string;
  filePath: string;
  bytes: Buffer;
  sha256: string;
}

/** A backup record as the worker leaves it, with its file in BACKUP_DIR/<server>/<id>.tar.gz. */
async function storedBackup(overrides: Partial<typeof backups.$inferInsert> = {}): Promise<StoredBackup> {
  const id = randomUUID();
  const bytes = randomBytes(300_000);
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  await mkdir(join(backupDir, serverId), { recursive: true });
  const filePath = join(backupDir, serverId, `${id}.tar.gz`);
  await writeFile(filePath, bytes);
  await t.database.db.insert(backups).values({
    id,
    serverId,
    status: 'completed',
    compression: true,
    encryption: false,
    filePath,
    sizeBytes: bytes.length,
    sha256,
    finishedAt: new Date(),
    ...overrides,
  });
  return { id, filePath: (overrides.filePath as string | undefined) ?? filePath, bytes, sha256 };
}

const download = (role: 'admin' | 'operator' | 'viewer', id: string, method: 'GET' | 'HEAD' = 'GET') => t.call(role, { method, url: `/api/backups/${id}/download` });

describe('GET /api/backups/:id/download', () => {
  it('streams the stored bytes with length, type, file name and checksum headers', async () => {
    const backup = await storedBackup();
    const res = await download('operator', backup.id);
    expect(res.statusCode, res.body).toBe(200);
    expect(createHash('sha256').update(res.rawPayload).digest('hex')).toBe(backup.sha256);
    expect(res.rawPayload.equals(backup.bytes)).toBe(true);
    expect(res.headers).toMatchObject({
      'content-type': 'application/octet-stream',
      'content-length': String(backup.bytes.length),
      'content-disposition': `attachment; filename="web_1_prod-${backup.id}.tar.gz"`,
      'x-checksum-sha256': backup.sha256,
      'repr-digest': `sha-256=:${Buffer.from(backup.sha256, 'hex').toString('base64')}:`,
      'accept-ranges': 'none',
      'cache-control': 'no-store',
    });
  });

  it('HEAD answers the same headers without a body; admin may download too', async () => {
    const backup = await storedBackup({ encryption: true });
    const head = await download('admin', backup.id, 'HEAD');
    expect(head.statusCode).toBe(200);
    expect(head.rawPayload.length).toBe(0);
    expect(head.headers['content-length']).toBe(String(backup.bytes.length));
    expect(head.headers['x-checksum-sha256']).toBe(backup.sha256);
    expect(head.headers['content-disposition']).toBe(`attachment; filename="web_1_prod-${backup.id}.tar.gz.enc"`);
  });

  it('viewer 403, unknown 404, not completed 409, file gone 404, size changed 409', async () => {
    const backup = await storedBackup();
    expect((await download('viewer', backup.id)).statusCode).toBe(403);
    const unknown = await download('operator', randomUUID());
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json()).toMatchObject({ success: false, error: { code: 'NOT_FOUND' } });

    const running = await storedBackup({ status: 'running' });
    const conflictRes = await download('operator', running.id);
    expect(conflictRes.statusCode).toBe(409);
    expect(conflictRes.json().error.message).toBe(`Backup ${running.id} is running; only a completed backup has a file.`);

    const pruned = await storedBackup();
    await rm(pruned.filePath);
    const gone = await download('operator', pruned.id);
    expect(gone.statusCode).toBe(404);
    expect(gone.json().error.message).toBe(
      `The file of backup ${pruned.id} is not under BACKUP_DIR as this API process sees it (${backupDir}): it was removed outside the service, or the backup worker that wrote it uses another BACKUP_DIR than this API (repository targets need no shared folder).`,
    );

    const grown = await storedBackup();
    await writeFile(grown.filePath, Buffer.concat([grown.bytes, Buffer.from('x')]));
    const changed = await download('operator', grown.id);
    expect(changed.statusCode).toBe(409);
    expect(changed.json().error.message).toMatch(/is 300001 bytes but its record says 300000; verify the backup/);
  });

  it('never serves a file outside BACKUP_DIR, by record path or through a symlink', async () => {
    const outside = await mkdtemp(join(tmpdir(), 'mm-api-outside-'));
    try {
      const secret = join(outside, 'secret.tar');
      await writeFile(secret, 'not a backup');
      const forged = await storedBackup({ filePath: secret, sizeBytes: 12 });
      expect((await download('operator', forged.id)).statusCode).toBe(404);
      const linked = await storedBackup({ sizeBytes: 12 });
      await rm(linked.filePath);
      await symlink(secret, linked.filePath);
      const res = await download('operator', linked.id);
      expect(res.statusCode).toBe(404);
      expect(res.body).not.toContain('not a backup');
    } finally {
      await rm(outside, { recursive: true, force: true });
    }
  });
});

describe('POST /api/backups/:id/verify', () => {
  it('202 enqueues one backup:verify job (priority LOW) for a completed backup', async () => {
    const backup = await storedBackup();
    const before = await jobCount();
    const res = await t.call('operator', { method: 'POST', url: `/api/backups/${backup.id}/verify` });
    expect(res.statusCode, res.body).toBe(202);
    const data = res.json().data;
    expect(data).toMatchObject({ backupId: backup.id, status: 'pending' });
    const job = await t.app.producer.queue('backup').getJob(data.jobId);
    expect(job?.name).toBe('backup:verify');
    expect(job?.opts.priority).toBe(JobPriority.LOW);
    expect(job?.data).toEqual({ verifyId: data.jobId, backupId: backup.id, userId: t.userIds.operator });
    expect(await jobCount()).toBe(before + 1);
  });

  it('404 unknown, 409 not completed, 403 viewer; nothing enqueued', async () => {
    const running = await storedBackup({ status: 'failed' });
    const before = await jobCount();
    expect((await t.call('operator', { method: 'POST', url: `/api/backups/${randomUUID()}/verify` })).statusCode).toBe(404);
    expect((await t.call('operator', { method: 'POST', url: `/api/backups/${running.id}/verify` })).statusCode).toBe(409);
    expect((await t.call('viewer', { method: 'POST', url: `/api/backups/${running.id}/verify` })).statusCode).toBe(403);
    expect(await jobCount()).toBe(before);
  });
});

describe('POST /api/backups/:id/restore and GET /api/restores/:id', () => {
  const restore = (id: string, payload: object, role: 'admin' | 'operator' | 'viewer' = 'operator') =>
    t.call(role, { method: 'POST', url: `/api/backups/${id}/restore`, payload });

  it("202 enqueues backup:restore (priority HIGH) on the backup's own server by default; the record route answers from the job", async () => {
    const backup = await storedBackup();
    const res = await restore(backup.id, { targetPath: '/srv/restore here' });
    expect(res.statusCode, res.body).toBe(202);
    const data = res.json().data;
    expect(data).toEqual({ jobId: data.restoreId, restoreId: data.restoreId, backupId: backup.id, serverId, status: 'pending' });
    const job = await t.app.producer.queue('backup').getJob(data.jobId);
    expect(job?.name).toBe('backup:restore');
    expect(job?.opts.priority).toBe(JobPriority.HIGH);
    expect(job?.data).toEqual({ restoreId: data.restoreId, backupId: backup.id, serverId, targetPath: '/srv/restore here', userId: t.userIds.operator });

    const pending = await t.call('viewer', { method: 'GET', url: `/api/restores/${data.restoreId}` });
    expect(pending.statusCode).toBe(200);
    expect(pending.json().data).toMatchObject({ id: data.restoreId, serverId, status: 'pending', source: 'job' });

    await t.database.db.insert(restores).values({ id: data.restoreId, serverId, backupId: backup.id, targetPath: '/srv/restore here', status: 'completed', chain: [backup.id], bytes: 42 });
    const stored = await t.call('viewer', { method: 'GET', url: `/api/restores/${data.restoreId}` });
    expect(stored.json().data).toMatchObject({ status: 'completed', chain: [backup.id], bytes: 42, targetPath: '/srv/restore here', source: 'record' });
  });

  it('restores onto another server when serverId is given (admin: hardening-roles.test.ts); an unknown server is 404', async () => {
    const backup = await storedBackup();
    const other = await createServer(t, { name: 'web-2' });
    const res = await restore(backup.id, { targetPath: '/', serverId: other }, 'admin');
    expect(res.statusCode, res.body).toBe(202);
    expect((await t.app.producer.queue('backup').getJob(res.json().data.jobId))?.data).toMatchObject({ serverId: other, targetPath: '/' });
    const before = await jobCount();
    expect((await restore(backup.id, { targetPath: '/tmp/x', serverId: randomUUID() }, 'admin')).statusCode).toBe(404);
    expect(await jobCount()).toBe(before);
  });

  it.each([
    ['relative', { targetPath: 'srv/restore' }],
    ['a .. segment', { targetPath: '/srv/../etc' }],
    ['a trailing ..', { targetPath: '/srv/..' }],
    ['a NUL byte', { targetPath: '/srv/a\u0000b' }],
    ['a newline', { targetPath: '/srv/a\nb' }],
    ['empty', { targetPath: '' }],
    ['missing', {}],
    ['an unknown field', { targetPath: '/srv', extra: 1 }],
    ['a bad serverId', { targetPath: '/srv', serverId: 'nope' }],
  ])('400 for %s, and no job enqueued', async (_what, body) => {
    const backup = await storedBackup();
    const before = await jobCount();
    const res = await restore(backup.id, body);
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ success: false, error: { code: 'VALIDATION_ERROR' } });
    expect(await jobCount()).toBe(before);
  });

  it('404 unknown backup, 409 not completed, 403 viewer; nothing enqueued', async () => {
    const failed = await storedBackup({ status: 'failed' });
    const before = await jobCount();
    expect((await restore(randomUUID(), { targetPath: '/srv' })).statusCode).toBe(404);
    expect((await restore(failed.id, { targetPath: '/srv' })).statusCode).toBe(409);
    expect((await restore(failed.id, { targetPath: '/srv' }, 'viewer')).statusCode).toBe(403);
    expect(await jobCount()).toBe(before);
  });
});
