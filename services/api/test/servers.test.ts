import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eq } from 'drizzle-orm';
import { backups, decryptCredentials, scans, servers } from '@mm/db';
import { createTestApp, createServer, sshKeyAuth, type TestApp } from './helpers/test-app.js';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(async () => {
  await t?.close();
});

const FINGERPRINT = `SHA256:${'A'.repeat(43)}`;

describe('POST /api/servers', () => {
  it('stores the credentials encrypted and never returns them', async () => {
    const res = await t.call('operator', {
      method: 'POST',
      url: '/api/servers',
      payload: { name: 'db-1', host: 'db1.example.test', username: 'backup', auth: { type: 'password', password: 'server-password-1' }, tags: ['prod', 'db'], backupPaths: ['/etc', '/var/lib/app'] },
    });
    expect(res.statusCode).toBe(201);
    const server = res.json().data;
    expect(server).toMatchObject({ name: 'db-1', host: 'db1.example.test', port: 22, username: 'backup', authType: 'password', hostKeyFingerprint: null, tags: ['prod', 'db'], backupPaths: ['/etc', '/var/lib/app'] });
    expect(res.body).not.toContain('server-password-1');
    expect(server).not.toHaveProperty('credentials');
    expect(server).not.toHaveProperty('auth');

    const [row] = await t.database.db.select().from(servers).where(eq(servers.id, server.id));
    expect(row?.credentials).not.toContain('server-password-1');
    const binding = { serverId: server.id, host: 'db1.example.test', port: 22, username: 'backup' };
    expect(decryptCredentials(row?.credentials as string, t.env.CREDENTIALS_KEY, binding)).toEqual({ type: 'password', password: 'server-password-1' });
    expect(row?.createdBy).toBe(t.userIds.operator);
  });

  it('accepts key auth with a pinned fingerprint', async () => {
    const res = await t.call('admin', {
      method: 'POST',
      url: '/api/servers',
      payload: { name: 'k', host: '10.0.0.5', port: 2222, username: 'root', auth: { ...sshKeyAuth, passphrase: 'pp-secret' }, hostKeyFingerprint: FINGERPRINT },
    });
    expect(res.statusCode).toBe(201);
    expect(res.json().data).toMatchObject({ port: 2222, authType: 'key', hostKeyFingerprint: FINGERPRINT });
    expect(res.body).not.toContain('pp-secret');
    expect(res.body).not.toContain('PRIVATE KEY');
  });

  it('rejects unknown fields, bad hosts, bad paths, bad ports and incomplete auth', async () => {
    const base = { name: 'x', host: 'h.example.test', username: 'u', auth: { type: 'password', password: 'p' } };
    for (const payload of [
      { ...base, extra: true },
      { ...base, host: 'bad host; rm -rf /' },
      { ...base, port: 70_000 },
      { ...base, backupPaths: ['relative/path'] },
      { ...base, auth: { type: 'key' } },
      { ...base, auth: { type: 'password', password: 'p', privateKey: 'x' } },
      { ...base, hostKeyFingerprint: 'MD5:aa' },
      { ...base, name: 42 },
    ]) {
      const res = await t.call('operator', { method: 'POST', url: '/api/servers', payload });
      expect(res.statusCode, JSON.stringify(payload)).toBe(400);
      expect(res.json().error.code).toBe('VALIDATION_ERROR');
    }
  });
});

describe('GET, PATCH and DELETE /api/servers', () => {
  it('lists by tag, newest first, with a total', async () => {
    const a = await createServer(t, { name: 'tag-a', tags: ['edge'] });
    const b = await createServer(t, { name: 'tag-b', tags: ['edge', 'eu'] });
    await createServer(t, { name: 'tag-c', tags: ['core'] });
    const res = await t.call('viewer', { method: 'GET', url: '/api/servers?tag=edge' });
    expect(res.statusCode).toBe(200);
    expect(res.json().data.map((s: { id: string }) => s.id)).toEqual([b, a]);
    expect(res.json().meta).toEqual({ limit: 20, offset: 0, total: 2 });
    const page = await t.call('viewer', { method: 'GET', url: '/api/servers?tag=edge&limit=1&offset=1' });
    expect(page.json().data.map((s: { id: string }) => s.id)).toEqual([a]);
  });

  it('gets one server; 404 for an unknown id; 400 for a bad id', async () => {
    const id = await createServer(t, { name: 'get-me' });
    const res = await t.call('viewer', { method: 'GET', url: `/api/servers/${id}` });
    expect(res.json().data.name).toBe('get-me');
    const missing = await t.call('viewer', { method: 'GET', url: '/api/servers/00000000-0000-4000-8000-000000000000' });
    expect(missing.statusCode).toBe(404);
    expect(missing.json().error.code).toBe('NOT_FOUND');
    expect((await t.call('viewer', { method: 'GET', url: '/api/servers/123' })).statusCode).toBe(400);
  });

  it('patches fields, re-encrypts new credentials, and forgets the pin when the host changes', async () => {
    const id = await createServer(t, { name: 'patch-me', hostKeyFingerprint: FINGERPRINT });
    const renamed = await t.call('operator', { method: 'PATCH', url: `/api/servers/${id}`, payload: { name: 'patched', tags: ['x'] } });
    expect(renamed.json().data).toMatchObject({ name: 'patched', tags: ['x'], hostKeyFingerprint: FINGERPRINT });

    // Moving a pinned server resets its pin: admin-only (hardening-servers.test.ts).
    const moved = await t.call('admin', { method: 'PATCH', url: `/api/servers/${id}`, payload: { host: '192.0.2.7', auth: { type: 'password', password: 'new-pass-2' } } });
    expect(moved.json().data).toMatchObject({ host: '192.0.2.7', hostKeyFingerprint: null, authType: 'password' });
    const [row] = await t.database.db.select().from(servers).where(eq(servers.id, id));
    // Sealed for the new host: the API bound the fresh credentials to the row as it now is.
    const binding = { serverId: id, host: '192.0.2.7', port: row?.port as number, username: row?.username as string };
    expect(decryptCredentials(row?.credentials as string, t.env.CREDENTIALS_KEY, binding)).toEqual({ type: 'password', password: 'new-pass-2' });
    expect(() => decryptCredentials(row?.credentials as string, t.env.CREDENTIALS_KEY, { ...binding, host: 'db1.example.test' })).toThrow(/could not be decrypted/);

    expect((await t.call('operator', { method: 'PATCH', url: `/api/servers/${id}`, payload: {} })).statusCode).toBe(400);
    expect((await t.call('operator', { method: 'PATCH', url: `/api/servers/${id}`, payload: { credentials: 'x' } })).statusCode).toBe(400);
    expect((await t.call('operator', { method: 'PATCH', url: '/api/servers/00000000-0000-4000-8000-000000000000', payload: { name: 'n' } })).statusCode).toBe(404);
  });

  it('refuses to delete a server with a queued job (409), then deletes it once the job is gone', async () => {
    const id = await createServer(t, { name: 'busy' });
    const trig = await t.call('operator', { method: 'POST', url: `/api/servers/${id}/scan`, payload: { scan_type: 'quick' } });
    const jobId = trig.json().data.jobId as string;
    const refused = await t.call('operator', { method: 'DELETE', url: `/api/servers/${id}` });
    expect(refused.statusCode).toBe(409);
    expect(refused.json().error.message).toContain(jobId);

    expect((await t.call('operator', { method: 'DELETE', url: `/api/jobs/${jobId}` })).statusCode).toBe(200);
    const deleted = await t.call('operator', { method: 'DELETE', url: `/api/servers/${id}` });
    expect(deleted.statusCode).toBe(200);
    expect((await t.call('viewer', { method: 'GET', url: `/api/servers/${id}` })).statusCode).toBe(404);
    // The trigger cache forgets it too: no job for a deleted server.
    expect((await t.call('operator', { method: 'POST', url: `/api/servers/${id}/scan`, payload: { scan_type: 'quick' } })).statusCode).toBe(404);
  });

  it('refuses to delete a server with a running record (409)', async () => {
    const id = await createServer(t, { name: 'running-record' });
    await t.database.db.insert(backups).values({ id: crypto.randomUUID(), serverId: id, status: 'running' });
    expect((await t.call('operator', { method: 'DELETE', url: `/api/servers/${id}` })).statusCode).toBe(409);
  });
});

describe('per-server records', () => {
  it('lists a server’s scans newest first, paginated, and 404s for an unknown server', async () => {
    const id = await createServer(t, { name: 'records' });
    const ids = [crypto.randomUUID(), crypto.randomUUID(), crypto.randomUUID()];
    await t.database.db.insert(scans).values(
      ids.map((scanId, i) => ({ id: scanId, serverId: id, scanType: 'quick' as const, status: 'completed' as const, createdAt: new Date(Date.UTC(2026, 0, 1 + i)), result: { online: true, n: i } })),
    );
    const first = await t.call('viewer', { method: 'GET', url: `/api/servers/${id}/scans?limit=2` });
    expect(first.statusCode).toBe(200);
    expect(first.json().data.map((s: { id: string }) => s.id)).toEqual([ids[2], ids[1]]);
    expect(first.json().data[0]).toMatchObject({ scanType: 'quick', status: 'completed', result: { online: true, n: 2 }, source: 'record', createdAt: '2026-01-03T00:00:00.000Z' });
    expect(first.json().meta).toEqual({ limit: 2, offset: 0, total: 3 });
    const second = await t.call('viewer', { method: 'GET', url: `/api/servers/${id}/scans?limit=2&offset=2` });
    expect(second.json().data.map((s: { id: string }) => s.id)).toEqual([ids[0]]);

    const none = await t.call('viewer', { method: 'GET', url: `/api/servers/${id}/backups` });
    expect(none.json()).toEqual({ success: true, data: [], meta: { limit: 20, offset: 0, total: 0 } });
    expect((await t.call('viewer', { method: 'GET', url: '/api/servers/00000000-0000-4000-8000-000000000000/updates' })).statusCode).toBe(404);
    expect((await t.call('viewer', { method: 'GET', url: `/api/servers/${id}/scans?limit=0` })).statusCode).toBe(400);
  });
});
