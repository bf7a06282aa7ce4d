import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { appendFile, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { QueueEvents } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Backup, Server } from '@mm/db';
import { recordIdOf, type BackupOptions, type Producer } from '@mm/jobs';
import { insertTestServer, type TestDatabase, type TestSshd } from '@mm/testing';
import { sql } from 'drizzle-orm';
import { expectSameTree, extractArchive, filesUnder, listArchive, PAST, run, sha256File, startBackupHarness, writeSampleTree, writeTree, type BackupHarness } from './backup-test-kit.js';

let h: BackupHarness;
let db: TestDatabase;
let sshd: TestSshd;
let backupDir: string;
let producer: Producer;
let events: QueueEvents;
let credentialsKey: string;
let encryptionKey: string;
const cleanupDirs: string[] = [];

beforeAll(async () => {
  h = await startBackupHarness('mm-backup-store-');
  ({ db, sshd, backupDir, producer, events, credentialsKey, encryptionKey } = h);
});

afterAll(async () => {
  await h?.close();
  await Promise.all(cleanupDirs.map((d) => rm(d, { recursive: true, force: true })));
});

async function serverWith(backupPaths: string[]): Promise<Server> {
  return insertTestServer(db.db, sshd, { credentialsKey, backupPaths });
}

/** Straight into the row, as a compromised or careless API client could have stored them. */
async function setBackupPaths(server: Server, paths: string[]): Promise<void> {
  await db.sql`update servers set backup_paths = ${paths} where id = ${server.id}`;
}

async function recordOf(id: string): Promise<Backup> {
  const row = await db.db.query.backups.findFirst({ where: (b, { eq }) => eq(b.id, id) });
  if (!row) throw new Error(`no backup record ${id}`);
  return row;
}

type BackupJobName = 'backup:manual' | 'backup:scheduled';

function enqueue(server: Server, options: Partial<BackupOptions>) {
  const backupId = randomUUID();
  const opts: BackupOptions = { backup_type: 'full', compression: false, encryption: false, ...options };
  return { backupId, job: producer.enqueue('backup:manual', { serverId: server.id, backupId, userId: null, options: opts, isScheduled: false }) };
}

async function backupOf(server: Server, options: Partial<BackupOptions>, name: BackupJobName = 'backup:manual'): Promise<Backup> {
  const opts: BackupOptions = { backup_type: 'full', compression: false, encryption: false, ...options };
  // A scheduled job carries no backup id: its record id comes from the job id (recordIdOf).
  const job =
    name === 'backup:manual'
      ? await enqueue(server, options).job
      : await producer.enqueue('backup:scheduled', { serverId: server.id, scheduleId: randomUUID(), options: opts });
  await job.waitUntilFinished(events);
  return recordOf(recordIdOf(name, job.data, String(job.id)));
}

async function sourceTree(name: string): Promise<string> {
  const dir = join(sshd.workDir, name);
  await writeSampleTree(dir);
  return dir;
}

/** Extracts the stored archive and compares it with the source, file by file. */
async function expectRoundTrip(record: Backup, source: string): Promise<void> {
  expect(record.filePath).toBeTruthy();
  const filePath = record.filePath as string;
  expect(record.sha256).toBe(await sha256File(filePath));
  expect(record.sizeBytes).toBe((await stat(filePath)).size);
  const out = await extractArchive(filePath, encryptionKey);
  cleanupDirs.push(out);
  // writeSampleTree: 7 regular files (one empty) and one symlink.
  expect(await expectSameTree(source, join(out, source))).toBe(8);
}

describe('full backups', () => {
  let server: Server;
  let source: string;
  beforeAll(async () => {
    source = await sourceTree('full-src');
    server = await serverWith([source]);
  });

  it('stores a plain tar, reports the progress milestones in order, and round-trips', async () => {
    const { backupId, job } = enqueue(server, {});
    const seen: number[] = [];
    const onProgress = ({ jobId, data }: { jobId: string; data: unknown }) => {
      if (jobId === backupId) seen.push(data as number);
    };
    events.on('progress', onProgress);
    try {
      await (await job).waitUntilFinished(events);
    } finally {
      events.off('progress', onProgress);
    }
    expect(seen).toEqual([10, 20, 30, 40, 90, 100]);

    const record = await recordOf(backupId);
    expect(record).toMatchObject({
      status: 'completed',
      progress: 100,
      backupType: 'full',
      compression: false,
      encryption: false,
      isScheduled: false,
      paths: [source],
      baseBackupId: null,
      warnings: [],
      filePath: join(backupDir, server.id, `${backupId}.tar`),
    });
    expect(record.durationMs).toBeGreaterThanOrEqual(0);
    expect(record.finishedAt).toBeInstanceOf(Date);
    await expectRoundTrip(record, source);
  });

  it.each([
    { compression: true, encryption: false, suffix: '.tar.gz' },
    { compression: false, encryption: true, suffix: '.tar.enc' },
    { compression: true, encryption: true, suffix: '.tar.gz.enc' },
  ])('compression=$compression encryption=$encryption stores $suffix and round-trips', async ({ compression, encryption, suffix }) => {
    const record = await backupOf(server, { compression, encryption });
    expect(record).toMatchObject({ status: 'completed', compression, encryption, filePath: join(backupDir, server.id, `${record.id}${suffix}`) });
    await expectRoundTrip(record, source);
    const head = (await readFile(record.filePath as string)).subarray(0, 4);
    // gzip magic when only compressed; our own magic whenever encrypted (nothing of the tar shows through).
    expect(head.toString('latin1')).toBe(encryption ? 'MMBK' : '\x1f\x8b\x08\x00');
  });

  it('a job run again after its record completed reports that backup and leaves its file untouched', async () => {
    const record = await backupOf(server, { compression: true });
    const before = await stat(record.filePath as string);
    // What a worker dying between the record update and BullMQ's completion looks like on the next run.
    await producer.queue('backup').remove(record.id);
    const again = await producer.enqueue('backup:manual', {
      serverId: server.id,
      backupId: record.id,
      userId: null,
      options: { backup_type: 'full', compression: true, encryption: false },
      isScheduled: false,
    });
    const result = await again.waitUntilFinished(events);
    expect(result).toEqual({
      backupId: record.id,
      backupType: 'full',
      engine: 'archive',
      filePath: record.filePath,
      snapshotId: null,
      sizeBytes: record.sizeBytes,
      sha256: record.sha256,
      warnings: [],
    });
    expect(await recordOf(record.id)).toEqual(record);
    expect((await stat(record.filePath as string)).mtimeMs).toBe(before.mtimeMs);
    expect(await sha256File(record.filePath as string)).toBe(record.sha256);
  });

  it('leaves only finished archives in the server folder', async () => {
    const files = await filesUnder(join(backupDir, server.id));
    // Five archives, each with its GNU tar snapshot file (encrypted like the archive).
    expect(files.filter((f) => /\.tar(\.gz)?(\.enc)?$/.test(f)).length).toBe(5);
    expect(files.filter((f) => /\.snar(\.enc)?$/.test(f)).length).toBe(5);
    expect(files.length).toBe(10);
    expect(files.filter((f) => f.endsWith('.partial'))).toEqual([]);
  });
});

describe('incremental backups', () => {
  it('after a full, archives exactly the changed and added files and points at the full (via backup:scheduled)', async () => {
    const source = join(sshd.workDir, 'incr-src');
    await writeTree(source, { 'a.txt': 'first\n', 'b.bin': randomBytes(5_000), 'sub/c.txt': 'third\n', 'sub/d.txt': 'fourth\n' });
    const server = await serverWith([source]);

    const first = await backupOf(server, { backup_type: 'incremental' });
    // No completed backup yet: an incremental request takes a full, and says so.
    expect(first).toMatchObject({ status: 'completed', backupType: 'full', baseBackupId: null });
    expect(first.warnings.join(' ')).toMatch(/took a full backup/);
    const rel = source.slice(1);
    expect(await listArchive(first.filePath as string)).toEqual([`${rel}/a.txt`, `${rel}/b.bin`, `${rel}/sub/c.txt`, `${rel}/sub/d.txt`]);

    await appendFile(join(source, 'sub/c.txt'), 'changed\n');
    await writeFile(join(source, 'sub/new.txt'), 'added\n');
    await run('chown', ['mmtest:mmtest', join(source, 'sub/new.txt')]);

    // The scheduler's job name runs the same handler; only the record's flag differs.
    const second = await backupOf(server, { backup_type: 'incremental' }, 'backup:scheduled');
    expect(second).toMatchObject({ status: 'completed', backupType: 'incremental', baseBackupId: first.id, isScheduled: true, warnings: [] });
    expect(second.since).toBeInstanceOf(Date);
    // since is the server clock when the full started: not after the full finished, not before it was requested.
    expect((second.since as Date).getTime()).toBeLessThanOrEqual((first.finishedAt as Date).getTime());
    expect((second.since as Date).getTime()).toBeGreaterThanOrEqual(first.createdAt.getTime() - 1_000);
    expect(await listArchive(second.filePath as string)).toEqual([`${rel}/sub/c.txt`, `${rel}/sub/new.txt`]);
  });

  it('catches files whose ctime changed with an old mtime (chmod, moved in), through the stored snapshot file (issue #12)', async () => {
    const source = join(sshd.workDir, 'ctime-src');
    await writeTree(source, { 'kept.txt': 'kept\n', 'perm.sh': 'echo hi\n', 'sub/other.txt': 'other\n' });
    const outside = join(sshd.workDir, 'ctime-outside');
    await writeTree(outside, { 'moved.txt': 'moved in\n' });
    const server = await serverWith([source]);
    const full = await backupOf(server, {});
    const snar = join(backupDir, server.id, `${full.id}.snar`);
    expect((await stat(snar)).mode & 0o777).toBe(0o600);
    expect((await readFile(snar, 'latin1')).startsWith('GNU tar-')).toBe(true);

    // Both keep an mtime an hour back (writeTree's PAST): only their ctime says they changed.
    await run('chmod', ['0755', join(source, 'perm.sh')]);
    await run('mv', [join(outside, 'moved.txt'), join(source, 'sub/moved.txt')]);
    await run('touch', ['-d', PAST.toISOString(), join(source, 'perm.sh'), join(source, 'sub/moved.txt')]);

    const incremental = await backupOf(server, { backup_type: 'incremental' });
    expect(incremental).toMatchObject({ status: 'completed', backupType: 'incremental', baseBackupId: full.id, warnings: [] });
    const rel = source.slice(1);
    expect(await listArchive(incremental.filePath as string)).toEqual([`${rel}/perm.sh`, `${rel}/sub/moved.txt`]);
    expect(existsSync(join(backupDir, server.id, `${incremental.id}.snar`))).toBe(true);
  });

  it('a base without a snapshot file (made before them) falls back to --newer, which compares ctime too, and says so', async () => {
    const source = join(sshd.workDir, 'legacy-src');
    await writeTree(source, { 'a.txt': 'a\n', 'b.sh': 'echo b\n' });
    // writeTree's touch sets every ctime to now; --newer=@<second the full started> must not see those.
    await new Promise((r) => setTimeout(r, 1_100));
    const server = await serverWith([source]);
    const full = await backupOf(server, {});
    await rm(join(backupDir, server.id, `${full.id}.snar`));
    await db.sql`update backups set result = result - 'snapshotFile' where id = ${full.id}`;
    await run('chmod', ['0700', join(source, 'b.sh')]);
    await run('touch', ['-d', PAST.toISOString(), join(source, 'b.sh')]);
    const incremental = await backupOf(server, { backup_type: 'incremental' });
    expect(incremental).toMatchObject({ status: 'completed', backupType: 'incremental', baseBackupId: full.id });
    expect(incremental.warnings.join(' ')).toMatch(/has no snapshot file.*--newer/);
    expect(await listArchive(incremental.filePath as string)).toEqual([`${source.slice(1)}/b.sh`]);
    expect(existsSync(join(backupDir, server.id, `${incremental.id}.snar`))).toBe(false);
  });

  it('chooses its base and inserts its record only under the per-server guard cleanup takes (issue #12)', async () => {
    const source = join(sshd.workDir, 'guard-src');
    await writeTree(source, { 'a.txt': 'guarded\n' });
    const server = await serverWith([source]);
    const full = await backupOf(server, {});
    // Hold the guard as a cleanup deleting one of this server's records would.
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let locked!: () => void;
    const isLocked = new Promise<void>((resolve) => (locked = resolve));
    const holder = db.db.transaction(async (tx) => {
      await tx.execute(sql`select pg_advisory_xact_lock(hashtext(${`mm:backup-base:${server.id}`}))`);
      locked();
      await held;
    });
    await isLocked;
    const { backupId, job } = enqueue(server, { backup_type: 'incremental' });
    await job;
    // The job gets as far as the guard (server loaded, connected) but creates no record while it is held.
    const queue = producer.queue('backup');
    for (let i = 0; i < 100 && (await queue.getJobState(backupId)) !== 'active'; i++) await new Promise((r) => setTimeout(r, 50));
    expect(await queue.getJobState(backupId)).toBe('active');
    await new Promise((r) => setTimeout(r, 1_500));
    expect(await db.db.query.backups.findFirst({ where: (b, { eq }) => eq(b.id, backupId) })).toBeUndefined();
    release();
    await holder;
    await (await job).waitUntilFinished(events);
    expect(await recordOf(backupId)).toMatchObject({ status: 'completed', backupType: 'incremental', baseBackupId: full.id });
  });
});

describe('failures', () => {
  it('a path that does not exist fails with tar\'s reason and leaves no file behind', async () => {
    const source = await sourceTree('fail-src');
    const missing = join(sshd.workDir, 'does-not-exist');
    const server = await serverWith([source, missing]);
    const { backupId, job } = enqueue(server, { compression: true });
    await expect((await job).waitUntilFinished(events)).rejects.toThrow(/does-not-exist: Cannot stat: No such file or directory/);
    const record = await recordOf(backupId);
    expect(record.status).toBe('failed');
    expect(record.error).toMatch(/tar exited with status 2: .*does-not-exist: Cannot stat/);
    expect(record.filePath).toBeNull();
    expect(await filesUnder(join(backupDir, server.id))).toEqual([]);
    // Unrecoverable: the same paths fail the same way, so no retries were spent.
    expect(record.attempts).toBe(1);
  });

  it('a server without backup paths fails unrecoverably with a clear message', async () => {
    const server = await serverWith([]);
    const { backupId, job } = enqueue(server, {});
    await expect((await job).waitUntilFinished(events)).rejects.toThrow(/no backup paths configured/);
    expect((await recordOf(backupId)).status).toBe('failed');
  });

  it('injection attempts in backupPaths are quoted (inert) or rejected: the canary is never created', async () => {
    const canary = join(sshd.workDir, 'canary');
    const server = await serverWith([]);
    const quoted = [
      `/tmp/x; touch ${canary}`,
      `/tmp/x$(touch ${canary})`,
      `/tmp/x\`touch ${canary}\``,
      `/tmp/x' ; touch '${canary}`,
      `/tmp/x" ; touch "${canary}`,
      `/tmp/x && touch ${canary} #`,
      // Without `--` these two would be tar options, and the second runs a command.
      '/--checkpoint=1',
      `/--checkpoint-action=exec=touch ${canary}`,
    ];
    await setBackupPaths(server, quoted);
    const a = enqueue(server, {});
    await expect((await a.job).waitUntilFinished(events)).rejects.toThrow(/tar exited with status 2/);
    expect((await recordOf(a.backupId)).error).toContain('--checkpoint-action=exec=touch');

    await setBackupPaths(server, [`$(touch ${canary})`, `/tmp/x\ntouch ${canary}`]);
    const b = enqueue(server, {});
    await expect((await b.job).waitUntilFinished(events)).rejects.toThrow(/invalid backup path/);

    expect(existsSync(canary)).toBe(false);
    expect(await filesUnder(join(backupDir, server.id))).toEqual([]);
  });
});
