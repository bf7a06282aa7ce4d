import { execFile } from 'node:child_process';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { extract } from 'tar-stream';
import { Queue } from 'bullmq';
import { backupFiles, backups } from '@mm/db';
import { QueueName } from '@mm/jobs';
import { ResticRepository } from '@mm/restic';
import { ensureDebianPackage, startTestS3Server, type TestS3Server } from '@mm/testing';
import { createServer, createTestApp, type TestApp } from './helpers/test-app.js';

const run = promisify(execFile);
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

let t: TestApp;
let dir: string;
let s3: TestS3Server;
let serverId: string;

interface Member {
  path: string;
  type: string;
  size: number;
  body: Buffer;
}

/** Every member of a tar (path normalised as backup_files keeps it), with its bytes. */
async function readTar(tar: Buffer): Promise<Member[]> {
  const out: Member[] = [];
  const parser = extract();
  parser.on('entry', (header, stream, next) => {
    const parts: Buffer[] = [];
    stream.on('data', (c: unknown) => parts.push(c as Buffer));
    stream.on('end', () => {
      out.push({ path: header.name.replace(/^\.?\//, '').replace(/\/$/, ''), type: header.type, size: header.size, body: Buffer.concat(parts) });
      next();
    });
  });
  await new Promise<void>((resolve, reject) => {
    parser.on('finish', resolve);
    parser.on('error', reject);
    Readable.from([tar]).pipe(parser);
  });
  return out;
}

interface Stored {
  id: string;
  tar: Buffer;
  members: Member[];
}

/**
 * A repository backup as the backup worker leaves it: the tar of `data/` stored with `restic backup --stdin` as
 * `<id>.tar`, the record (snapshot id, sha256, bytes read) and its listing in backup_files.
 */
async function storeRepositoryBackup(repository: ResticRepository, storageTargetId: string | null): Promise<Stored> {
  const id = randomUUID();
  const { stdout } = await run('tar', ['-cf', '-', '-C', join(dir, 'src'), 'data'], { encoding: 'buffer', maxBuffer: 64 * 1024 * 1024 });
  const tar = stdout;
  const summary = await repository.backupStdin({ source: () => Readable.from([tar]), filename: `${id}.tar`, host: 'test-host', tags: [`mm-backup:${id}`], compression: true });
  const members = await readTar(tar);
  await t.database.db.insert(backups).values({
    id,
    serverId,
    status: 'completed',
    engine: 'restic',
    storageTargetId,
    snapshotId: summary.snapshotId,
    sha256: sha256(tar),
    bytesRead: summary.bytesRead,
    sizeBytes: summary.bytesRead,
    filesCount: members.length,
  });
  const typeOf = (m: Member): 'dir' | 'file' | 'symlink' | 'other' => (m.type === 'directory' ? 'dir' : m.type === 'file' ? 'file' : m.type === 'symlink' ? 'symlink' : 'other');
  await t.database.db.insert(backupFiles).values(
    members.map((m) => {
      const slash = m.path.lastIndexOf('/');
      return { backupId: id, path: m.path, parent: slash < 0 ? '' : m.path.slice(0, slash), name: m.path.slice(slash + 1), type: typeOf(m), size: m.size, mtime: new Date() };
    }),
  );
  return { id, tar, members };
}

let onS3: Stored;
let onDefault: Stored;
const big = randomBytes(1024 * 1024 + 17);

beforeAll(async () => {
  await ensureDebianPackage('/usr/bin/restic', 'restic');
  dir = await mkdtemp(join(tmpdir(), 'mm-repo-backups-'));
  await mkdir(join(dir, 'src', 'data', 'etc', 'app'), { recursive: true });
  await mkdir(join(dir, 'src', 'data', 'empty'), { recursive: true });
  await writeFile(join(dir, 'src', 'data', 'big.bin'), big);
  await writeFile(join(dir, 'src', 'data', 'etc', 'app', 'app.conf'), 'listen 8080\n');
  await writeFile(join(dir, 'src', 'data', 'etc', 'hosts'), '127.0.0.1 localhost\n');
  for (const n of ['a', 'b', 'c', 'd', 'e']) await writeFile(join(dir, 'src', 'data', 'etc', `${n}.txt`), n.repeat(10));
  await symlink('app/app.conf', join(dir, 'src', 'data', 'etc', 'link.conf'));

  [t, s3] = await Promise.all([
    // BACKUP_DIR does not exist: this API shares no disk with any worker.
    createTestApp({ BACKUP_DIR: join(dir, 'not-shared'), BACKUP_REPOSITORY: join(dir, 'default-repo'), BACKUP_REPOSITORY_PASSWORD: 'default-repo-password' }),
    startTestS3Server(),
  ]);
  serverId = await createServer(t, { name: 'db-1' });
  const created = await t.call('admin', {
    method: 'POST',
    url: '/api/storage-targets',
    payload: {
      name: 's3',
      engine: 'restic',
      password: 'the-s3-repository-password',
      location: { type: 's3', endpoint: s3.endpoint, bucket: s3.bucket, accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey, caCertPem: s3.caCertPem },
    },
  });
  expect(created.statusCode, created.body).toBe(201);
  const targetId = created.json<{ data: { id: string } }>().data.id;

  const s3Repo = new ResticRepository({
    name: 's3',
    password: 'the-s3-repository-password',
    location: { type: 's3', endpoint: s3.endpoint, bucket: s3.bucket, accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey, caCertPem: s3.caCertPem },
  });
  const defaultRepo = new ResticRepository({ name: 'default', password: 'default-repo-password', location: { type: 'local', path: join(dir, 'default-repo') } });
  try {
    await defaultRepo.initOrOpen();
    onS3 = await storeRepositoryBackup(s3Repo, targetId);
    onDefault = await storeRepositoryBackup(defaultRepo, null);
  } finally {
    await Promise.all([s3Repo.close(), defaultRepo.close()]);
  }
});
afterAll(async () => {
  await Promise.all([t?.close(), s3?.stop()]);
  await rm(dir, { recursive: true, force: true });
});

const get = (url: string, method: 'GET' | 'HEAD' = 'GET') => t.call('operator', { method, url });

describe('GET /api/backups/:id/files', () => {
  interface Page {
    path: string;
    entries: { name: string; path: string; type: string; size: number }[];
    nextCursor: string | null;
  }
  const page = async (id: string, query: string) => {
    const res = await t.call('viewer', { method: 'GET', url: `/api/backups/${id}/files${query}` });
    expect(res.statusCode, res.body).toBe(200);
    return res.json<{ data: Page }>().data;
  };

  it('lists a folder from PostgreSQL, paged by name', async () => {
    expect((await page(onS3.id, '')).entries).toEqual([{ name: 'data', path: 'data', type: 'dir', size: 0, mtime: expect.any(String) }]);
    const data = await page(onS3.id, '?path=/data/');
    expect(data.path).toBe('data');
    expect(data.entries.map((e) => [e.name, e.type])).toEqual([['big.bin', 'file'], ['empty', 'dir'], ['etc', 'dir']]);
    expect(data.entries[0]?.size).toBe(big.length);

    const names: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const p: Page = await page(onS3.id, `?path=data/etc&limit=3${cursor ? `&cursor=${cursor}` : ''}`);
      names.push(...p.entries.map((e) => e.name));
      cursor = p.nextCursor;
      pages++;
    } while (cursor);
    expect(names).toEqual(['a.txt', 'app', 'b.txt', 'c.txt', 'd.txt', 'e.txt', 'hosts', 'link.conf']);
    expect(pages).toBe(3);
    expect((await page(onS3.id, '?path=data/empty')).entries).toEqual([]);
  });

  it('answers 404 for a missing folder, 400 for a file or a .. segment, 409 for a backup without a listing', async () => {
    expect((await get(`/api/backups/${onS3.id}/files?path=data/nope`)).statusCode).toBe(404);
    const file = await get(`/api/backups/${onS3.id}/files?path=data/etc/hosts`);
    expect(file.statusCode).toBe(400);
    expect(file.json<{ error: { message: string } }>().error.message).toMatch(/is a file, not a folder/);
    expect((await get(`/api/backups/${onS3.id}/files?path=data/../etc`)).statusCode).toBe(400);
    const archiveId = randomUUID();
    await t.database.db.insert(backups).values({ id: archiveId, serverId, status: 'completed', engine: 'archive' });
    expect((await get(`/api/backups/${archiveId}/files`)).statusCode).toBe(409);
  });
});

describe('GET /api/backups/:id/download from a repository', () => {
  it('streams the whole tar from S3 with its recorded size and checksum', async () => {
    const res = await get(`/api/backups/${onS3.id}/download`);
    expect(res.statusCode, res.body.slice(0, 300)).toBe(200);
    expect(res.headers['content-type']).toBe('application/x-tar');
    expect(res.headers['content-length']).toBe(String(onS3.tar.length));
    expect(res.headers['x-checksum-sha256']).toBe(sha256(onS3.tar));
    expect(sha256(res.rawPayload)).toBe(sha256(onS3.tar));
    expect(res.headers['content-disposition']).toBe(`attachment; filename="db-1-${onS3.id}.tar"`);
    const head = await get(`/api/backups/${onS3.id}/download`, 'HEAD');
    expect(head.statusCode).toBe(200);
    expect(head.headers['content-length']).toBe(String(onS3.tar.length));
    expect(head.rawPayload.length).toBe(0);
  });

  it('streams one file with its size, and one folder as a tar of what is under it', async () => {
    const file = await get(`/api/backups/${onS3.id}/download?path=/data/big.bin`);
    expect(file.statusCode).toBe(200);
    expect(file.headers['content-length']).toBe(String(big.length));
    expect(sha256(file.rawPayload)).toBe(sha256(big));
    const conf = await get(`/api/backups/${onS3.id}/download?path=data/etc/app/app.conf`);
    expect(conf.body).toBe('listen 8080\n');

    const folder = await get(`/api/backups/${onS3.id}/download?path=data/etc`);
    expect(folder.statusCode).toBe(200);
    expect(folder.headers['content-type']).toBe('application/x-tar');
    const members = await readTar(folder.rawPayload);
    const expected = onS3.members.filter((m) => m.path === 'data/etc' || m.path.startsWith('data/etc/'));
    expect(members.map((m) => m.path).sort()).toEqual(expected.map((m) => m.path).sort());
    expect(members.find((m) => m.path === 'data/etc/hosts')?.body.toString()).toBe('127.0.0.1 localhost\n');
    expect(members.find((m) => m.path === 'data/etc/link.conf')?.type).toBe('symlink');
  });

  it('a path outside the listing is a 404 before the repository is read; .. is a 400', async () => {
    const res = await get(`/api/backups/${onS3.id}/download?path=data/etc/shadow`);
    expect(res.statusCode).toBe(404);
    expect(res.json<{ error: { message: string } }>().error.message).toBe(`/data/etc/shadow in backup ${onS3.id} was not found.`);
    expect((await get(`/api/backups/${onS3.id}/download?path=data/../../etc/passwd`)).statusCode).toBe(400);
  });

  it('reads a backup of the default target (BACKUP_REPOSITORY) the same way', async () => {
    const res = await get(`/api/backups/${onDefault.id}/download`);
    expect(res.statusCode).toBe(200);
    expect(sha256(res.rawPayload)).toBe(sha256(onDefault.tar));
    const hosts = await get(`/api/backups/${onDefault.id}/download?path=data/etc/hosts`);
    expect(hosts.body).toBe('127.0.0.1 localhost\n');
  });

  it('a snapshot missing from its repository is a clear 400 naming the target, not a cut-off 200', async () => {
    const id = randomUUID();
    await t.database.db.insert(backups).values({ id, serverId, status: 'completed', engine: 'restic', storageTargetId: null, snapshotId: 'f'.repeat(64), sha256: 'a'.repeat(64), bytesRead: 10, filesCount: 0 });
    const res = await get(`/api/backups/${id}/download`);
    expect(res.statusCode).toBe(400);
    expect(res.json<{ error: { message: string } }>().error.message).toMatch(/storage target 'default'/);
  });

  it("an archive file this API never had access to is reported as never reachable, not as pruned", async () => {
    const id = randomUUID();
    await t.database.db.insert(backups).values({ id, serverId, status: 'completed', engine: 'archive', filePath: `x/${id}.tar.gz`, sizeBytes: 10, sha256: 'b'.repeat(64) });
    const res = await get(`/api/backups/${id}/download`);
    expect(res.statusCode).toBe(404);
    const message = res.json<{ error: { message: string } }>().error.message;
    expect(message).toMatch(/was never reachable from this API process/);
    expect(message).not.toMatch(/pruned/);
  });
});

describe('POST /api/backups/:id/restore with paths', () => {
  const restore = (id: string, body: Record<string, unknown>) => t.call('operator', { method: 'POST', url: `/api/backups/${id}/restore`, payload: { targetPath: '/srv/restore', ...body } });
  const queued = async (jobId: string) => {
    const queue = new Queue(QueueName.backup, { connection: t.redis.redis.duplicate(), prefix: t.redis.prefix });
    try {
      return await queue.getJob(jobId);
    } finally {
      await queue.close();
    }
  };
  const restoreJobs = async () => {
    const queue = new Queue(QueueName.backup, { connection: t.redis.redis.duplicate(), prefix: t.redis.prefix });
    try {
      return (await queue.getJobs(['waiting', 'prioritized', 'delayed', 'active'])).filter((j) => j.name === 'backup:restore').length;
    } finally {
      await queue.close();
    }
  };

  it('enqueues the subset a repository backup holds (a file and a folder), carried in the payload', async () => {
    const res = await restore(onS3.id, { paths: ['/data/etc/hosts', '/data/etc/app'] });
    expect(res.statusCode, res.body).toBe(202);
    const { jobId } = res.json<{ data: { jobId: string } }>().data;
    expect((await queued(jobId))?.data).toMatchObject({ backupId: onS3.id, targetPath: '/srv/restore', paths: ['/data/etc/hosts', '/data/etc/app'] });
  });

  it.each([
    ['a path the listing does not hold', { paths: ['/data/etc/hosts', '/data/nope'] }, /does not hold \/data\/nope/],
    ["'/' (that is the whole backup: no paths)", { paths: ['/'] }, /\/paths\/0/],
    ['a .. segment', { paths: ['/data/../etc'] }, /\/paths\/0/],
    ['a relative path', { paths: ['data/etc'] }, /\/paths\/0/],
    ['an empty list', { paths: [] }, /\/paths/],
  ])('%s is a 400 and enqueues nothing', async (_what, body, message) => {
    const before = await restoreJobs();
    const res = await restore(onS3.id, body);
    expect(res.statusCode, res.body).toBe(400);
    const { error } = res.json<{ error: { code: string; message: string } }>();
    expect(error.code).toBe('VALIDATION_ERROR');
    expect(JSON.stringify(error)).toMatch(message);
    expect(await restoreJobs()).toBe(before);
  });

  it('an archive backup takes paths under its backup paths only (its members are not listed)', async () => {
    const id = randomUUID();
    await t.database.db.insert(backups).values({ id, serverId, status: 'completed', engine: 'archive', paths: ['/srv/www'], filePath: `x/${id}.tar`, sizeBytes: 10, sha256: 'c'.repeat(64) });
    expect((await restore(id, { paths: ['/srv/www/index.html'] })).statusCode).toBe(202);
    const outside = await restore(id, { paths: ['/etc/passwd'] });
    expect(outside.statusCode).toBe(400);
    expect(outside.json<{ error: { message: string } }>().error.message).toMatch(/does not hold \/etc\/passwd \(its paths: \/srv\/www\)/);
  });
});

describe('downloads from an archive target', () => {
  it("serves an archive from its target's folder, and says which folder when the file is not there", async () => {
    const folder = join(dir, 'archive-target');
    await mkdir(folder);
    const created = await t.call('admin', { method: 'POST', url: '/api/storage-targets', payload: { name: 'plain', engine: 'archive', location: { type: 'local', path: folder } } });
    expect(created.statusCode, created.body).toBe(201);
    const targetId = created.json<{ data: { id: string } }>().data.id;
    const id = randomUUID();
    const body = randomBytes(5_000);
    await mkdir(join(folder, serverId));
    await writeFile(join(folder, serverId, `${id}.tar`), body);
    await t.database.db.insert(backups).values({ id, serverId, status: 'completed', engine: 'archive', storageTargetId: targetId, compression: false, filePath: join(folder, serverId, `${id}.tar`), sizeBytes: body.length, sha256: sha256(body) });
    const res = await get(`/api/backups/${id}/download`);
    expect(res.statusCode, res.body).toBe(200);
    expect(res.rawPayload.equals(body)).toBe(true);
    expect(res.headers['x-checksum-sha256']).toBe(sha256(body));

    const gone = randomUUID();
    await t.database.db.insert(backups).values({ id: gone, serverId, status: 'completed', engine: 'archive', storageTargetId: targetId, filePath: join(folder, serverId, `${gone}.tar`), sizeBytes: 1, sha256: 'd'.repeat(64) });
    const missing = await get(`/api/backups/${gone}/download`);
    expect(missing.statusCode).toBe(404);
    expect(missing.json<{ error: { message: string } }>().error.message).toMatch(/not in the folder of storage target 'plain'/);
    // The backups keep the target: deleting it is refused.
    expect((await t.call('admin', { method: 'DELETE', url: `/api/storage-targets/${targetId}` })).statusCode).toBe(409);
  });
});
