import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { chmod, chown, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { inArray } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backups, restores } from '@mm/db';
import {
  ensureDebianPackage,
  startTestRestServer,
  startTestS3Server,
  startTestSshd,
  startTestSshdFleet,
  type TestRestServer,
  type TestS3Server,
  type TestSshd,
  type TestSshdFleet,
} from '@mm/testing';
import { createTestApp, type TestApp } from './helpers/test-app.js';
import { waitUntil, workerEnvOf } from './helpers/throwaway-worker.js';

/**
 * Issue #14's scale-out: two backup-worker processes with their own BACKUP_DIRs (two hosts without a shared disk)
 * and an API that can reach neither folder, all on one S3 target (s3rver over HTTPS); the API then downloads,
 * verifies, browses and restores what the workers stored. Then the same through a REST server (rclone serve
 * restic, append-only) and SFTP (the loopback sshd).
 */

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const SERVERS = 4;

let t: TestApp;
let dir: string;
let s3: TestS3Server;
let rest: TestRestServer;
let fleet: TestSshdFleet;
let sftpHost: TestSshd;
const workers: { child: ChildProcess; backupDir: string; output: () => string }[] = [];
const servers: { id: string; name: string; source: string; files: Record<string, Buffer> }[] = [];

function spawnBackupWorker(backupDir: string): (typeof workers)[number] {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: fileURLToPath(new URL('../../backup-worker/', import.meta.url)),
    env: {
      ...workerEnvOf(t, {
        LOG_LEVEL: 'warn',
        BACKUP_DIR: backupDir,
        BACKUP_ENCRYPTION_KEY: randomBytes(32).toString('hex'),
        BACKUP_REPOSITORY_PASSWORD: 'default-repository-password',
        BACKUP_WORKER_CONCURRENCY: '1',
        BACKUP_LOCK_WAIT_MS: '60000',
      }),
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: backupDir,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (output += c.toString()));
  return { child, backupDir, output: () => output };
}

async function createTarget(body: Record<string, unknown>): Promise<string> {
  const res = await t.call('admin', { method: 'POST', url: '/api/storage-targets', payload: { engine: 'restic', ...body } });
  expect(res.statusCode, res.body).toBe(201);
  return res.json<{ data: { id: string } }>().data.id;
}

/** A server's own folder of files under the fleet's shared work dir, owned by the test user so tar can read it. */
async function makeSource(sshd: TestSshd, name: string): Promise<{ source: string; files: Record<string, Buffer> }> {
  const source = join(sshd.workDir, name);
  const files: Record<string, Buffer> = {
    'config.yml': Buffer.from(`name: ${name}\n`),
    'data/blob.bin': randomBytes(256 * 1024),
    'data/notes.txt': Buffer.from(`notes of ${name}\n`),
  };
  const { uid, gid } = await stat(sshd.workDir);
  for (const [rel, body] of Object.entries(files)) {
    await mkdir(join(source, rel, '..'), { recursive: true });
    await writeFile(join(source, rel), body);
  }
  for (const p of [source, join(source, 'data'), ...Object.keys(files).map((rel) => join(source, rel))]) {
    await chown(p, uid, gid);
  }
  await chmod(source, 0o755);
  return { source, files };
}

async function addServer(sshd: TestSshd, name: string, source: string, storageTargetId: string): Promise<string> {
  const res = await t.call('operator', {
    method: 'POST',
    url: '/api/servers',
    payload: {
      name,
      host: sshd.host,
      port: sshd.port,
      username: sshd.username,
      auth: { type: 'key', privateKey: sshd.privateKey },
      hostKeyFingerprint: sshd.hostKeyFingerprint,
      backupPaths: [source],
      storageTargetId,
    },
  });
  expect(res.statusCode, res.body).toBe(201);
  return res.json<{ data: { id: string } }>().data.id;
}

async function backupAll(serverIds: string[]): Promise<string[]> {
  const ids = await Promise.all(
    serverIds.map(async (id) => {
      const res = await t.call('operator', { method: 'POST', url: `/api/servers/${id}/backup` });
      expect(res.statusCode, res.body).toBe(202);
      return res.json<{ data: { backupId: string } }>().data.backupId;
    }),
  );
  await waitUntil(
    async () => {
      const rows = await t.database.db.select({ status: backups.status }).from(backups).where(inArray(backups.id, ids));
      if (rows.some((r) => r.status === 'failed')) throw new Error(`a backup failed: ${workers.map((w) => w.output()).join('\n')}`);
      return rows.length === ids.length && rows.every((r) => r.status === 'completed');
    },
    'the backups to complete',
    90_000,
  );
  return ids;
}

async function download(url: string): Promise<{ status: number; body: Buffer; headers: Record<string, unknown> }> {
  const res = await t.call('operator', { method: 'GET', url });
  return { status: res.statusCode, body: res.rawPayload, headers: res.headers };
}

beforeAll(async () => {
  await ensureDebianPackage('/usr/bin/restic', 'restic');
  dir = await mkdtemp(join(tmpdir(), 'mm-scale-out-'));
  [t, s3, rest, fleet, sftpHost] = await Promise.all([
    // The API's BACKUP_DIR does not exist: it shares no folder with either worker.
    createTestApp({ BACKUP_DIR: join(dir, 'api-has-no-backup-dir'), BACKUP_REPOSITORY_PASSWORD: 'default-repository-password' }),
    startTestS3Server(),
    startTestRestServer({ appendOnly: true, tls: true }),
    startTestSshdFleet(SERVERS),
    startTestSshd(),
  ]);
  workers.push(spawnBackupWorker(join(dir, 'host-a')), spawnBackupWorker(join(dir, 'host-b')));
}, 120_000);

afterAll(async () => {
  await Promise.all(
    workers.map(async (w) => {
      if (w.child.exitCode !== null || w.child.signalCode !== null) return;
      const exited = new Promise((resolve) => w.child.once('exit', resolve));
      w.child.kill('SIGTERM');
      await exited;
    }),
  );
  await Promise.all([t?.close(), s3?.stop(), rest?.stop(), fleet?.stop(), sftpHost?.stop()]);
  await rm(dir, { recursive: true, force: true });
});

describe('two backup workers and an API, no shared disk, one S3 target', () => {
  let targetId: string;
  let backupIds: string[];

  it('backs up several servers at once onto the S3 target, from both workers', async () => {
    targetId = await createTarget({
      name: 'shared-s3',
      location: { type: 's3', endpoint: s3.endpoint, bucket: s3.bucket, prefix: 'fleet', accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey, caCertPem: s3.caCertPem },
    });
    for (const [i, member] of fleet.members.entries()) {
      const name = `node-${i}`;
      const { source, files } = await makeSource(member, name);
      servers.push({ id: await addServer(member, name, source, targetId), name, source, files });
    }
    backupIds = await backupAll(servers.map((s) => s.id));

    const rows = await t.database.db.select().from(backups).where(inArray(backups.id, backupIds));
    for (const row of rows) expect(row).toMatchObject({ engine: 'restic', storageTargetId: targetId, snapshotId: expect.stringMatching(/^[0-9a-f]{64}$/) });
    const target = await t.call('viewer', { method: 'GET', url: `/api/storage-targets/${targetId}` });
    expect(target.json<{ data: { snapshotCount: number; backupCount: number } }>().data).toMatchObject({ snapshotCount: SERVERS, backupCount: SERVERS });
    // Each worker ran restic (its cache lives in its own BACKUP_DIR), and neither kept any backup data there.
    for (const w of workers) {
      const entries = await readdir(w.backupDir);
      expect(entries).toContain('.restic-cache');
      expect(entries.filter((e) => e !== '.restic-cache' && e !== 'repository')).toEqual([]);
      // A worker may open its (empty) default repository at start; it must hold no snapshot of these backups.
      expect(await readdir(join(w.backupDir, 'repository', 'snapshots')).catch(() => [])).toEqual([]);
    }
  });

  it('the API downloads each backup from S3 with the checksum its worker recorded', async () => {
    for (const [i, id] of backupIds.entries()) {
      const [row] = await t.database.db.select().from(backups).where(inArray(backups.id, [id]));
      const res = await download(`/api/backups/${id}/download`);
      expect(res.status).toBe(200);
      expect(res.headers['x-checksum-sha256']).toBe(row?.sha256);
      expect(sha256(res.body)).toBe(row?.sha256);
      expect(res.body.length).toBe(row?.bytesRead);
      const server = servers.find((s) => s.id === row?.serverId);
      const one = await download(`/api/backups/${id}/download?path=${server?.source}/data/blob.bin`);
      expect(one.status, `backup ${i}`).toBe(200);
      expect(sha256(one.body)).toBe(sha256(server?.files['data/blob.bin'] ?? Buffer.alloc(0)));
    }
  });

  it('the API browses each backup from PostgreSQL', async () => {
    for (const id of backupIds) {
      const [row] = await t.database.db.select().from(backups).where(inArray(backups.id, [id]));
      const server = servers.find((s) => s.id === row?.serverId);
      const res = await t.call('viewer', { method: 'GET', url: `/api/backups/${id}/files?path=${server?.source}` });
      expect(res.statusCode, res.body).toBe(200);
      const entries = res.json<{ data: { entries: { name: string; type: string; size: number }[] } }>().data.entries;
      expect(entries.map((e) => [e.name, e.type])).toEqual([['config.yml', 'file'], ['data', 'dir']]);
      expect(entries[0]?.size).toBe(server?.files['config.yml']?.length);
    }
  });

  it('verifies and restores through the API, each job taken by whichever worker is free', async () => {
    const verifyIds = await Promise.all(
      backupIds.map(async (id) => {
        const res = await t.call('operator', { method: 'POST', url: `/api/backups/${id}/verify` });
        expect(res.statusCode, res.body).toBe(202);
        return id;
      }),
    );
    const restoreTarget = servers[0];
    const restoreBackup = (await t.database.db.select().from(backups).where(inArray(backups.id, backupIds))).find((b) => b.serverId === restoreTarget?.id);
    const into = join(fleet.members[0]?.workDir ?? '', 'restored');
    const res = await t.call('operator', { method: 'POST', url: `/api/backups/${restoreBackup?.id}/restore`, payload: { targetPath: into } });
    expect(res.statusCode, res.body).toBe(202);
    const restoreId = res.json<{ data: { restoreId: string } }>().data.restoreId;

    await waitUntil(
      async () => {
        const rows = await t.database.db.select({ verifyStatus: backups.verifyStatus }).from(backups).where(inArray(backups.id, verifyIds));
        const [restore] = await t.database.db.select({ status: restores.status }).from(restores).where(inArray(restores.id, [restoreId]));
        if (restore?.status === 'failed') throw new Error(`the restore failed: ${workers.map((w) => w.output()).join('\n')}`);
        return rows.every((r) => r.verifyStatus !== null) && restore?.status === 'completed';
      },
      'verifies and the restore',
      90_000,
    );
    const verified = await t.database.db.select({ verifyStatus: backups.verifyStatus, verifyError: backups.verifyError }).from(backups).where(inArray(backups.id, verifyIds));
    expect(verified).toEqual(verifyIds.map(() => ({ verifyStatus: 'passed', verifyError: null })));
    for (const [rel, body] of Object.entries(restoreTarget?.files ?? {})) {
      expect(sha256(await readFile(join(into, restoreTarget?.source ?? '', rel)))).toBe(sha256(body));
    }
  });
});

describe('other kinds of target', () => {
  it('an append-only REST server (rclone serve restic over HTTPS) takes backups the API then reads', async () => {
    const targetId = await createTarget({
      name: 'rest-append-only',
      location: { type: 'rest', url: `${rest.url}fleet/`, username: rest.username, password: rest.password, caCertPem: rest.caCertPem },
    });
    const member = fleet.members[1];
    if (!member) throw new Error('no fleet member');
    const { source, files } = await makeSource(member, 'rest-node');
    const serverId = await addServer(member, 'rest-node', source, targetId);
    const [id] = await backupAll([serverId]);
    const [row] = await t.database.db.select().from(backups).where(inArray(backups.id, [id ?? '']));
    expect(row).toMatchObject({ storageTargetId: targetId, engine: 'restic' });
    const res = await download(`/api/backups/${id}/download`);
    expect(sha256(res.body)).toBe(row?.sha256);
    const notes = await download(`/api/backups/${id}/download?path=${source}/data/notes.txt`);
    expect(notes.body.equals(files['data/notes.txt'] ?? Buffer.alloc(0))).toBe(true);
    // Append-only: the snapshot's files are on the server, and nothing could have removed any.
    expect((await readdir(join(rest.dataDir, 'fleet', 'snapshots'))).length).toBe(1);
  });

  it('an SFTP target on the loopback sshd takes backups the API then reads', async () => {
    const repoPath = join(sftpHost.workDir, `sftp-repo-${randomUUID().slice(0, 8)}`);
    const targetId = await createTarget({
      name: 'sftp',
      location: { type: 'sftp', host: sftpHost.host, port: sftpHost.port, username: sftpHost.username, privateKey: sftpHost.privateKey, path: repoPath, hostKeyFingerprint: sftpHost.hostKeyFingerprint },
    });
    const member = fleet.members[2];
    if (!member) throw new Error('no fleet member');
    const { source } = await makeSource(member, 'sftp-node');
    const serverId = await addServer(member, 'sftp-node', source, targetId);
    const [id] = await backupAll([serverId]);
    const [row] = await t.database.db.select().from(backups).where(inArray(backups.id, [id ?? '']));
    expect(row).toMatchObject({ storageTargetId: targetId, engine: 'restic' });
    const res = await download(`/api/backups/${id}/download`);
    expect(res.status).toBe(200);
    expect(sha256(res.body)).toBe(row?.sha256);
    expect(await readdir(join(repoPath, 'snapshots'))).toHaveLength(1);
  });
});
