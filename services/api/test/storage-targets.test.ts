import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditLog, backups, servers, storageTargetChecks, storageTargets } from '@mm/db';
import { Queue } from 'bullmq';
import { QueueName } from '@mm/jobs';
import {
  ensureDebianPackage,
  startTestRestServer,
  startTestS3Server,
  startTestSshd,
  type TestRestServer,
  type TestS3Server,
  type TestSshd,
} from '@mm/testing';
import { createServer, createTestApp, type TestApp } from './helpers/test-app.js';
import { waitUntil } from './helpers/throwaway-worker.js';

let t: TestApp;
let dir: string;
let s3: TestS3Server;
let rest: TestRestServer;
let sshd: TestSshd;

beforeAll(async () => {
  await ensureDebianPackage('/usr/bin/restic', 'restic');
  dir = await mkdtemp(join(tmpdir(), 'mm-targets-'));
  [t, s3, rest, sshd] = await Promise.all([
    createTestApp({ BACKUP_DIR: join(dir, 'backups'), BACKUP_REPOSITORY_PASSWORD: 'default-repo-password' }),
    startTestS3Server(),
    startTestRestServer({ appendOnly: true }),
    startTestSshd(),
  ]);
});
afterAll(async () => {
  await Promise.all([t?.close(), s3?.stop(), rest?.stop(), sshd?.stop()]);
  await rm(dir, { recursive: true, force: true });
});

interface Target {
  id: string;
  name: string;
  engine: string;
  isDefault: boolean;
  repository: string;
  location: Record<string, unknown>;
  backupCount: number;
  repositoryState?: string;
  snapshotCount?: number | null;
  sizeBytes?: number | null;
  statsError?: string | null;
  lastCheck: { id: string; status: string } | null;
}

const create = (body: Record<string, unknown>, role: 'admin' | 'operator' | 'viewer' = 'admin') =>
  t.call(role, { method: 'POST', url: '/api/storage-targets', payload: body });

const s3Location = (extra: Record<string, unknown> = {}) => ({
  type: 's3',
  endpoint: s3.endpoint,
  bucket: s3.bucket,
  prefix: 'api-test',
  accessKeyId: s3.accessKeyId,
  secretAccessKey: s3.secretAccessKey,
  caCertPem: s3.caCertPem,
  ...extra,
});

const rowCount = async () => (await t.database.db.select().from(storageTargets)).length;

describe('bad definitions', () => {
  it.each([
    ['an unknown type', { name: 'x1', engine: 'restic', location: { type: 'ftp', path: '/srv' } }, /type must be one of local, s3, rest, sftp/],
    ['a relative local path', { name: 'x2', engine: 'restic', location: { type: 'local', path: 'var/repo' } }, /absolute/],
    ['a .. segment', { name: 'x3', engine: 'restic', location: { type: 'local', path: '/srv/../etc' } }, /\.\./],
    ['a missing bucket', { name: 'x4', engine: 'restic', location: { type: 's3', endpoint: 'https://s3.example.test', accessKeyId: 'a', secretAccessKey: 'b' } }, /bucket/],
    ['an http S3 endpoint', { name: 'x5', engine: 'restic', location: { type: 's3', endpoint: 'http://127.0.0.1:9', bucket: 'bkt', accessKeyId: 'a', secretAccessKey: 'b' } }, /STORAGE_ALLOW_INSECURE_S3/],
    ['an S3 endpoint with a path', { name: 'x6', engine: 'restic', location: { type: 's3', endpoint: 'https://h.test/bkt', bucket: 'bkt', accessKeyId: 'a', secretAccessKey: 'b' } }, /scheme, host and port/],
    ['the reserved name', { name: 'default', engine: 'restic', location: { type: 'local', path: '/srv/r' } }, /reserved|environment/],
    ['an archive target on S3', { name: 'x7', engine: 'archive', location: { type: 's3', endpoint: 'https://s3.example.test', bucket: 'bkt', accessKeyId: 'a', secretAccessKey: 'b' } }, /archive engine stores one plain file per backup in a local folder/],
    ['an archive target with a repository password', { name: 'x7b', engine: 'archive', location: { type: 'local', path: '/srv/a' }, password: 'a-password-1' }, /restic repository password; the archive engine has none/],
    ['an archive target on a folder the API does not see', { name: 'x7c', engine: 'archive', location: { type: 'local', path: '/nonexistent-mm-archive-folder' } }, /not a folder on the API host/],
    ['a broken CA certificate', { name: 'x9', engine: 'restic', location: { type: 'rest', url: 'https://h.test/', caCertPem: `-----BEGIN CERTIFICATE-----\n${'A'.repeat(80)}\n-----END CERTIFICATE-----` } }, /PEM certificate/],
    ['REST credentials in the URL', { name: 'x10', engine: 'restic', location: { type: 'rest', url: 'https://u:p@h.test/' } }, /credentials/],
    ['a relative SFTP path', { name: 'x11', engine: 'restic', location: { type: 'sftp', host: '127.0.0.1', port: 22, username: 'u', privateKey: `-----BEGIN OPENSSH PRIVATE KEY-----\n${'a'.repeat(60)}\n-----END OPENSSH PRIVATE KEY-----`, path: 'repo', hostKeyFingerprint: `SHA256:${'A'.repeat(43)}` } }, /absolute/],
  ])('%s is a 400 and stores nothing', async (_what, body, message) => {
    const res = await create(body);
    expect(res.statusCode, res.body).toBe(400);
    const error = res.json<{ success: boolean; error: { code: string; message: string } }>();
    expect(error.success).toBe(false);
    expect(error.error.code).toBe('VALIDATION_ERROR');
    expect(JSON.stringify(error.error)).toMatch(message);
    expect(await rowCount()).toBe(0);
  });

  it.each([
    ['an S3 endpoint on the cloud metadata address', { type: 's3', endpoint: 'https://169.254.169.254', bucket: 'bkt', accessKeyId: 'a', secretAccessKey: 'b' }, /location\.endpoint 169\.254\.169\.254 is a loopback, private, link-local or metadata address/],
    ['a REST server on a private address', { type: 'rest', url: 'https://10.1.2.3:8000/repo/' }, /location\.url 10\.1\.2\.3 is a loopback/],
    ['a REST server on a name resolving to loopback', { type: 'rest', url: 'http://localhost:8000/repo/' }, /localhost \(resolves to (127\.0\.0\.1|::1)\) is a loopback/],
    ['an SFTP host on a private IPv6 address', { type: 'sftp', host: 'fd00::5', port: 22, username: 'u', privateKey: `-----BEGIN OPENSSH PRIVATE KEY-----\n${'a'.repeat(60)}\n-----END OPENSSH PRIVATE KEY-----`, path: '/srv/r', hostKeyFingerprint: `SHA256:${'A'.repeat(43)}` }, /location\.host fd00::5 is a loopback/],
  ])('the SSRF guard webhooks use refuses %s (400, nothing stored, restic never started)', async (_what, location, message) => {
    const res = await create({ name: 'internal', engine: 'restic', location });
    expect(res.statusCode, res.body).toBe(400);
    expect(res.json<{ error: { code: string; message: string } }>().error).toMatchObject({ code: 'VALIDATION_ERROR', message: expect.stringMatching(message) as unknown as string });
    expect(res.body).toMatch(/STORAGE_ALLOWED_HOSTS/);
    expect(await rowCount()).toBe(0);
  });

  it('checks the host again when it reads a target: one stored before the guard (or whose name moved) is not contacted', async () => {
    const id = randomUUID();
    await t.database.db.insert(storageTargets).values({ id, name: 'pre-guard', engine: 'restic', locationType: 'rest', location: { type: 'rest', url: 'https://169.254.169.254/latest/' }, secrets: 'st1.not-read' });
    try {
      const res = await t.call('viewer', { method: 'GET', url: `/api/storage-targets/${id}` });
      expect(res.statusCode, res.body).toBe(200);
      expect(res.json<{ data: Target }>().data).toMatchObject({ snapshotCount: null, sizeBytes: null, statsError: expect.stringMatching(/^not read: 169\.254\.169\.254 is a loopback, private, link-local or metadata address/) as unknown as string });
    } finally {
      await t.database.db.delete(storageTargets).where(eq(storageTargets.id, id));
    }
  });

  it('only admins create targets', async () => {
    for (const role of ['operator', 'viewer'] as const) {
      const res = await create({ name: 'nope', engine: 'restic', location: { type: 'local', path: join(dir, 'nope') } }, role);
      expect(res.statusCode).toBe(403);
    }
    expect(await rowCount()).toBe(0);
  });
});

describe('restic targets', () => {
  let s3Target: Target;

  it('lists the default target from the environment first', async () => {
    const res = await t.call('viewer', { method: 'GET', url: '/api/storage-targets' });
    expect(res.statusCode).toBe(200);
    const [first] = res.json<{ data: Target[] }>().data;
    expect(first).toMatchObject({ id: 'default', name: 'default', engine: 'restic', isDefault: true, repository: join(dir, 'backups', 'repository') });
    expect(res.body).not.toContain('default-repo-password');
  });

  it('creates a local repository with a generated password that is never returned', async () => {
    const path = join(dir, 'local-repo');
    const res = await create({ name: 'local-one', engine: 'restic', location: { type: 'local', path } });
    expect(res.statusCode, res.body).toBe(201);
    const target = res.json<{ data: Target }>().data;
    expect(target).toMatchObject({ name: 'local-one', engine: 'restic', repositoryState: 'created', repository: path, location: { type: 'local', path } });
    expect(await readdir(path)).toEqual(expect.arrayContaining(['config', 'keys', 'data', 'snapshots']));
    const [row] = await t.database.db.select().from(storageTargets).where(eq(storageTargets.id, target.id));
    expect(row?.secrets).toMatch(/^st1\./);
    const detail = await t.call('viewer', { method: 'GET', url: `/api/storage-targets/${target.id}` });
    expect(detail.statusCode).toBe(200);
    expect(detail.json<{ data: Target }>().data).toMatchObject({ snapshotCount: 0, statsError: null, backupCount: 0 });
    expect(detail.json<{ data: Target }>().data.sizeBytes).toBeGreaterThanOrEqual(0);
  });

  it('creates an S3 repository over HTTPS; keys live encrypted and never come back', async () => {
    const res = await create({ name: 's3-main', engine: 'restic', location: s3Location(), password: 'a-chosen-s3-password' });
    expect(res.statusCode, res.body).toBe(201);
    s3Target = res.json<{ data: Target }>().data;
    expect(s3Target).toMatchObject({ repositoryState: 'created', repository: `s3:${s3.endpoint}/${s3.bucket}/api-test`, location: { type: 's3', bucket: s3.bucket, hasCaCert: true } });
    expect(res.body).not.toContain(s3.secretAccessKey);
    expect(res.body).not.toContain('a-chosen-s3-password');
    const [row] = await t.database.db.select().from(storageTargets).where(eq(storageTargets.id, s3Target.id));
    expect(JSON.stringify(row)).not.toContain('a-chosen-s3-password');
    expect(JSON.stringify(row?.location)).not.toContain(s3.secretAccessKey);
    const detail = await t.call('viewer', { method: 'GET', url: `/api/storage-targets/${s3Target.id}` });
    expect(detail.json<{ data: Target }>().data).toMatchObject({ snapshotCount: 0, statsError: null });
    expect(detail.body).not.toContain(s3.secretAccessKey);
  });

  it('opens an existing repository with its password, and refuses a wrong one naming the target', async () => {
    const wrong = await create({ name: 's3-wrong', engine: 'restic', location: s3Location(), password: 'not-the-password' });
    expect(wrong.statusCode).toBe(400);
    expect(wrong.json<{ error: { message: string } }>().error.message).toBe("wrong repository password for storage target 's3-wrong'");
    expect(wrong.body).not.toContain('not-the-password');
    expect(await t.database.db.select().from(storageTargets).where(eq(storageTargets.name, 's3-wrong'))).toHaveLength(0);
    const again = await create({ name: 's3-again', engine: 'restic', location: s3Location(), password: 'a-chosen-s3-password' });
    expect(again.statusCode, again.body).toBe(201);
    expect(again.json<{ data: Target }>().data.repositoryState).toBe('opened');
  });

  it('refuses an HTTPS endpoint whose certificate it was not given', async () => {
    const res = await create({ name: 's3-untrusted', engine: 'restic', location: s3Location({ caCertPem: undefined, prefix: 'other' }) });
    expect(res.statusCode).toBe(400);
    expect(res.json<{ error: { message: string } }>().error.message).toMatch(/storage target 's3-untrusted' is unreachable/);
    expect(await t.database.db.select().from(storageTargets).where(eq(storageTargets.name, 's3-untrusted'))).toHaveLength(0);
  });

  it('a name is unique', async () => {
    const res = await create({ name: 's3-main', engine: 'restic', location: { type: 'local', path: join(dir, 'dup') } });
    expect(res.statusCode).toBe(409);
  });

  it('creates a repository on an append-only REST server with basic auth', async () => {
    const res = await create({ name: 'rest-ao', engine: 'restic', location: { type: 'rest', url: `${rest.url}api-test/`, username: rest.username, password: rest.password } });
    expect(res.statusCode, res.body).toBe(201);
    expect(res.body).not.toContain(rest.password);
    expect(await readdir(join(rest.dataDir, 'api-test'))).toContain('config');
    const wrongAuth = await create({ name: 'rest-bad', engine: 'restic', location: { type: 'rest', url: `${rest.url}api-test-2/`, username: rest.username, password: 'wrong-password' } });
    expect(wrongAuth.statusCode).toBe(400);
    expect(wrongAuth.body).not.toContain('wrong-password');
  });

  it('creates a repository over SFTP with a pinned host key, and refuses another key', async () => {
    const location = { type: 'sftp', host: sshd.host, port: sshd.port, username: sshd.username, privateKey: sshd.privateKey, path: `${sshd.workDir}/sftp-repo`, hostKeyFingerprint: sshd.hostKeyFingerprint };
    const res = await create({ name: 'sftp-one', engine: 'restic', location });
    expect(res.statusCode, res.body).toBe(201);
    expect(res.body).not.toContain('PRIVATE KEY');
    expect(await readdir(join(sshd.workDir, 'sftp-repo'))).toContain('config');
    const mismatch = await create({ name: 'sftp-other', engine: 'restic', location: { ...location, path: `${sshd.workDir}/sftp-2`, hostKeyFingerprint: `SHA256:${'B'.repeat(43)}` } });
    expect(mismatch.statusCode).toBe(400);
    expect(mismatch.json<{ error: { message: string } }>().error.message).toMatch(/host key of storage target 'sftp-other' does not match/);
  });

  it('audits creates (refused ones too) with the target id and without any secret', async () => {
    await waitUntil(async () => (await t.database.db.select().from(auditLog).where(eq(auditLog.action, 'storage-target.create'))).length >= 3, 'audit entries');
    const entries = await t.database.db.select().from(auditLog).where(eq(auditLog.action, 'storage-target.create'));
    expect(entries.find((e) => e.targetId === s3Target.id)).toMatchObject({ outcome: 'success', statusCode: 201, actorRole: 'admin' });
    expect(entries.some((e) => e.outcome === 'failure' && e.statusCode === 400)).toBe(true);
    for (const secret of [s3.secretAccessKey, rest.password, 'a-chosen-s3-password', 'not-the-password', 'PRIVATE KEY']) expect(JSON.stringify(entries)).not.toContain(secret);
  });

  it('lists every target without a secret', async () => {
    const res = await t.call('viewer', { method: 'GET', url: '/api/storage-targets' });
    const names = res.json<{ data: Target[] }>().data.map((x) => x.name);
    expect(names).toEqual(['default', 'local-one', 'rest-ao', 's3-again', 's3-main', 'sftp-one']);
    for (const secret of [s3.secretAccessKey, rest.password, 'a-chosen-s3-password', 'PRIVATE KEY', 'default-repo-password']) expect(res.body).not.toContain(secret);
  });

  it('deletes a target only while nothing references it', async () => {
    const serverId = await createServer(t);
    await t.database.db.update(servers).set({ storageTargetId: s3Target.id }).where(eq(servers.id, serverId));
    const blocked = await t.call('admin', { method: 'DELETE', url: `/api/storage-targets/${s3Target.id}` });
    expect(blocked.statusCode).toBe(409);
    expect(blocked.json<{ error: { message: string } }>().error.message).toMatch(/1 server/);
    await t.database.db.update(servers).set({ storageTargetId: null }).where(eq(servers.id, serverId));
    await t.database.db.insert(backups).values({ id: randomUUID(), serverId, status: 'completed', engine: 'restic', storageTargetId: s3Target.id });
    const stillBlocked = await t.call('admin', { method: 'DELETE', url: `/api/storage-targets/${s3Target.id}` });
    expect(stillBlocked.statusCode).toBe(409);
    expect(stillBlocked.json<{ error: { message: string } }>().error.message).toMatch(/1 backup/);
    expect((await t.call('operator', { method: 'DELETE', url: `/api/storage-targets/${s3Target.id}` })).statusCode).toBe(403);

    const local = (await t.call('viewer', { method: 'GET', url: '/api/storage-targets' })).json<{ data: Target[] }>().data.find((x) => x.name === 'local-one');
    const gone = await t.call('admin', { method: 'DELETE', url: `/api/storage-targets/${local?.id}` });
    expect(gone.statusCode).toBe(200);
    expect((await t.call('viewer', { method: 'GET', url: `/api/storage-targets/${local?.id}` })).statusCode).toBe(404);
    expect((await t.call('admin', { method: 'DELETE', url: `/api/storage-targets/${local?.id}` })).statusCode).toBe(404);
    expect((await t.call('admin', { method: 'DELETE', url: '/api/storage-targets/default' })).statusCode).toBe(409);
  });

  it('a check is a job: the row is pending and the payload carries ids only', async () => {
    const res = await t.call('operator', { method: 'POST', url: `/api/storage-targets/${s3Target.id}/check` });
    expect(res.statusCode, res.body).toBe(202);
    const { checkId, jobId } = res.json<{ data: { checkId: string; jobId: string } }>().data;
    expect(jobId).toBe(checkId);
    const [row] = await t.database.db.select().from(storageTargetChecks).where(eq(storageTargetChecks.id, checkId));
    expect(row).toMatchObject({ status: 'pending', storageTargetId: s3Target.id });
    const queue = new Queue(QueueName.backup, { connection: t.redis.redis.duplicate(), prefix: t.redis.prefix });
    try {
      const job = await queue.getJob(checkId);
      expect(job?.name).toBe('backup:check-target');
      expect(job?.data).toEqual({ checkId, storageTargetId: s3Target.id, userId: t.userIds.operator });
    } finally {
      await queue.close();
    }
    const detail = await t.call('viewer', { method: 'GET', url: `/api/storage-targets/${s3Target.id}` });
    expect(detail.json<{ data: Target }>().data.lastCheck).toMatchObject({ id: checkId, status: 'pending' });
    expect((await t.call('viewer', { method: 'POST', url: `/api/storage-targets/${s3Target.id}/check` })).statusCode).toBe(403);
    expect((await t.call('operator', { method: 'POST', url: `/api/storage-targets/${randomUUID()}/check` })).statusCode).toBe(404);
  });
});

describe('archive targets', () => {
  it('stores plain files in a local folder the API shares: no repository, stats from the records, no restic check', async () => {
    const folder = join(dir, 'archives');
    await mkdir(folder);
    const res = await create({ name: 'plain-files', engine: 'archive', location: { type: 'local', path: folder } });
    expect(res.statusCode, res.body).toBe(201);
    const created = res.json<{ data: Target }>().data;
    expect(created).toMatchObject({ engine: 'archive', isDefault: false, repository: folder, repositoryState: 'not-applicable', location: { type: 'local', path: folder } });
    const detail = (await t.call('viewer', { method: 'GET', url: `/api/storage-targets/${created.id}` })).json<{ data: Target }>().data;
    expect(detail).toMatchObject({ snapshotCount: 0, sizeBytes: 0, statsError: null });
    const check = await t.call('operator', { method: 'POST', url: `/api/storage-targets/${created.id}/check` });
    expect(check.statusCode).toBe(409);
    expect(check.json<{ error: { message: string } }>().error.message).toMatch(/archive engine/);
    expect(await t.database.db.select().from(storageTargetChecks).where(eq(storageTargetChecks.storageTargetId, created.id))).toEqual([]);
    expect((await t.call('admin', { method: 'DELETE', url: `/api/storage-targets/${created.id}` })).statusCode).toBe(200);
  });
});

describe('servers, schedules and backup triggers name a target', () => {
  let targetId: string;
  let queue: Queue;
  beforeAll(async () => {
    const res = await create({ name: 'named-local', engine: 'restic', location: { type: 'local', path: join(dir, 'named-local') } });
    targetId = res.json<{ data: Target }>().data.id;
    queue = new Queue(QueueName.backup, { connection: t.redis.redis.duplicate(), prefix: t.redis.prefix });
  });
  afterAll(async () => {
    await queue?.close();
  });

  const serverCount = async () => (await t.database.db.select().from(servers)).length;

  it('a server takes a target on create and patch; an unknown one is a 400 and changes nothing', async () => {
    const before = await serverCount();
    const unknown = randomUUID();
    const bad = await t.call('operator', { method: 'POST', url: '/api/servers', payload: { name: 'st-1', host: '127.0.0.1', username: 'deploy', auth: { type: 'password', password: 'pw-123456' }, storageTargetId: unknown } });
    expect(bad.statusCode).toBe(400);
    expect(bad.json<{ error: { message: string } }>().error.message).toBe(`Storage target ${unknown} does not exist.`);
    expect(await serverCount()).toBe(before);

    const serverId = await createServer(t, { name: 'st-2', storageTargetId: targetId });
    const got = await t.call('viewer', { method: 'GET', url: `/api/servers/${serverId}` });
    expect(got.json<{ data: { storageTargetId: string | null } }>().data.storageTargetId).toBe(targetId);

    const badPatch = await t.call('operator', { method: 'PATCH', url: `/api/servers/${serverId}`, payload: { storageTargetId: unknown } });
    expect(badPatch.statusCode).toBe(400);
    const [row] = await t.database.db.select().from(servers).where(eq(servers.id, serverId));
    expect(row?.storageTargetId).toBe(targetId);

    const toDefault = await t.call('operator', { method: 'PATCH', url: `/api/servers/${serverId}`, payload: { storageTargetId: 'default' } });
    expect(toDefault.statusCode).toBe(200);
    expect(toDefault.json<{ data: { storageTargetId: string | null } }>().data.storageTargetId).toBeNull();
  });

  it('a schedule takes a target, and its job scheduler carries the id', async () => {
    const serverId = await createServer(t, { name: 'st-3' });
    const base = { cron: '0 3 * * *', options: { backup_type: 'full', compression: true, encryption: false } };
    const bad = await t.call('operator', { method: 'POST', url: `/api/servers/${serverId}/backup-schedules`, payload: { ...base, storageTargetId: randomUUID() } });
    expect(bad.statusCode).toBe(400);
    expect(await queue.getJobSchedulersCount()).toBe(0);

    const res = await t.call('operator', { method: 'POST', url: `/api/servers/${serverId}/backup-schedules`, payload: { ...base, storageTargetId: targetId } });
    expect(res.statusCode, res.body).toBe(201);
    const schedule = res.json<{ data: { id: string; storageTargetId: string | null } }>().data;
    expect(schedule.storageTargetId).toBe(targetId);
    const scheduler = await queue.getJobScheduler(`backup-schedule:${schedule.id}`);
    expect(scheduler?.template?.data).toEqual({ serverId, scheduleId: schedule.id, options: base.options, storageTargetId: targetId });

    const cleared = await t.call('operator', { method: 'PATCH', url: `/api/servers/${serverId}/backup-schedules/${schedule.id}`, payload: { storageTargetId: null } });
    expect(cleared.json<{ data: { storageTargetId: string | null } }>().data.storageTargetId).toBeNull();
    expect((await queue.getJobScheduler(`backup-schedule:${schedule.id}`))?.template?.data).toEqual({ serverId, scheduleId: schedule.id, options: base.options });
  });

  it('a backup trigger carries the named target; an unknown one enqueues nothing', async () => {
    const serverId = await createServer(t, { name: 'st-4' });
    const waitingBefore = await queue.getJobCountByTypes('waiting', 'prioritized', 'delayed');
    const bad = await t.call('operator', { method: 'POST', url: `/api/servers/${serverId}/backup`, payload: { storageTargetId: randomUUID() } });
    expect(bad.statusCode).toBe(400);
    expect(await queue.getJobCountByTypes('waiting', 'prioritized', 'delayed')).toBe(waitingBefore);

    const named = await t.call('operator', { method: 'POST', url: `/api/servers/${serverId}/backup`, payload: { storageTargetId: targetId, compression: false } });
    expect(named.statusCode, named.body).toBe(202);
    const namedJob = await queue.getJob(named.json<{ data: { jobId: string } }>().data.jobId);
    expect(namedJob?.data).toMatchObject({ serverId, storageTargetId: targetId, options: { backup_type: 'full', compression: false, encryption: false } });

    const plain = await t.call('operator', { method: 'POST', url: `/api/servers/${serverId}/backup` });
    const plainJob = await queue.getJob(plain.json<{ data: { jobId: string } }>().data.jobId);
    expect(plainJob?.data).not.toHaveProperty('storageTargetId');

    const explicitDefault = await t.call('operator', { method: 'POST', url: `/api/servers/${serverId}/backup`, payload: { storageTargetId: 'default' } });
    expect((await queue.getJob(explicitDefault.json<{ data: { jobId: string } }>().data.jobId))?.data.storageTargetId).toBe('default');
  });
});
