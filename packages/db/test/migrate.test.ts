import { randomBytes } from 'node:crypto';
import postgres from 'postgres';
import { afterAll, describe, expect, it } from 'vitest';
import { checkPostgres, createDatabase, migrateDatabase, servers, users } from '../src/index.js';

// @mm/testing sits above this package, so this file manages its own throwaway database.
const adminUrl = 'postgres://postgres@127.0.0.1:5432/postgres';
const name = `mm_test_db_${randomBytes(5).toString('hex')}`;
const url = adminUrl.replace(/\/postgres$/, `/${name}`);

afterAll(async () => {
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
  await admin.unsafe(`drop database if exists "${name}" with (force)`);
  await admin.end();
});

describe('migrateDatabase', () => {
  it('creates the database and applies migrations, idempotently, even when processes race', async () => {
    await Promise.all([migrateDatabase(url), migrateDatabase(url), migrateDatabase(url)]);
    await migrateDatabase(url);
    const database = createDatabase(url, { max: 1 });
    try {
      const tables = await database.sql<{ table_name: string }[]>`
        select table_name from information_schema.tables where table_schema = 'public' order by table_name`;
      expect(tables.map((t) => t.table_name)).toEqual(expect.arrayContaining(['backups', 'scans', 'servers', 'updates', 'users']));
      const applied = await database.sql`select count(*)::int as n from drizzle.__drizzle_migrations`;
      const journal = (await import('../migrations/meta/_journal.json', { with: { type: 'json' } })).default as { entries: unknown[] };
      expect(applied[0]!.n).toBe(journal.entries.length);

      const [user] = await database.db.insert(users).values({ email: 'a@example.com', passwordHash: 'x', role: 'admin' }).returning();
      const [server] = await database.db
        .insert(servers)
        .values({ name: 's', host: '127.0.0.1', username: 'u', authType: 'key', credentials: 'c', createdBy: user!.id })
        .returning();
      expect(server).toMatchObject({ port: 22, backupPaths: [], tags: [], hostKeyFingerprint: null });
    } finally {
      await database.close();
      await database.close(); // safe twice
    }
  });
});

describe('checkPostgres', () => {
  it('passes against the running server', async () => {
    await expect(checkPostgres(url)).resolves.toBeUndefined();
  });

  it('says in one line what to start, without the password, when nothing listens', async () => {
    const err = await checkPostgres('postgres://postgres:s3cret@127.0.0.1:1/x', 1).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toMatch(/^PostgreSQL is not answering at 127\.0\.0\.1:1 .*Start it/);
    expect((err as Error).message).not.toContain('s3cret');
    expect((err as Error).message).not.toContain('\n');
  });
});
