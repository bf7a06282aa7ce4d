import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { appendFile, chmod, lstat, open, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { QueueEvents } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Backup, Restore, Server } from '@mm/db';
import type { BackupOptions, Producer } from '@mm/jobs';
import { insertTestServer, TEST_SSH_USER, type TestDatabase, type TestSshd } from '@mm/testing';
import type { RestoreJobResult } from '../src/restore-result.js';
import type { VerifyJobResult } from '../src/handlers/verify.js';
import { expectSameTree, run, startBackupHarness, writeTree, type BackupHarness } from './backup-test-kit.js';

let h: BackupHarness;
let db: TestDatabase;
let sshd: TestSshd;
let producer: Producer;
let events: QueueEvents;
let credentialsKey: string;

beforeAll(async () => {
  h = await startBackupHarness('mm-verify-store-');
  ({ db, sshd, producer, events, credentialsKey } = h);
});

afterAll(async () => {
  await h?.close();
});

async function backupOf(server: Server, options: Partial<BackupOptions>): Promise<Backup> {
  const backupId = randomUUID();
  const opts: BackupOptions = { backup_type: 'full', compression: false, encryption: false, ...options };
  const job = await producer.enqueue('backup:manual', { serverId: server.id, backupId, userId: null, options: opts, isScheduled: false });
  await job.waitUntilFinished(events);
  const row = await db.db.query.backups.findFirst({ where: (b, { eq }) => eq(b.id, backupId) });
  if (row?.status !== 'completed') throw new Error(`backup ${backupId} did not complete: ${row?.error ?? 'no record'}`);
  return row;
}

async function verify(backup: Backup): Promise<{ result: VerifyJobResult; record: Backup }> {
  const job = await producer.enqueue('backup:verify', { verifyId: randomUUID(), backupId: backup.id, userId: null });
  const result = (await job.waitUntilFinished(events)) as VerifyJobResult;
  const record = await db.db.query.backups.findFirst({ where: (b, { eq }) => eq(b.id, backup.id) });
  return { result, record: record as Backup };
}

function restoreJob(backup: Backup, targetPath: string) {
  const restoreId = randomUUID();
  return { restoreId, job: producer.enqueue('backup:restore', { restoreId, backupId: backup.id, serverId: backup.serverId, targetPath, userId: null }) };
}

async function restoreRecord(id: string): Promise<Restore> {
  const row = await db.db.query.restores.findFirst({ where: (r, { eq }) => eq(r.id, id) });
  if (!row) throw new Error(`no restore record ${id}`);
  return row;
}

/** A fresh, not yet existing folder the SSH user may create: the restore makes it itself. */
function targetUnderWorkDir(): string {
  return join(sshd.workDir, `restore-${randomUUID()}`);
}

/** Flips one byte in the middle of a stored file, as bit rot or tampering would. */
async function flipByte(path: string): Promise<void> {
  const handle = await open(path, 'r+');
  try {
    const { size } = await handle.stat();
    const at = Math.floor(size / 2);
    const buf = Buffer.alloc(1);
    await handle.read(buf, 0, 1, at);
    buf[0] = (buf[0] as number) ^ 0xff;
    await handle.write(buf, 0, 1, at);
  } finally {
    await handle.close();
  }
}

/** Permission bits of every entry under `root` (symlinks excluded: their mode is not theirs). */
async function modesOf(root: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const rel of (await readdir(root, { recursive: true })).sort()) {
    const info = await lstat(join(root, rel));
    if (!info.isSymbolicLink()) out[rel] = (info.mode & 0o7777).toString(8);
  }
  return out;
}

/** Text, random binary, nesting, an odd name, a symlink, and distinct modes (0600 file, 0750 folder, 0755 script). */
async function writeSource(name: string): Promise<string> {
  const root = join(sshd.workDir, name);
  await writeTree(
    root,
    {
      'readme.txt': 'restore fixture\n'.repeat(20),
      'secret.key': randomBytes(64),
      'bin/run.sh': '#!/bin/sh\necho hi\n',
      'data/blob.bin': randomBytes(200_000),
      'data/deep/leaf.bin': randomBytes(3_000),
      "odd names/it's here.txt": 'odd\n',
    },
    { 'link-to-readme': 'readme.txt' },
  );
  await chmod(join(root, 'secret.key'), 0o600);
  await chmod(join(root, 'bin/run.sh'), 0o755);
  await chmod(join(root, 'data/deep'), 0o750);
  return root;
}

/** The restored copy of `source` (archives keep paths relative to `/`) equals it byte for byte and mode for mode. */
async function expectRestored(source: string, target: string): Promise<void> {
  const copy = join(target, source);
  expect(await expectSameTree(source, copy)).toBe(7);
  expect(await modesOf(copy)).toEqual(await modesOf(source));
}

describe('backup:verify', () => {
  let server: Server;
  beforeAll(async () => {
    server = await insertTestServer(db.db, sshd, { credentialsKey, backupPaths: [await writeSource('verify-src')] });
  });

  it.each([
    { compression: false, encryption: false },
    { compression: true, encryption: true },
  ])('passes on an intact backup (compression=$compression encryption=$encryption) and counts its members', async (format) => {
    const backup = await backupOf(server, format);
    const { result, record } = await verify(backup);
    expect(result).toMatchObject({ backupId: backup.id, status: 'passed', error: null, sha256: backup.sha256, sizeBytes: backup.sizeBytes });
    expect(record).toMatchObject({ status: 'completed', verifyStatus: 'passed', verifyError: null, verifyEntries: result.entries });
    expect(record.verifiedAt).toBeInstanceOf(Date);
    // 7 files and links, plus the folders from / down to them (tar lists each one).
    expect(result.entries).toBeGreaterThanOrEqual(7);
  });

  it('lists the same members tar itself finds in a plain archive', async () => {
    const backup = await backupOf(server, {});
    const { stdout } = await run('tar', ['-tf', backup.filePath as string], { maxBuffer: 1024 * 1024 });
    const { result } = await verify(backup);
    expect(result.entries).toBe(stdout.split('\n').filter((l) => l !== '').length);
  });

  it('a flipped byte in a plain archive fails on its sha256; the backup stays completed', async () => {
    const backup = await backupOf(server, {});
    await flipByte(backup.filePath as string);
    const { result, record } = await verify(backup);
    expect(result.status).toBe('failed');
    expect(result.error).toMatch(/^sha256 mismatch: stored file hashes to [0-9a-f]{64}, its record says /);
    expect(result.error).toContain(backup.sha256 as string);
    expect(record).toMatchObject({ status: 'completed', verifyStatus: 'failed', verifyError: result.error });
  });

  it('a flipped byte in an encrypted archive fails its chunk authentication', async () => {
    const backup = await backupOf(server, { encryption: true, compression: true });
    await flipByte(backup.filePath as string);
    const { result, record } = await verify(backup);
    expect(result).toMatchObject({ status: 'failed', entries: null, sha256: null });
    expect(result.error).toMatch(/encrypted backup failed authentication at chunk \d+/);
    expect(record).toMatchObject({ verifyStatus: 'failed', verifyError: result.error, verifyEntries: null });
  });

  it('a stored file that is gone fails with that reason', async () => {
    const backup = await backupOf(server, { compression: true });
    await rm(backup.filePath as string);
    const { result, record } = await verify(backup);
    expect(result.error).toBe(`the stored file ${backup.filePath} no longer exists`);
    expect(record.verifyStatus).toBe('failed');
  });
});

describe('backup:restore', () => {
  it('restores a compressed, encrypted full backup under targetPath byte for byte, with modes and milestones', async () => {
    const source = await writeSource('restore-full-src');
    const server = await insertTestServer(db.db, sshd, { credentialsKey, backupPaths: [source] });
    const backup = await backupOf(server, { compression: true, encryption: true });
    const target = targetUnderWorkDir();
    const { restoreId, job } = restoreJob(backup, target);
    const seen: number[] = [];
    const onProgress = ({ jobId, data }: { jobId: string; data: unknown }) => {
      if (jobId === restoreId) seen.push(data as number);
    };
    events.on('progress', onProgress);
    let result: RestoreJobResult;
    try {
      result = (await (await job).waitUntilFinished(events)) as RestoreJobResult;
    } finally {
      events.off('progress', onProgress);
    }
    expect(seen.slice(0, 4)).toEqual([10, 20, 30, 40]);
    expect(seen.slice(-2)).toEqual([90, 100]);
    await expectRestored(source, target);

    expect(result).toMatchObject({ restoreId, backupId: backup.id, serverId: server.id, targetPath: target, chain: [backup.id], warnings: [] });
    // Decrypted locally, still gzip on the wire: fewer bytes than the .enc file (header and tags), more than zero.
    expect(result.bytes).toBeGreaterThan(0);
    expect(result.bytes).toBeLessThan(backup.sizeBytes as number);
    expect(result.entries).toBeGreaterThanOrEqual(7);
    expect(await restoreRecord(restoreId)).toMatchObject({
      status: 'completed',
      progress: 100,
      serverId: server.id,
      backupId: backup.id,
      targetPath: target,
      chain: [backup.id],
      bytes: result.bytes,
      result,
      error: null,
    });
  });

  it('restores a full + incremental chain in order, reproducing the current tree', async () => {
    const source = await writeSource('restore-chain-src');
    const server = await insertTestServer(db.db, sshd, { credentialsKey, backupPaths: [source] });
    const full = await backupOf(server, {});
    await appendFile(join(source, 'readme.txt'), 'changed after the full\n');
    await writeFile(join(source, 'data/new.bin'), randomBytes(10_000));
    await run('chown', [`${TEST_SSH_USER}:${TEST_SSH_USER}`, join(source, 'data/new.bin')]);
    await chmod(join(source, 'data/new.bin'), 0o640);
    const incremental = await backupOf(server, { backup_type: 'incremental', encryption: true });
    expect(incremental).toMatchObject({ backupType: 'incremental', baseBackupId: full.id });

    const target = targetUnderWorkDir();
    const { restoreId, job } = restoreJob(incremental, target);
    const result = (await (await job).waitUntilFinished(events)) as RestoreJobResult;
    expect(result.chain).toEqual([full.id, incremental.id]);
    const copy = join(target, source);
    expect(await expectSameTree(source, copy)).toBe(8);
    expect(await modesOf(copy)).toEqual(await modesOf(source));
    expect((await restoreRecord(restoreId)).chain).toEqual([full.id, incremental.id]);
  });

  it('a file deleted between the full and the incremental is absent after the chain restore (issue #12)', async () => {
    const source = await writeSource('restore-deleted-src');
    const server = await insertTestServer(db.db, sshd, { credentialsKey, backupPaths: [source] });
    // Encrypted: the full's snapshot file is stored encrypted and decrypted on its way to the server for the incremental.
    const full = await backupOf(server, { compression: true, encryption: true });
    await rm(join(source, 'data/deep/leaf.bin'));
    await rm(join(source, "odd names/it's here.txt"));
    const incremental = await backupOf(server, { backup_type: 'incremental', compression: true });
    expect(incremental).toMatchObject({ backupType: 'incremental', baseBackupId: full.id });

    const target = targetUnderWorkDir();
    const { job } = restoreJob(incremental, target);
    const result = (await (await job).waitUntilFinished(events)) as RestoreJobResult;
    expect(result.chain).toEqual([full.id, incremental.id]);
    const copy = join(target, source);
    expect(existsSync(join(copy, 'data/deep/leaf.bin'))).toBe(false);
    expect(existsSync(join(copy, "odd names/it's here.txt"))).toBe(false);
    // Everything else is there, byte for byte and mode for mode.
    expect(await expectSameTree(source, copy)).toBe(5);
    expect(await modesOf(copy)).toEqual(await modesOf(source));
  });

  it('a tampered archive in the chain fails before anything is extracted, and is not retried', async () => {
    const source = await writeSource('restore-tampered-src');
    const server = await insertTestServer(db.db, sshd, { credentialsKey, backupPaths: [source] });
    const full = await backupOf(server, { compression: true });
    const incremental = await backupOf(server, { backup_type: 'incremental' });
    await flipByte(full.filePath as string);

    const target = targetUnderWorkDir();
    const { restoreId, job } = restoreJob(incremental, target);
    await expect((await job).waitUntilFinished(events)).rejects.toThrow(
      new RegExp(`backup ${full.id} cannot be restored: the stored file .* hashes to [0-9a-f]{64}; its record says ${full.sha256}; nothing was extracted`),
    );
    expect(existsSync(target)).toBe(false);
    const record = await restoreRecord(restoreId);
    expect(record).toMatchObject({ status: 'failed', attempts: 1, chain: [full.id, incremental.id], bytes: null });
    expect(record.error).toMatch(/nothing was extracted/);
  });

  it('refuses a backup that is not completed', async () => {
    const source = await writeSource('restore-missing-src');
    const server = await insertTestServer(db.db, sshd, { credentialsKey, backupPaths: [source] });
    const backup = await backupOf(server, {});
    await db.sql`update backups set status = 'failed' where id = ${backup.id}`;
    const { restoreId, job } = restoreJob(backup, targetUnderWorkDir());
    await expect((await job).waitUntilFinished(events)).rejects.toThrow(`backup ${backup.id} is failed, not completed`);
    expect((await restoreRecord(restoreId)).status).toBe('failed');
  });
});
