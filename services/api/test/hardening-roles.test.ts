import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Worker } from 'bullmq';
import { backups } from '@mm/db';
import { createServer, createTestApp, PASSWORD, type TestApp } from './helpers/test-app.js';
import { startWorker, waitUntil } from './helpers/throwaway-worker.js';

// Issue #12: restoring anywhere is admin power, a retry needs the role of the route that made the job, and reading
// a backup or acting through bull-board leaves an audit entry.

interface AuditEntry {
  action: string;
  route: string;
  targetId: string | null;
  statusCode: number;
  actor: { id: string | null; role: string | null };
  details?: Record<string, unknown> | null;
}

let t: TestApp;
let backupDir: string;
let home: string;
let other: string;
let backupId: string;

beforeAll(async () => {
  backupDir = await mkdtemp(join(tmpdir(), 'mm-hardening-roles-'));
  // A long interval: entries reach PostgreSQL only when the test flushes.
  t = await createTestApp({ BACKUP_DIR: backupDir, AUDIT_FLUSH_INTERVAL_MS: '600000' });
  home = await createServer(t, { name: 'home' });
  other = await createServer(t, { name: 'other', host: '127.0.0.3' });
  backupId = randomUUID();
  const bytes = randomBytes(4_096);
  await mkdir(join(backupDir, home), { recursive: true });
  const filePath = join(backupDir, home, `${backupId}.tar.gz`);
  await writeFile(filePath, bytes);
  await t.database.db.insert(backups).values({
    id: backupId,
    serverId: home,
    status: 'completed',
    compression: true,
    encryption: false,
    filePath,
    sizeBytes: bytes.length,
    sha256: createHash('sha256').update(bytes).digest('hex'),
    finishedAt: new Date(),
  });
});
afterAll(async () => {
  await t?.close();
  if (backupDir) await rm(backupDir, { recursive: true, force: true });
});

async function backupJobCount(): Promise<number> {
  return t.app.producer.queue('backup').getJobCountByTypes('wait', 'prioritized', 'active', 'delayed', 'completed', 'failed');
}

const restore = (role: 'operator' | 'admin', payload: object) => t.call(role, { method: 'POST', url: `/api/backups/${backupId}/restore`, payload });

async function auditEntries(action: string): Promise<AuditEntry[]> {
  await t.app.audit.flush();
  const res = await t.call('admin', { method: 'GET', url: `/api/audit?action=${action}&limit=100` });
  expect(res.statusCode, res.body).toBe(200);
  return res.json<{ data: AuditEntry[] }>().data;
}

describe('POST /api/backups/:id/restore: where an operator may restore', () => {
  it('an operator restores onto the same server under a folder (202)', async () => {
    for (const payload of [{ targetPath: '/srv/restore' }, { targetPath: '/srv/r2', serverId: home }]) {
      const res = await restore('operator', payload);
      expect(res.statusCode, res.body).toBe(202);
    }
  });

  for (const [what, payload] of [
    ['onto another server', () => ({ targetPath: '/srv/restore', serverId: other })],
    ["in place over '/'", () => ({ targetPath: '/' })],
    ["in place over '//' (the same folder spelt otherwise)", () => ({ targetPath: '//' })],
    ["in place over '/./'", () => ({ targetPath: '/./' })],
    ["in place over '/.'", () => ({ targetPath: '/.' })],
  ] as const) {
    it(`an operator may not restore ${what}: 403 in the envelope, nothing enqueued; an admin may`, async () => {
      const before = await backupJobCount();
      const refused = await restore('operator', payload());
      expect(refused.statusCode, refused.body).toBe(403);
      expect(refused.json()).toMatchObject({ success: false, error: { code: 'FORBIDDEN' } });
      expect(refused.json().error.message).toMatch(/admin/);
      expect(await backupJobCount()).toBe(before);

      const allowed = await restore('admin', payload());
      expect(allowed.statusCode, allowed.body).toBe(202);
      expect(await backupJobCount()).toBe(before + 1);
    });
  }

  it("the audit entry of a restore names the destination server and the target path", async () => {
    const res = await restore('admin', { targetPath: '/srv/audited', serverId: other });
    expect(res.statusCode).toBe(202);
    const entries = await auditEntries('backup.restore');
    const entry = entries.find((e) => e.details?.targetPath === '/srv/audited');
    expect(entry, JSON.stringify(entries)).toBeDefined();
    expect(entry).toMatchObject({ targetId: backupId, statusCode: 202, details: { serverId: other, targetPath: '/srv/audited', backupServerId: home } });
    // A refused one is recorded with what it asked for, too.
    await restore('operator', { targetPath: '/srv/refused', serverId: other });
    const refused = (await auditEntries('backup.restore')).find((e) => e.details?.targetPath === '/srv/refused');
    expect(refused).toMatchObject({ statusCode: 403, actor: { role: 'operator' }, details: { serverId: other, targetPath: '/srv/refused' } });
  });
});

describe('POST /api/jobs/:id/retry needs the role of the route that made the job', () => {
  let worker: Worker;
  const ids: Record<string, string> = {};

  beforeAll(async () => {
    const cleanup = await t.call('admin', { method: 'POST', url: '/api/maintenance/cleanup' });
    expect(cleanup.statusCode, cleanup.body).toBe(202);
    ids.cleanup = cleanup.json().data.jobId;
    for (const [name, role, payload] of [
      ['crossServer', 'admin', { targetPath: '/srv/x', serverId: other }],
      ['root', 'admin', { targetPath: '/' }],
      ['sameServer', 'operator', { targetPath: '/srv/y' }],
    ] as const) {
      const res = await restore(role, payload);
      expect(res.statusCode, res.body).toBe(202);
      ids[name] = res.json().data.jobId;
    }
    // A real BullMQ worker fails every job, so each one can be retried.
    ({ worker } = startWorker(t, 'backup', () => 'fail'));
    await waitUntil(async () => {
      const states = await Promise.all(Object.values(ids).map((id) => t.app.producer.queue('backup').getJobState(id)));
      return states.every((s) => s === 'failed');
    }, 'the jobs to fail');
    await worker.close();
  });

  const retry = (role: 'operator' | 'admin', id: string) => t.call(role, { method: 'POST', url: `/api/jobs/${id}/retry` });
  const stateOf = (id: string) => t.app.producer.queue('backup').getJobState(id);

  for (const name of ['cleanup', 'crossServer', 'root'] as const) {
    it(`an operator may not retry a failed ${name} job (403, still failed); an admin may`, async () => {
      const id = ids[name] as string;
      const refused = await retry('operator', id);
      expect(refused.statusCode, refused.body).toBe(403);
      expect(refused.json()).toMatchObject({ success: false, error: { code: 'FORBIDDEN' } });
      expect(await stateOf(id)).toBe('failed');
      const allowed = await retry('admin', id);
      expect(allowed.statusCode, allowed.body).toBe(200);
      expect(await stateOf(id)).not.toBe('failed');
    });
  }

  it('an operator may retry a failed restore onto its own server', async () => {
    const res = await retry('operator', ids.sameServer as string);
    expect(res.statusCode, res.body).toBe(200);
  });
});

describe('reads of a backup and bull-board actions are audited', () => {
  it('GET and HEAD /api/backups/:id/download leave an entry each', async () => {
    expect((await t.call('operator', { method: 'GET', url: `/api/backups/${backupId}/download` })).statusCode).toBe(200);
    expect((await t.call('admin', { method: 'HEAD', url: `/api/backups/${backupId}/download` })).statusCode).toBe(200);
    const entries = await auditEntries('backup.download');
    expect(entries.map((e) => [e.route, e.targetId, e.actor.role, e.statusCode]).sort()).toEqual([
      ['/api/backups/:id/download', backupId, 'admin', 200],
      ['/api/backups/:id/download', backupId, 'operator', 200],
    ]);
  });

  it('a mutating bull-board call (pause a queue) leaves an entry with the admin who made it', async () => {
    const login = await t.call(null, { method: 'POST', url: '/api/auth/session', payload: { email: 'admin@example.test', password: PASSWORD } });
    expect(login.statusCode, login.body).toBe(200);
    const cookie = login.cookies.map((c) => `${c.name}=${c.value}`).join('; ');
    const paused = await t.app.inject({ method: 'PUT', url: '/admin/queues/api/queues/scan-queue/pause', headers: { cookie } });
    expect(paused.statusCode, paused.body).toBeLessThan(300);
    const entries = await auditEntries('dashboard.queue.pause');
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({ route: '/admin/queues/api/queues/:queueName/pause', targetId: 'scan-queue', actor: { id: t.userIds.admin, role: 'admin' } });
    // Reading the board is not an action.
    await t.app.inject({ method: 'GET', url: '/admin/queues/api/queues', headers: { cookie } });
    await t.app.inject({ method: 'PUT', url: '/admin/queues/api/queues/scan-queue/resume', headers: { cookie } });
    const all = (await auditEntries('dashboard.queue.resume')).concat(await auditEntries('dashboard.queue.pause'));
    expect(all).toHaveLength(2);
  });
});
