import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseEnv } from '@mm/config';
import { backups, servers } from '@mm/db';
import { createQueue, queueAliases, QueueName } from '@mm/jobs';
import { startTestSshd, TEST_SSH_USER, type TestSshd } from '@mm/testing';
import { runWorker, WorkerEnvSchema, type RunningWorker } from '@mm/worker-runtime';
import { backupHandlers, parseBackupWorkerEnv } from '@mm/backup-worker/test-kit';
import { scanHandlers } from '@mm/scan-worker/test-kit';
import { updateHandlers } from '@mm/update-worker/test-kit';
import { createTestApp, type TestApp } from './helpers/test-app.js';
import { waitUntil, workerEnvOf } from './helpers/throwaway-worker.js';

// Shell and option injection through every field that reaches a remote command, run for real against a loopback
// sshd by the real worker handlers: each string is either refused by the API or reaches the server as inert data.

const run = promisify(execFile);

let t: TestApp;
let sshd: TestSshd;
let backupDir: string;
let canary: string;
const workers: RunningWorker[] = [];

/** The remote side has run an injected command iff this file exists (the sshd user can write its work dir). */
const injections = () => [
  `; touch ${canary}`,
  `$(touch ${canary})`,
  `\`touch ${canary}\``,
  `' ; touch ${canary} ; '`,
  `" ; touch ${canary} ; "`,
  `| touch ${canary}`,
  `&& touch ${canary}`,
  `\ttouch ${canary}`,
  `$IFS;touch\${IFS}${canary}`,
  `--checkpoint=1 --checkpoint-action=exec=touch ${canary}`,
  `-oProxyCommand=touch ${canary}`,
  `--to-command=touch ${canary}`,
];

beforeAll(async () => {
  [t, sshd] = await Promise.all([createTestApp(), startTestSshd()]);
  canary = join(sshd.workDir, 'canary');
  backupDir = await mkdtemp(join(tmpdir(), 'mm-hostile-backups-'));
  const backupEnv = parseBackupWorkerEnv(workerEnvOf(t, { BACKUP_DIR: backupDir }));
  const env = parseEnv(WorkerEnvSchema, workerEnvOf(t));
  workers.push(
    await runWorker({ queue: 'backup', env: backupEnv, concurrency: 2, handlers: backupHandlers({ backupDir, encryptionKey: backupEnv.BACKUP_ENCRYPTION_KEY }) }),
    await runWorker({ queue: 'scan', env, concurrency: 2, handlers: scanHandlers }),
    await runWorker({ queue: 'update', env, concurrency: 1, handlers: updateHandlers }),
  );
});
afterAll(async () => {
  for (const w of workers) await w.close();
  await sshd?.stop();
  await t?.close();
  if (backupDir) await rm(backupDir, { recursive: true, force: true });
});

async function jobCount(): Promise<number> {
  const counts = await Promise.all(queueAliases.map((q) => t.app.producer.queue(q).getJobCounts()));
  return counts.reduce((sum, c) => sum + Object.values(c).reduce((a, b) => a + b, 0), 0);
}

async function createSshdServer(body: Record<string, unknown>): Promise<string> {
  const res = await t.call('operator', {
    method: 'POST',
    url: '/api/servers',
    payload: { name: 'target', host: sshd.host, port: sshd.port, username: sshd.username, auth: { type: 'key', privateKey: sshd.privateKey }, hostKeyFingerprint: sshd.hostKeyFingerprint, ...body },
  });
  expect(res.statusCode, res.body).toBe(201);
  return res.json().data.id as string;
}

/** Triggers through the API and waits for the job to finish; returns its final view. */
async function runJob(serverId: string, kind: 'backup' | 'scan' | 'update', payload: object): Promise<{ state: string; failedReason?: string; result?: unknown; id: string }> {
  const res = await t.call('operator', { method: 'POST', url: `/api/servers/${serverId}/${kind}`, payload });
  expect(res.statusCode, res.body).toBe(202);
  const id = res.json().data.jobId as string;
  let view: { state: string; failedReason?: string; result?: unknown; id: string } = { state: 'unknown', id };
  await waitUntil(async () => {
    view = (await t.call('viewer', { method: 'GET', url: `/api/jobs/${id}` })).json().data;
    return view.state === 'completed' || view.state === 'failed';
  }, `${kind} job ${id}`, 90_000);
  return view;
}

describe('refused at the API', () => {
  it('rejects injection in hosts, usernames, ports, backup paths and package names, storing and enqueuing nothing', async () => {
    const serverId = await createSshdServer({});
    const before = await jobCount();
    const [{ total: serversBefore }] = [(await t.call('viewer', { method: 'GET', url: '/api/servers' })).json().meta];
    const base = { name: 'n', host: 'h.example.test', username: 'u', auth: { type: 'password', password: 'p' } };
    const bad: Record<string, unknown>[] = [
      ...injections().map((s) => ({ host: `127.0.0.1${s}` })),
      ...injections().map((s) => ({ host: s })),
      ...injections().map((s) => ({ username: `${TEST_SSH_USER}${s}` })),
      { host: '-oProxyCommand=id' },
      { host: '127.0.0.1\n' },
      { username: '-l' },
      { port: '22; id' },
      { backupPaths: ['relative/path'] },
      { backupPaths: [`/tmp/a\ntouch ${canary}`] },
      { backupPaths: [`/tmp/a\rb`] },
      { backupPaths: ['/tmp/a\u0000b'] },
      { hostKeyFingerprint: `SHA256:x; touch ${canary}` },
    ];
    for (const change of bad) {
      const create = await t.call('operator', { method: 'POST', url: '/api/servers', payload: { ...base, ...change } });
      expect(create.statusCode, JSON.stringify(change)).toBe(400);
      const patch = await t.call('operator', { method: 'PATCH', url: `/api/servers/${serverId}`, payload: change });
      expect(patch.statusCode, JSON.stringify(change)).toBe(400);
    }
    for (const pkg of [...injections(), '-y', '--allow-unauthenticated', '-o=APT::Get::Assume-Yes=true', 'a b', 'curl\nid', '']) {
      const res = await t.call('operator', { method: 'POST', url: `/api/servers/${serverId}/update`, payload: { dry_run: true, packages: [pkg] } });
      expect(res.statusCode, pkg).toBe(400);
    }
    expect(await jobCount()).toBe(before);
    expect((await t.call('viewer', { method: 'GET', url: '/api/servers' })).json().meta.total).toBe(serversBefore);
    const [row] = await t.database.db.select().from(servers).where(eq(servers.id, serverId));
    expect(row).toMatchObject({ host: sshd.host, port: sshd.port, username: sshd.username, backupPaths: [] });
  });
});

describe('inert on the remote side (real jobs against a loopback sshd)', () => {
  it('backs up a directory whose name is an injection string, as a literal name', async () => {
    const source = join(sshd.workDir, `src ; touch ${canary} ; $(touch ${canary}) \`touch ${canary}\``);
    await mkdir(source, { recursive: true });
    await writeFile(join(source, 'payload.txt'), 'literal\n');
    await run('chown', ['-R', `${TEST_SSH_USER}:${TEST_SSH_USER}`, source]);
    const serverId = await createSshdServer({ name: injections().join(' ').slice(0, 100), backupPaths: [source] });
    const job = await runJob(serverId, 'backup', { compression: true });
    expect(job.state, job.failedReason).toBe('completed');
    const [record] = await t.database.db.select().from(backups).where(eq(backups.id, job.id));
    expect(record?.status).toBe('completed');
    const { stdout } = await run('tar', ['-tzf', record?.filePath ?? '']);
    expect(stdout.split('\n')).toContain(`${source.slice(1)}/payload.txt`);
    expect(existsSync(canary)).toBe(false);
  });

  it('fails a backup of injected paths with tar naming the literal paths, running none of them', async () => {
    const paths = injections().map((s) => `/${s.replace(/\n/g, ' ')}`);
    const serverId = await createSshdServer({ name: `paths ${injections()[0]}`, backupPaths: paths });
    const job = await runJob(serverId, 'backup', {});
    expect(job.state).toBe('failed');
    expect(job.failedReason).toMatch(/tar exited with status 2/);
    expect(job.failedReason).toContain('Cannot stat');
    expect(existsSync(canary)).toBe(false);
    // Nothing partial is left behind for the failed attempt.
    const { stdout } = await run('find', [backupDir, '-name', `*${job.id}*`]);
    expect(stdout.trim()).toBe('');
  });

  it('refuses, in the worker, a newline path written straight into the database past the API', async () => {
    const serverId = await createSshdServer({ backupPaths: ['/tmp'] });
    await t.database.db.update(servers).set({ backupPaths: [`/tmp\ntouch ${canary}`] }).where(eq(servers.id, serverId));
    const job = await runJob(serverId, 'backup', {});
    expect(job.state).toBe('failed');
    expect(job.failedReason).toMatch(/invalid backup path/);
    expect(existsSync(canary)).toBe(false);
  });

  // Scripts are constants; the server's fields reach them only as connection parameters and in messages. The full scan
  // and the update run longer (apt on this host) and are exercised by the secrets scenario in tests/security.
  it('runs a quick scan on a server with a hostile name, as data only', async () => {
    const serverId = await createSshdServer({ name: `$(touch ${canary}); \`touch ${canary}\`\n--help` });
    const quick = await runJob(serverId, 'scan', { scan_type: 'quick' });
    expect(quick.state, quick.failedReason).toBe('completed');
    expect(quick.result).toMatchObject({ online: true });
    expect(existsSync(canary)).toBe(false);
  });

  it('fails, unrecoverably and without running anything, jobs written straight into Redis with injected package names', async () => {
    const serverId = await createSshdServer({});
    const queue = createQueue('update', { connection: t.redis.url, prefix: t.redis.prefix });
    try {
      const updateId = randomUUID();
      // An attacker with Redis write access bypasses the API and the producer: the processor re-validates.
      await queue.add('update:server', { serverId, updateId, userId: null, options: { dry_run: false, packages: injections() } }, { jobId: updateId, attempts: 3 });
      await waitUntil(async () => (await queue.getJobState(updateId)) === 'failed', 'the injected update job to fail');
      const job = await queue.getJob(updateId);
      expect(job?.attemptsMade).toBe(1);
      expect(job?.failedReason).toMatch(/payload|invalid|pattern/i);
      expect(existsSync(canary)).toBe(false);
    } finally {
      await queue.close();
    }
    expect(QueueName.update).toBe('update-queue');
  });
});

describe('afterwards', () => {
  it('left no canary where every injection points', () => {
    expect(existsSync(canary)).toBe(false);
  });

  it('would have seen one: the sshd user, who runs whatever reaches its shell, can create the canary', async () => {
    await run('runuser', ['-u', TEST_SSH_USER, '--', 'sh', '-c', 'touch "$1"', 'sh', canary]);
    expect(existsSync(canary)).toBe(true);
    await rm(canary);
  });
});
