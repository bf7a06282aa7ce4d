import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { chmod, chown, mkdir, open, readdir, rm, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { QueueEvents } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Backup, Restore, Server } from '@mm/db';
import { backupFiles, encryptStorageTargetSecrets, retentionPolicies, storageTargets } from '@mm/db';
import type { BackupOptions, Producer } from '@mm/jobs';
import { insertTestServer, TEST_SSH_USER, type TestDatabase, type TestSshd } from '@mm/testing';
import { eq } from 'drizzle-orm';
import type { VerifyJobResult } from '../src/handlers/verify.js';
import type { CleanupResult } from '../src/handlers/cleanup.js';
import { expectSameTree, plainResticEnv, run, startBackupHarness, tempDir, writeSampleTree, type BackupHarness } from './backup-test-kit.js';

const exec = promisify(execFile);
let h: BackupHarness;
let db: TestDatabase;
let sshd: TestSshd;
let producer: Producer;
let events: QueueEvents;
let repository: { path: string; password: string };
const cleanupDirs: string[] = [];

beforeAll(async () => {
  h = await startBackupHarness('mm-repo-store-', { repository: true });
  ({ db, sshd, producer, events } = h);
  repository = h.repository!;
});
afterAll(async () => {
  for (const dir of cleanupDirs) await rm(dir, { recursive: true, force: true });
  await h?.close();
});

async function recordOf(id: string): Promise<Backup> {
  const row = await db.db.query.backups.findFirst({ where: (b, { eq: equals }) => equals(b.id, id) });
  if (!row) throw new Error(`no record ${id}`);
  return row;
}

async function backup(server: Server, options: Partial<BackupOptions> = {}): Promise<Backup> {
  const backupId = randomUUID();
  const opts: BackupOptions = { backup_type: 'full', compression: true, encryption: false, ...options };
  const job = await producer.enqueue('backup:manual', { serverId: server.id, backupId, userId: null, options: opts, isScheduled: false });
  await job.waitUntilFinished(events).catch(() => undefined);
  return recordOf(backupId);
}

/** Plain restic, as an operator without this service would run it (docs/BACKUPS.md, "Recovery without the service"). */
async function restic(args: string[]): Promise<string> {
  const { stdout } = await exec('restic', ['--no-cache', ...args], { env: plainResticEnv(repository), maxBuffer: 64 * 1024 * 1024 });
  return stdout;
}

async function snapshotsTagged(tag: string): Promise<{ id: string; hostname: string; tags: string[] }[]> {
  return JSON.parse(await restic(['snapshots', '--json', '--tag', tag])) as { id: string; hostname: string; tags: string[] }[];
}

let server: Server;
let source: string;
let first: Backup;

beforeAll(async () => {
  source = join(sshd.workDir, 'repo-src');
  await writeSampleTree(source);
  server = await insertTestServer(db.db, sshd, { credentialsKey: h.credentialsKey, name: 'web-7', backupPaths: [source] });
});

describe('backups into a restic repository (the default target)', () => {
  it('stores one snapshot per backup with tags, host, digest, sizes and the file listing', async () => {
    first = await backup(server, { encryption: false, backup_type: 'incremental' });
    expect(first.error).toBeNull();
    expect(first).toMatchObject({ status: 'completed', engine: 'restic', backupType: 'full', encryption: true, filePath: null, storageTargetId: null });
    expect(first.snapshotId).toMatch(/^[0-9a-f]{64}$/);
    expect(first.warnings.join('\n')).toMatch(/always complete snapshots/);
    expect(first.warnings.join('\n')).toMatch(/always encrypted at rest/);
    expect(first.bytesRead).toBe(first.sizeBytes);
    expect(first.bytesAdded).toBeGreaterThan(3 * 1024 * 1024);

    const snapshots = await snapshotsTagged(`server:${server.id}`);
    expect(snapshots.map((s) => s.id)).toEqual([first.snapshotId]);
    expect(snapshots[0]!.hostname).toBe('web-7');
    expect(snapshots[0]!.tags.sort()).toEqual([`backup:${first.id}`, `server:${server.id}`].sort());

    // The stored tar hashes to the record's digest, read by plain restic.
    const { stdout } = await exec('sh', ['-c', `restic --no-cache dump ${first.snapshotId} /${first.id}.tar | sha256sum`], { env: plainResticEnv(repository) });
    expect(stdout.split(' ')[0]).toBe(first.sha256);

    const rel = source.replace(/^\//, '');
    const files = await db.db.select().from(backupFiles).where(eq(backupFiles.backupId, first.id));
    const byPath = new Map(files.map((f) => [f.path, f]));
    // The folders above the backed-up path are not tar members; they are listed once each, so browsing from the top
    // (parent '') reaches the data.
    const ancestors = rel.split('/').slice(0, -1).map((_, i, parts) => parts.slice(0, i + 1).join('/'));
    expect(ancestors.length).toBeGreaterThan(0);
    for (const a of ancestors) expect(byPath.get(a)).toMatchObject({ type: 'dir', size: 0, mtime: null });
    expect(files.filter((f) => f.parent === '').map((f) => f.path)).toEqual([ancestors[0]]);
    expect(first.filesCount).toBe(files.length - ancestors.length);
    expect(byPath.get(`${rel}/data/random-large.bin`)).toMatchObject({ type: 'file', size: 3 * 1024 * 1024 + 17, parent: `${rel}/data`, name: 'random-large.bin' });
    expect(byPath.get(`${rel}/link-to-readme`)).toMatchObject({ type: 'symlink', size: 0 });
    expect(byPath.get(`${rel}/odd names`)).toMatchObject({ type: 'dir' });
    expect(byPath.get(`${rel}/data/empty.txt`)?.mtime).toBeInstanceOf(Date);
    // Nothing but the repository (and restic's cache) under BACKUP_DIR: no archive files.
    expect((await readdir(h.backupDir)).sort()).toEqual(['.restic-cache', 'repository']);
  });

  it('a second backup of unchanged data adds less than 1 % of its size', async () => {
    const second = await backup(server);
    expect(second.status).toBe('completed');
    expect(second.snapshotId).not.toBe(first.snapshotId);
    expect(second.sha256).toBe(first.sha256);
    expect(second.bytesAdded!).toBeLessThan(second.bytesRead! / 100);
  });

  it('plain restic finds and restores it: the recovery commands of docs/BACKUPS.md', async () => {
    const out = await tempDir('mm-plain-restic-');
    cleanupDirs.push(out);
    const [latest] = (await snapshotsTagged(`server:${server.id}`)).slice(-1);
    const tag = latest!.tags.find((t) => t.startsWith('backup:'))!;
    await exec('sh', ['-c', `restic --no-cache dump ${latest!.id} /${tag.slice('backup:'.length)}.tar | tar -x -C "$OUT"`], { env: { ...plainResticEnv(repository), OUT: out } });
    expect(await expectSameTree(source, join(out, source))).toBe(8);
  });

  it('a failing tar leaves no snapshot behind and fails the record', async () => {
    const bad = await insertTestServer(db.db, sshd, { credentialsKey: h.credentialsKey, name: 'bad-paths', backupPaths: [join(sshd.workDir, 'does-not-exist')] });
    const record = await backup(bad);
    expect(record.status).toBe('failed');
    expect(record.error).toMatch(/Cannot stat|No such file/);
    expect(await snapshotsTagged(`backup:${record.id}`)).toEqual([]);
  });
});

describe('restore and verify of repository backups', () => {
  async function restore(b: Backup, targetPath: string): Promise<Restore> {
    const restoreId = randomUUID();
    const job = await producer.enqueue('backup:restore', { restoreId, backupId: b.id, serverId: b.serverId, targetPath, userId: null });
    await job.waitUntilFinished(events).catch(() => undefined);
    const row = await db.db.query.restores.findFirst({ where: (r, { eq: equals }) => equals(r.id, restoreId) });
    return row!;
  }

  it('restores the snapshot under targetPath byte for byte', async () => {
    const target = join(sshd.workDir, `restore-${randomUUID()}`);
    const row = await restore(first, target);
    expect(row.error).toBeNull();
    expect(row).toMatchObject({ status: 'completed', chain: [first.id], bytes: first.sizeBytes });
    expect(await expectSameTree(source, join(target, source))).toBe(8);
  });

  it('refuses a target under a symlink before extracting anything (issue #12)', async () => {
    const real = join(sshd.workDir, `real-${randomUUID()}`);
    const link = join(sshd.workDir, `link-${randomUUID()}`);
    await mkdir(real);
    await chown(real, ...(await ids()));
    await symlink(real, link);
    const row = await restore(first, join(link, 'inside'));
    expect(row.status).toBe('failed');
    expect(row.error).toMatch(/restore refused: .*is a symbolic link: .*link-/);
    expect(await readdir(real)).toEqual([]);
    // Not retried: a refusal is final.
    expect(row.attempts).toBe(1);
  });

  it('refuses a target that is itself a symlink, and one under a world-writable folder without the sticky bit', async () => {
    const real = join(sshd.workDir, `real-${randomUUID()}`);
    await mkdir(real);
    const link = join(sshd.workDir, `target-link-${randomUUID()}`);
    await symlink(real, link);
    const viaLink = await restore(first, link);
    expect(viaLink.error).toMatch(/is a symbolic link/);
    expect(await readdir(real)).toEqual([]);

    const open777 = join(sshd.workDir, `shared-${randomUUID()}`);
    await mkdir(open777);
    await chmod(open777, 0o777);
    const shared = await restore(first, join(open777, 'restore'));
    expect(shared.status).toBe('failed');
    expect(shared.error).toMatch(/world-writable without the sticky bit: .*shared-/);
    expect(await readdir(open777)).toEqual([]);
  });

  it('verify reads the snapshot back and passes', async () => {
    const job = await producer.enqueue('backup:verify', { verifyId: randomUUID(), backupId: first.id, userId: null });
    const result = (await job.waitUntilFinished(events)) as VerifyJobResult;
    expect(result).toMatchObject({ status: 'passed', error: null, sha256: first.sha256, sizeBytes: first.sizeBytes });
    expect(result.entries).toBe(first.filesCount);
  });
});

describe('retention on a repository', () => {
  it('forgets per server tag by policy, prunes, and deletes exactly the records restic removed', async () => {
    const other = await insertTestServer(db.db, sshd, { credentialsKey: h.credentialsKey, name: 'db-2', backupPaths: [source] });
    const otherBackup = await backup(other);
    const before = (await db.db.query.backups.findMany({ where: (b, { and, eq: equals }) => and(equals(b.serverId, server.id), equals(b.status, 'completed')) })).sort(
      (a, b) => a.startedAt!.getTime() - b.startedAt!.getTime(),
    );
    expect(before.length).toBe(2);
    await db.db.insert(retentionPolicies).values({ serverId: server.id, keepLast: 1 });
    const job = await producer.enqueue('backup:cleanup', { userId: null });
    const result = (await job.waitUntilFinished(events)) as CleanupResult;
    expect(result.backups.map((b) => b.id)).toEqual([before[0]!.id]);
    expect(result.backups[0]!.snapshotId).toBe(before[0]!.snapshotId);
    expect((await snapshotsTagged(`server:${server.id}`)).map((s) => s.id)).toEqual([before[1]!.snapshotId]);
    // The other server's snapshot is untouched, and prune left the repository consistent.
    expect((await snapshotsTagged(`server:${other.id}`)).map((s) => s.id)).toEqual([otherBackup.snapshotId]);
    await restic(['check']);
    expect(await db.db.query.backups.findFirst({ where: (b, { eq: equals }) => equals(b.id, before[0]!.id) })).toBeUndefined();
  });

  it('a flipped byte in a pack file fails verification naming the backup', async () => {
    const kept = (await db.db.query.backups.findMany({ where: (b, { and, eq: equals }) => and(equals(b.serverId, server.id), equals(b.status, 'completed')) }))[0]!;
    const dataDir = join(repository.path, 'data');
    for (const sub of await readdir(dataDir)) {
      for (const f of await readdir(join(dataDir, sub))) {
        const handle = await open(join(dataDir, sub, f), 'r+');
        const { size } = await handle.stat();
        const buf = Buffer.alloc(1);
        await handle.read(buf, 0, 1, Math.floor(size / 2));
        buf[0] = buf[0]! ^ 0xff;
        await handle.write(buf, 0, 1, Math.floor(size / 2));
        await handle.close();
      }
    }
    const job = await producer.enqueue('backup:verify', { verifyId: randomUUID(), backupId: kept.id, userId: null });
    const result = (await job.waitUntilFinished(events)) as VerifyJobResult;
    expect(result.status).toBe('failed');
    expect(result.error).toContain(kept.id);
    const record = await recordOf(kept.id);
    expect(record).toMatchObject({ status: 'completed', verifyStatus: 'failed' });
  });
});

async function ids(): Promise<[number, number]> {
  const { stdout } = await run('id', ['-u', TEST_SSH_USER]);
  const { stdout: g } = await run('id', ['-g', TEST_SSH_USER]);
  return [Number(stdout.trim()), Number(g.trim())];
}

describe('a named storage target', () => {
  it('backs up into the target the trigger names, records it, and verifies from it', async () => {
    const targetId = randomUUID();
    const path = join(h.backupDir, 'named-target');
    const targetPassword = 'named target password';
    await db.db.insert(storageTargets).values({
      id: targetId,
      name: 'offsite-1',
      engine: 'restic',
      locationType: 'local',
      location: { type: 'local', path },
      secrets: encryptStorageTargetSecrets({ repositoryPassword: targetPassword }, h.credentialsKey, targetId),
    });
    const backupId = randomUUID();
    const job = await producer.enqueue('backup:manual', {
      serverId: server.id,
      backupId,
      userId: null,
      options: { backup_type: 'full', compression: false, encryption: true },
      isScheduled: false,
      storageTargetId: targetId,
    });
    await job.waitUntilFinished(events);
    const record = await recordOf(backupId);
    expect(record).toMatchObject({ status: 'completed', engine: 'restic', storageTargetId: targetId });
    // In the named repository, opened with its own password; not in the default one.
    const { stdout } = await exec('restic', ['--no-cache', 'snapshots', '--json', '--tag', `backup:${backupId}`], { env: { ...plainResticEnv(repository), RESTIC_REPOSITORY: path, RESTIC_PASSWORD: targetPassword } });
    expect((JSON.parse(stdout) as { id: string }[]).map((s) => s.id)).toEqual([record.snapshotId]);
    expect(await snapshotsTagged(`backup:${backupId}`)).toEqual([]);
    const verify = await producer.enqueue('backup:verify', { verifyId: randomUUID(), backupId, userId: null });
    expect(((await verify.waitUntilFinished(events)) as VerifyJobResult).status).toBe('passed');
  });
});
