import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { QueueEvents } from 'bullmq';
import { expect } from 'vitest';
import { createProducer, createQueueEvents, type Producer } from '@mm/jobs';
import { createTestDatabase, createTestRedis, ensureDebianPackage, startTestSshd, TEST_SSH_USER, type TestDatabase, type TestRedis, type TestSshd } from '@mm/testing';
import { runWorker, type RunningWorker } from '@mm/worker-runtime';
import { createBackupDecryptStream } from '../src/backup-cipher.js';
import { parseBackupWorkerEnv } from '../src/env.js';
import { backupHandlers } from '../src/handlers.js';

export const run = promisify(execFile);

/** An hour back: incremental tests then know exactly which files changed after a backup started. */
export const PAST = new Date(Date.now() - 3_600_000);

/** Writes `files` (relative path -> content) under `root`, with mtimes in the past, owned by the test user. */
export async function writeTree(root: string, files: Record<string, string | Buffer>, links: Record<string, string> = {}): Promise<void> {
  for (const [rel, content] of Object.entries(files)) {
    const path = join(root, rel);
    await mkdir(join(path, '..'), { recursive: true });
    await writeFile(path, content);
  }
  for (const [rel, target] of Object.entries(links)) await symlink(target, join(root, rel));
  await run('chown', ['-R', '-h', `${TEST_SSH_USER}:${TEST_SSH_USER}`, root]);
  await run('find', [root, '-exec', 'touch', '-h', '-d', PAST.toISOString(), '{}', '+']);
}

/** A tree with text, random binary data across several sizes, nesting, odd names and a symlink. */
export async function writeSampleTree(root: string): Promise<void> {
  await writeTree(
    root,
    {
      'readme.txt': 'Medicine Man backup fixture\n'.repeat(50),
      'etc/app.conf': 'listen = 0.0.0.0:8080\nworkers = 4\n',
      'data/random-small.bin': randomBytes(1_000),
      'data/random-large.bin': randomBytes(3 * 1024 * 1024 + 17),
      'data/nested/deeper/leaf.bin': randomBytes(70_000),
      'data/empty.txt': '',
      'odd names/with space & quote\'s.txt': 'odd\n',
    },
    { 'link-to-readme': 'readme.txt' },
  );
}

export async function tempDir(prefix: string): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(path), hash);
  return hash.digest('hex');
}

/** Decrypts (when `.enc`) and extracts a stored archive into a fresh temp dir; returns that dir. */
export async function extractArchive(filePath: string, encryptionKey: string): Promise<string> {
  const out = await tempDir('mm-backup-extract-');
  let tarFile = filePath;
  if (filePath.endsWith('.enc')) {
    tarFile = join(out, '..', `${out.split('/').pop()}.tar`);
    await pipeline(createReadStream(filePath), createBackupDecryptStream(encryptionKey), createWriteStream(tarFile));
  }
  await run('tar', ['-x', ...(filePath.includes('.tar.gz') ? ['-z'] : []), '-f', tarFile, '-C', out]);
  if (tarFile !== filePath) await rm(tarFile, { force: true });
  return out;
}

/** Member names of a stored (unencrypted) archive, files and links only, relative to `/`. */
export async function listArchive(filePath: string): Promise<string[]> {
  const { stdout } = await run('tar', ['-t', ...(filePath.endsWith('.gz') ? ['-z'] : []), '-f', filePath], { maxBuffer: 16 * 1024 * 1024 });
  return stdout
    .split('\n')
    .filter((l) => l !== '' && !l.endsWith('/'))
    .sort();
}

/** `tar -tv` lines (type, mode, owner, size, date, name) of an uncompressed archive. */
export async function listArchiveVerbose(filePath: string): Promise<string[]> {
  const { stdout } = await run('tar', ['-tvf', filePath], { maxBuffer: 16 * 1024 * 1024 });
  return stdout.split('\n').filter((l) => l !== '');
}

/** Asserts that `copy` holds exactly what `source` holds: same names, same bytes, same link targets. */
export async function expectSameTree(source: string, copy: string): Promise<number> {
  const names = (await readdir(source)).sort();
  expect((await readdir(copy)).sort()).toEqual(names);
  let compared = 0;
  for (const name of names) {
    const [a, b] = [join(source, name), join(copy, name)];
    const [sa, sb] = [await lstat(a), await lstat(b)];
    if (sa.isSymbolicLink()) {
      expect(sb.isSymbolicLink(), `${b} is a symlink`).toBe(true);
      expect(await readlink(b)).toBe(await readlink(a));
    } else if (sa.isDirectory()) {
      expect(sb.isDirectory(), `${b} is a folder`).toBe(true);
      compared += await expectSameTree(a, b);
      continue;
    } else {
      expect((await readFile(b)).equals(await readFile(a)), `${b} equals ${a}`).toBe(true);
    }
    compared++;
  }
  return compared;
}

/** Every file in `dir` (recursively), relative, for "nothing left behind" assertions. */
/**
 * Files under `dir`, relative to it. A per-server folder the worker has not created yet is empty, but only when its
 * parent (the backup root) exists: a wrong root, or any other read error, throws instead of passing as "no files".
 */
export async function filesUnder(dir: string): Promise<string[]> {
  let entries;
  try {
    entries = await readdir(dir, { recursive: true, withFileTypes: true });
  } catch (err) {
    if ((err as { code?: unknown }).code !== 'ENOENT') throw err;
    await stat(join(dir, '..'));
    return [];
  }
  return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name).slice(dir.length + 1));
}

export interface WorkerProcess {
  child: ChildProcess;
  /** Everything the process printed so far (pino JSON lines). */
  output(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Runs the real entry point (`tsx src/main.ts`) as a child process with exactly `env`: nothing of the test runner's environment leaks in. */
export function spawnWorker(env: Record<string, string>): WorkerProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: fileURLToPath(new URL('..', import.meta.url)),
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  return { child, output: () => output, exited };
}

/** Polls `probe` every 50 ms until it returns true; the test's own timeout bounds the wait. */
export async function waitFor(probe: () => Promise<boolean>, what: string, limitMs = 60_000): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

export async function sizeOf(path: string): Promise<number> {
  return (await stat(path).catch(() => undefined))?.size ?? -1;
}

/** One test file's backup worker, in process, on its own database, queue prefix, loopback sshd and BACKUP_DIR. */
export interface BackupHarness {
  db: TestDatabase;
  redis: TestRedis;
  sshd: TestSshd;
  backupDir: string;
  worker: RunningWorker;
  producer: Producer;
  events: QueueEvents;
  credentialsKey: string;
  encryptionKey: string;
  /** With `{ repository: true }`: the default target's local restic repository and its password. */
  repository?: { path: string; password: string };
  close(): Promise<void>;
}

export interface BackupHarnessOptions {
  /** Store backups in a local restic repository under BACKUP_DIR (the restic engine) instead of archive files. */
  repository?: boolean;
  /** restic's bounded wait for a lock (default 5 s in tests). */
  lockWaitMs?: number;
}

/** Environment for plain `restic` run by hand against the harness repository (the recovery commands of docs/BACKUPS.md). */
export function plainResticEnv(repository: { path: string; password: string }): Record<string, string> {
  return { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: tmpdir(), RESTIC_REPOSITORY: repository.path, RESTIC_PASSWORD: repository.password };
}

export async function startBackupHarness(storePrefix: string, options: BackupHarnessOptions = {}): Promise<BackupHarness> {
  if (options.repository) await ensureDebianPackage('/usr/bin/restic', 'restic');
  const credentialsKey = randomBytes(32).toString('hex');
  const encryptionKey = randomBytes(32).toString('hex');
  const [db, redis, sshd] = await Promise.all([createTestDatabase(), createTestRedis(), startTestSshd()]);
  const backupDir = await tempDir(storePrefix);
  const env = parseBackupWorkerEnv({
    NODE_ENV: 'test',
    LOG_LEVEL: 'error',
    DATABASE_URL: db.url,
    REDIS_URL: redis.url,
    // The test sshd listens on loopback, which workers refuse by default.
    SERVER_ALLOW_LOOPBACK: 'true',
    QUEUE_PREFIX: redis.prefix,
    CREDENTIALS_KEY: credentialsKey,
    BACKUP_ENCRYPTION_KEY: encryptionKey,
    BACKUP_DIR: backupDir,
    HEALTH_PORT: '0',
  });
  const repository = options.repository ? { path: join(backupDir, 'repository'), password: randomBytes(12).toString('hex') } : undefined;
  const worker = await runWorker({
    queue: 'backup',
    env,
    concurrency: 2,
    handlers: backupHandlers({
      backupDir: env.BACKUP_DIR,
      encryptionKey: env.BACKUP_ENCRYPTION_KEY,
      queues: env,
      credentialsKey,
      ...(repository
        ? {
            repository: { name: 'default', location: { type: 'local' as const, path: repository.path }, password: repository.password },
            restic: { cacheDir: join(backupDir, '.restic-cache'), lockWaitMs: options.lockWaitMs ?? 5_000, lockRetryDelayMs: 200 },
          }
        : {}),
    }),
  });
  // Retries stay on (the catalog's default) but without the production backoff.
  const producer = createProducer({ connection: redis.url, prefix: redis.prefix, jobOptions: { backoff: { type: 'fixed', delay: 200 } } });
  const events = createQueueEvents('backup', { connection: redis.url, prefix: redis.prefix });
  await events.waitUntilReady();
  return {
    db,
    redis,
    sshd,
    backupDir,
    worker,
    producer,
    events,
    credentialsKey,
    encryptionKey,
    repository,
    async close() {
      await events.close();
      await producer.close();
      await worker.close();
      await sshd.stop();
      await redis.cleanup();
      await db.drop();
      await rm(backupDir, { recursive: true, force: true });
    },
  };
}
