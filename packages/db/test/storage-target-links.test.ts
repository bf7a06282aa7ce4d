import { randomBytes, randomUUID } from 'node:crypto';
import { eq } from 'drizzle-orm';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backups, createDatabase, migrateDatabase, restores, servers, storageTargetChecks, storageTargets, users, type Database } from '../src/index.js';

// Migration 0008: backups.storage_target_id references storage_targets ON DELETE RESTRICT.
const adminUrl = 'postgres://postgres@127.0.0.1:5432/postgres';
const name = `mm_test_links_${randomBytes(5).toString('hex')}`;
const url = adminUrl.replace(/\/postgres$/, `/${name}`);
let database: Database;

beforeAll(async () => {
  await migrateDatabase(url);
  database = createDatabase(url, { max: 2 });
});

afterAll(async () => {
  await database?.close();
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
  await admin.unsafe(`drop database if exists "${name}" with (force)`);
  await admin.end();
});

const pgCode = (err: unknown) => (err as { cause?: { code?: string }; code?: string }).cause?.code ?? (err as { code?: string }).code;

describe('backups.storage_target_id (0008)', () => {
  it('keeps a target with backups from being deleted, and refuses a backup naming no target', async () => {
    const { db } = database;
    const [user] = await db.insert(users).values({ email: 'links@example.com', passwordHash: 'x', role: 'admin' }).returning();
    const [server] = await db.insert(servers).values({ name: 'links', host: '127.0.0.1', username: 'u', authType: 'key', credentials: 'c', createdBy: user!.id }).returning();
    const targetId = randomUUID();
    await db.insert(storageTargets).values({ id: targetId, name: 'nas', engine: 'restic', locationType: 'local', location: { type: 'local', path: '/srv/r' }, secrets: 'st1.x' });
    const backupId = randomUUID();
    await db.insert(backups).values({ id: backupId, serverId: server!.id, storageTargetId: targetId, engine: 'restic' });

    const refused = await db.delete(storageTargets).where(eq(storageTargets.id, targetId)).catch((err: unknown) => err);
    expect(pgCode(refused)).toBe('23503');
    expect(await db.select({ id: storageTargets.id }).from(storageTargets).where(eq(storageTargets.id, targetId))).toHaveLength(1);

    const dangling = await db.insert(backups).values({ id: randomUUID(), serverId: server!.id, storageTargetId: randomUUID() }).catch((err: unknown) => err);
    expect(pgCode(dangling)).toBe('23503');

    // Once its backups are gone the target can go; checks of it go with it (cascade, unchanged).
    await db.insert(storageTargetChecks).values({ id: randomUUID(), storageTargetId: targetId, status: 'failed', affectedBackupIds: [backupId] });
    await db.delete(backups).where(eq(backups.id, backupId));
    await db.delete(storageTargets).where(eq(storageTargets.id, targetId));
    expect(await db.select().from(storageTargetChecks)).toHaveLength(0);
  });

  it('stores a restore subset, null meaning the whole backup', async () => {
    const { db } = database;
    const [server] = await db.select().from(servers).limit(1);
    const backupId = randomUUID();
    await db.insert(backups).values({ id: backupId, serverId: server!.id });
    const [some] = await db.insert(restores).values({ id: randomUUID(), serverId: server!.id, backupId, targetPath: '/r', paths: ['/etc/hosts', '/srv/www'] }).returning();
    const [all] = await db.insert(restores).values({ id: randomUUID(), serverId: server!.id, backupId, targetPath: '/r' }).returning();
    expect(some!.paths).toEqual(['/etc/hosts', '/srv/www']);
    expect(all!.paths).toBeNull();
  });
});
