import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ResticError, ResticRepository } from '../src/index.js';
import { ensureRestic, tempDir } from './restic-kit.js';

const PASSWORD = 'correct horse battery staple';
let dir: { path: string; remove: () => Promise<void> };
let repo: ResticRepository;

const data = randomBytes(3 * 1024 * 1024);
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

async function readAll(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of stream) parts.push(chunk as Buffer);
  return Buffer.concat(parts);
}

beforeAll(async () => {
  await ensureRestic();
  dir = await tempDir('mm-restic-test-');
  repo = new ResticRepository({ name: 'local-test', location: { type: 'local', path: join(dir.path, 'repo') }, password: PASSWORD }, { lockWaitMs: 4_000, lockRetryDelayMs: 200 });
});
afterAll(async () => {
  await repo?.close();
  await dir?.remove();
});

describe('ResticRepository on a local repository', () => {
  it('initialises once, then opens; a wrong password is a typed, unrecoverable error naming the target', async () => {
    expect(await repo.initOrOpen()).toBe('created');
    expect(await repo.initOrOpen()).toBe('opened');
    const wrong = new ResticRepository({ name: 'local-test', location: { type: 'local', path: join(dir.path, 'repo') }, password: 'nope' });
    const err = await wrong.open().catch((e: unknown) => e);
    await wrong.close();
    expect(err).toBeInstanceOf(ResticError);
    expect((err as ResticError).kind).toBe('wrong-password');
    expect((err as ResticError).retryable).toBe(false);
    expect((err as ResticError).message).toContain("'local-test'");
    expect((err as ResticError).message).not.toContain('nope');
  });

  it('opening a folder without a repository says so', async () => {
    const empty = new ResticRepository({ name: 'empty', location: { type: 'local', path: join(dir.path, 'nothing') }, password: PASSWORD });
    const err = await empty.open().catch((e: unknown) => e);
    await empty.close();
    expect((err as ResticError).kind).toBe('not-a-repository');
  });

  let snapshotId = '';
  it('backs up a stream with progress, tags and host; snapshots, ls and dump find it again', async () => {
    const progress: number[] = [];
    const summary = await repo.backupStdin({
      source: () => Readable.from([data.subarray(0, 1024 * 1024), data.subarray(1024 * 1024)]),
      filename: 'backup.tar',
      host: 'web-1',
      tags: ['server:s1', 'backup:b1'],
      compression: true,
      onProgress: (p) => progress.push(p.bytesDone),
    });
    snapshotId = summary.snapshotId;
    expect(snapshotId).toMatch(/^[0-9a-f]{64}$/);
    expect(summary.bytesRead).toBe(data.length);
    // Random data does not compress or dedupe: all of it is new.
    expect(summary.bytesAdded).toBeGreaterThanOrEqual(data.length);
    expect(progress.length).toBeGreaterThan(0);

    const found = await repo.snapshots({ tags: ['server:s1'] });
    expect(found.map((s) => s.id)).toEqual([snapshotId]);
    expect(found[0]!.hostname).toBe('web-1');
    expect(found[0]!.tags.sort()).toEqual(['backup:b1', 'server:s1']);
    expect(await repo.snapshots({ tags: ['server:other'] })).toEqual([]);

    const nodes: string[] = [];
    await repo.ls(snapshotId, (n) => nodes.push(`${n.type}:${n.path}:${n.size ?? ''}`));
    expect(nodes).toContain(`file:/backup.tar:${data.length}`);

    const dump = await repo.dump(snapshotId, '/backup.tar');
    const [bytes] = await Promise.all([readAll(dump.stdout), dump.done]);
    expect(sha(bytes)).toBe(sha(data));
  });

  it('a second backup of the same data adds almost nothing', async () => {
    const summary = await repo.backupStdin({ source: () => Readable.from([data]), filename: 'backup.tar', host: 'web-1', tags: ['server:s1', 'backup:b2'], compression: true });
    expect(summary.bytesRead).toBe(data.length);
    expect(summary.bytesAdded).toBeLessThan(data.length / 100);
  });

  it('dump of a path that is not there is not-found', async () => {
    const dump = await repo.dump(snapshotId, '/missing.tar');
    dump.stdout.resume();
    const err = await dump.done.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ResticError);
    expect((err as ResticError).kind).toBe('not-found');
  });

  it('forget keeps by policy within one server tag and prune runs', async () => {
    await repo.backupStdin({ source: () => Readable.from([randomBytes(1000)]), filename: 'backup.tar', host: 'db-1', tags: ['server:s2', 'backup:b3'], compression: false });
    const before = await repo.snapshots();
    expect(before).toHaveLength(3);
    const { removed, kept } = await repo.forget(['server:s1'], { keepLast: 1 });
    expect(removed).toEqual([snapshotId]);
    expect(kept).toHaveLength(1);
    await repo.prune();
    const after = await repo.snapshots();
    expect(after.map((s) => s.tags.find((t) => t.startsWith('backup:'))).sort()).toEqual(['backup:b2', 'backup:b3']);
    await expect(repo.forget(['server:s1'], {})).rejects.toThrow(/at least one keep rule/);
  });

  it('check passes on a sound repository and reports a flipped byte in a pack file', async () => {
    expect((await repo.check({ n: 1, t: 1 })).ok).toBe(true);
    const dataDir = join(dir.path, 'repo', 'data');
    const packs: string[] = [];
    for (const sub of await readdir(dataDir)) for (const f of await readdir(join(dataDir, sub))) packs.push(join(dataDir, sub, f));
    expect(packs.length).toBeGreaterThan(0);
    const pack = packs[0]!;
    const bytes = await readFile(pack);
    const at = Math.floor(bytes.length / 2);
    bytes[at] = bytes[at]! ^ 0xff;
    await writeFile(pack, bytes);
    const result = await repo.check({ n: 1, t: 1 });
    expect(result.ok).toBe(false);
    expect(result.output.length).toBeGreaterThan(0);
    // The damaged pack by its full id (its file name), what backup:check-target traces to backups.
    expect(result.damagedPacks).toEqual([pack.split('/').at(-1)]);
  });
});

describe('locks and secrets', () => {
  let lockDir: { path: string; remove: () => Promise<void> };
  let locked: ResticRepository;
  const target = () => ({ name: 'locks', location: { type: 'local' as const, path: join(lockDir.path, 'repo') }, password: PASSWORD });

  beforeAll(async () => {
    lockDir = await tempDir('mm-restic-locks-');
    locked = new ResticRepository(target(), { lockWaitMs: 3_000, lockRetryDelayMs: 200 });
    await locked.initOrOpen();
  });
  afterAll(async () => {
    await locked?.close();
    await lockDir?.remove();
  });

  /** A plain restic backup that holds its lock while we keep its stdin open. */
  function holdBackup() {
    const child = spawn('restic', ['backup', '--stdin', '--no-cache'], {
      env: { PATH: process.env.PATH, RESTIC_REPOSITORY: join(lockDir.path, 'repo'), RESTIC_PASSWORD: PASSWORD },
      stdio: ['pipe', 'ignore', 'ignore'],
    });
    child.stdin.write('x');
    return child;
  }

  async function lockCount(): Promise<number> {
    return (await readdir(join(lockDir.path, 'repo', 'locks'))).length;
  }

  async function waitFor(cond: () => Promise<boolean>): Promise<void> {
    for (let i = 0; i < 100 && !(await cond()); i++) await new Promise((r) => setTimeout(r, 100));
    if (!(await cond())) throw new Error('condition not reached');
  }

  it('a live backup lock makes prune fail after its bound with a retryable locked error', async () => {
    const holder = holdBackup();
    try {
      await waitFor(async () => (await lockCount()) === 1);
      const started = Date.now();
      const err = await locked.prune().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ResticError);
      expect((err as ResticError).kind).toBe('locked');
      expect((err as ResticError).retryable).toBe(true);
      expect(Date.now() - started).toBeGreaterThanOrEqual(2_000);
      // The live lock was not removed by our stale-lock cleanup.
      expect(await lockCount()).toBe(1);
    } finally {
      holder.kill('SIGKILL');
      await new Promise((r) => holder.once('close', r));
    }
  });

  it('the stale lock of a killed restic is removed and prune then runs', async () => {
    // Left behind by the previous test's SIGKILL: restic could not remove it.
    expect(await lockCount()).toBe(1);
    await locked.prune();
    expect(await lockCount()).toBe(0);
  });

  it('secrets stay off the command line; the password file is 0600 and removed on close', async () => {
    const secretTarget = target();
    const repo = new ResticRepository(secretTarget, { lockWaitMs: 1_000 });
    let cmdline = '';
    let environ = '';
    let passwordFile = '';
    const source = new Readable({ read() {} });
    const running = repo.backupStdin({ source: () => source, filename: 'x.tar', host: 'h', tags: ['server:x'], compression: true });
    // Find our restic child through /proc while it runs.
    await waitFor(async () => {
      for (const pid of await readdir('/proc')) {
        if (!/^\d+$/.test(pid)) continue;
        const cl = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
        if (cl.includes('x.tar') && cl.includes('restic')) {
          cmdline = cl;
          environ = await readFile(`/proc/${pid}/environ`, 'utf8').catch(() => '');
          return environ.includes('RESTIC_PASSWORD_FILE');
        }
      }
      return false;
    });
    source.push('data');
    source.push(null);
    await running;
    expect(cmdline).not.toContain(PASSWORD);
    expect(environ).not.toContain(PASSWORD);
    passwordFile = /RESTIC_PASSWORD_FILE=([^\0]+)/.exec(environ)?.[1] ?? '';
    expect(passwordFile).not.toBe('');
    const { statSync } = await import('node:fs');
    expect(statSync(passwordFile).mode & 0o777).toBe(0o600);
    await repo.close();
    expect(() => statSync(passwordFile)).toThrow();
  });
});

describe('failures name the target and say whether to retry', () => {
  it('an unreachable REST server is retryable', async () => {
    const repo = new ResticRepository({ name: 'offsite', location: { type: 'rest', url: 'http://127.0.0.1:1/', username: 'u', password: 'rest-secret' }, password: PASSWORD });
    const err = await repo.open().catch((e: unknown) => e);
    await repo.close();
    expect((err as ResticError).kind).toBe('unreachable');
    expect((err as ResticError).retryable).toBe(true);
    expect((err as ResticError).message).toContain("'offsite'");
    expect(`${(err as ResticError).message}${(err as ResticError).detail}`).not.toContain('rest-secret');
  });

  it('a full disk under a local repository fails naming it, not retryable', async () => {
    const small = await tempDir('mm-restic-full-');
    const { execFileSync } = await import('node:child_process');
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=3m', 'tmpfs', small.path]);
    const repo = new ResticRepository({ name: 'small-disk', location: { type: 'local', path: join(small.path, 'repo') }, password: PASSWORD });
    try {
      await repo.initOrOpen();
      const err = await repo
        .backupStdin({ source: () => Readable.from([randomBytes(6 * 1024 * 1024)]), filename: 'big.tar', host: 'h', tags: [], compression: false })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ResticError);
      expect((err as ResticError).kind).toBe('no-space');
      expect((err as ResticError).retryable).toBe(false);
      expect((err as ResticError).message).toContain("'small-disk' is full");
    } finally {
      await repo.close();
      execFileSync('umount', [small.path]);
      await small.remove();
    }
  });
});
