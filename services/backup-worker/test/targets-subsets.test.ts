import { randomBytes, randomUUID } from 'node:crypto';
import { access, open, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encryptStorageTargetSecrets, storageTargetChecks, storageTargets, type Backup, type Restore, type Server } from '@mm/db';
import type { BackupOptions } from '@mm/jobs';
import { insertTestServer, TEST_SSH_USER } from '@mm/testing';
import type { CheckTargetResult } from '../src/handlers/check-target.js';
import type { VerifyJobResult } from '../src/handlers/verify.js';
import { filesUnder, run, startBackupHarness, tempDir, writeTree, type BackupHarness } from './backup-test-kit.js';

// Issue #14, second part: named archive targets, restores of a `paths` subset on both engines, and a failed target
// check naming the backups whose snapshots use a damaged pack. Real restic, sshd and tar throughout.
let h: BackupHarness;
let server: Server;
let source: string;
let archiveFolder: string;
let archiveTargetId: string;

const exists = (path: string) => access(path).then(() => true, () => false);

beforeAll(async () => {
  h = await startBackupHarness('mm-targets-subsets-', { repository: true });
  source = join(h.sshd.workDir, 'subset-src');
  await writeTree(source, {
    'etc/app.conf': 'listen = 8080\n',
    'www/index.html': '<h1>hello</h1>\n',
    'www/img/logo.bin': randomBytes(50_000),
    'other.txt': 'not asked for\n',
  });
  server = await insertTestServer(h.db.db, h.sshd, { credentialsKey: h.credentialsKey, name: 'subset-1', backupPaths: [source] });
  archiveFolder = await tempDir('mm-archive-target-');
  archiveTargetId = randomUUID();
  await h.db.db.insert(storageTargets).values({
    id: archiveTargetId,
    name: 'plain-files',
    engine: 'archive',
    locationType: 'local',
    location: { type: 'local', path: archiveFolder },
    secrets: encryptStorageTargetSecrets({}, h.credentialsKey, archiveTargetId),
  });
});
afterAll(async () => {
  await h?.close();
  if (archiveFolder) await run('rm', ['-rf', archiveFolder]);
});

async function backup(s: Server, options: Partial<BackupOptions>, storageTargetId?: string): Promise<Backup> {
  const backupId = randomUUID();
  const opts: BackupOptions = { backup_type: 'full', compression: true, encryption: false, ...options };
  const job = await h.producer.enqueue('backup:manual', { serverId: s.id, backupId, userId: null, options: opts, isScheduled: false, ...(storageTargetId ? { storageTargetId } : {}) });
  await job.waitUntilFinished(h.events).catch(() => undefined);
  const row = await h.db.db.query.backups.findFirst({ where: (b, { eq: equals }) => equals(b.id, backupId) });
  return row!;
}

async function restore(b: Backup, targetPath: string, paths?: string[]): Promise<Restore> {
  const restoreId = randomUUID();
  const job = await h.producer.enqueue('backup:restore', { restoreId, backupId: b.id, serverId: b.serverId, targetPath, userId: null, ...(paths ? { paths } : {}) });
  await job.waitUntilFinished(h.events).catch(() => undefined);
  const row = await h.db.db.query.restores.findFirst({ where: (r, { eq: equals }) => equals(r.id, restoreId) });
  return row!;
}

const relativeFiles = async (root: string) => (await filesUnder(root)).sort();

describe('a named archive target (a local folder)', () => {
  let full: Backup;
  let incremental: Backup;

  it('keeps the full and the incremental as plain files in its folder, not in BACKUP_DIR, and verifies them there', async () => {
    full = await backup(server, { encryption: true }, archiveTargetId);
    expect(full.error).toBeNull();
    expect(full).toMatchObject({ status: 'completed', engine: 'archive', storageTargetId: archiveTargetId, encryption: true });
    expect(full.filePath).toBe(join(archiveFolder, server.id, `${full.id}.tar.gz.enc`));
    expect((await stat(full.filePath!)).size).toBe(full.sizeBytes);
    expect(await exists(join(h.backupDir, server.id))).toBe(false);

    await writeFile(join(source, 'www/new.html'), '<p>added after the full</p>\n');
    await run('chown', [`${TEST_SSH_USER}:${TEST_SSH_USER}`, join(source, 'www/new.html')]);
    incremental = await backup(server, { encryption: true, backup_type: 'incremental' }, archiveTargetId);
    expect(incremental).toMatchObject({ status: 'completed', backupType: 'incremental', baseBackupId: full.id, storageTargetId: archiveTargetId });
    expect(incremental.filePath!.startsWith(`${archiveFolder}/`)).toBe(true);
    // The GNU tar snapshot files live beside the archives, in the target's folder.
    expect((await readdir(join(archiveFolder, server.id))).sort()).toEqual([`${full.id}.snar.enc`, `${full.id}.tar.gz.enc`, `${incremental.id}.snar.enc`, `${incremental.id}.tar.gz.enc`].sort());

    const job = await h.producer.enqueue('backup:verify', { verifyId: randomUUID(), backupId: incremental.id, userId: null });
    expect(((await job.waitUntilFinished(h.events)) as VerifyJobResult).status).toBe('passed');
  });

  it('restores a folder of the chain: only what is under it, a file only the incremental holds included', async () => {
    const target = join(h.sshd.workDir, `subset-archive-${randomUUID()}`);
    const row = await restore(incremental, target, [`${source}/www`]);
    expect(row.error).toBeNull();
    expect(row).toMatchObject({ status: 'completed', chain: [full.id, incremental.id], paths: [`${source}/www`] });
    expect(await relativeFiles(join(target, source))).toEqual(['www/img/logo.bin', 'www/index.html', 'www/new.html']);

    const onlyNew = join(h.sshd.workDir, `subset-new-${randomUUID()}`);
    const one = await restore(incremental, onlyNew, [`${source}/www/new.html`]);
    expect(one.error).toBeNull();
    expect(await relativeFiles(join(onlyNew, source))).toEqual(['www/new.html']);
  });

  it('a path the chain does not hold fails naming it', async () => {
    const row = await restore(incremental, join(h.sshd.workDir, `subset-missing-${randomUUID()}`), [`${source}/no-such-file`]);
    expect(row.status).toBe('failed');
    expect(row.error).toMatch(new RegExp(`not in backup ${incremental.id} or its chain: ${source}/no-such-file`));
    expect(row.attempts).toBe(1);
  });
});

describe('restore of a subset from a repository', () => {
  let snapshot: Backup;

  beforeAll(async () => {
    snapshot = await backup(server, {});
    expect(snapshot).toMatchObject({ status: 'completed', engine: 'restic' });
  });

  it('extracts only the files and folders asked for, hashing the whole stream as before', async () => {
    const target = join(h.sshd.workDir, `subset-restic-${randomUUID()}`);
    const row = await restore(snapshot, target, [`${source}/etc/app.conf`, `${source}/www/img`]);
    expect(row.error).toBeNull();
    expect(row).toMatchObject({ status: 'completed', paths: [`${source}/etc/app.conf`, `${source}/www/img`], bytes: snapshot.sizeBytes });
    expect(await relativeFiles(join(target, source))).toEqual(['etc/app.conf', 'www/img/logo.bin']);
  });

  it('keeps the restore safety rules: a target under a symlink is refused before anything is extracted', async () => {
    const real = join(h.sshd.workDir, `subset-real-${randomUUID()}`);
    const link = join(h.sshd.workDir, `subset-link-${randomUUID()}`);
    await run('mkdir', [real]);
    await run('ln', ['-s', real, link]);
    const row = await restore(snapshot, join(link, 'inside'), [`${source}/etc`]);
    expect(row.status).toBe('failed');
    expect(row.error).toMatch(/restore refused: .*is a symbolic link/);
    expect(await readdir(real)).toEqual([]);
  });
});

describe('a failed check of a target names the backups it affects', () => {
  it('traces the damaged pack to the one backup whose snapshot uses it', async () => {
    const targetId = randomUUID();
    const path = join(h.backupDir, 'checked-target');
    await h.db.db.insert(storageTargets).values({
      id: targetId,
      name: 'checked',
      engine: 'restic',
      locationType: 'local',
      location: { type: 'local', path },
      secrets: encryptStorageTargetSecrets({ repositoryPassword: 'checked target password' }, h.credentialsKey, targetId),
    });
    const otherSource = join(h.sshd.workDir, 'check-src-b');
    await writeTree(otherSource, { 'data.bin': randomBytes(400_000) });
    const otherServer = await insertTestServer(h.db.db, h.sshd, { credentialsKey: h.credentialsKey, name: 'subset-2', backupPaths: [otherSource] });

    const a = await backup(server, { compression: false }, targetId);
    const packsBefore = await packs(path);
    const b = await backup(otherServer, { compression: false }, targetId);
    expect([a.status, b.status]).toEqual(['completed', 'completed']);
    // B's random data is in packs A never used: the largest new pack holds it.
    const added = (await packs(path)).filter((p) => !packsBefore.some((q) => q.id === p.id)).sort((x, y) => y.size - x.size);
    const damaged = added[0]!;
    const handle = await open(damaged.file, 'r+');
    const buf = Buffer.alloc(1);
    await handle.read(buf, 0, 1, Math.floor(damaged.size / 2));
    buf[0] = buf[0]! ^ 0xff;
    await handle.write(buf, 0, 1, Math.floor(damaged.size / 2));
    await handle.close();

    // restic reads the packs whose first byte % 12 is n-1: steer the rotation to the damaged pack's slice.
    const n = (Number.parseInt(damaged.id.slice(0, 2), 16) % 12) + 1;
    for (let i = 1; i < n; i++) await h.db.db.insert(storageTargetChecks).values({ id: randomUUID(), storageTargetId: targetId, status: 'passed', readDataSubset: `${i}/12` });
    const checkId = randomUUID();
    await h.db.db.insert(storageTargetChecks).values({ id: checkId, storageTargetId: targetId, status: 'pending' });
    const job = await h.producer.enqueue('backup:check-target', { checkId, storageTargetId: targetId, userId: null });
    const result = (await job.waitUntilFinished(h.events)) as CheckTargetResult;
    expect(result).toMatchObject({ status: 'failed', readDataSubset: `${n}/12`, affectedBackupIds: [b.id] });
    expect(result.message).toContain(`damaged data affects backup(s) ${b.id}`);
    const [row] = await h.db.db.select().from(storageTargetChecks).where(eq(storageTargetChecks.id, checkId));
    expect(row).toMatchObject({ status: 'failed', affectedBackupIds: [b.id] });
    expect(row!.message).not.toContain(a.id);
  });
});

async function packs(repository: string): Promise<{ id: string; file: string; size: number }[]> {
  const out: { id: string; file: string; size: number }[] = [];
  for (const sub of await readdir(join(repository, 'data'))) {
    for (const id of await readdir(join(repository, 'data', sub))) {
      const file = join(repository, 'data', sub, id);
      out.push({ id, file, size: (await stat(file)).size });
    }
  }
  return out;
}
