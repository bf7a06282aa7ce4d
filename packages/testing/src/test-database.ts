import { createHash, randomBytes } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import postgres from 'postgres';
import { createDatabase, migrateDatabase, migrationsFolder, type Database } from '@mm/db';
import { testEnv } from './env.js';

export interface TestDatabase extends Database {
  url: string;
  name: string;
  /** Closes the pool and drops the database. */
  drop(): Promise<void>;
}

// Any constant works; every process that builds the template takes the same one (advisory locks are per database).
const TEMPLATE_LOCK_ID = 7_240_312;

/** A fresh, migrated database of its own for one test file, so files run in parallel. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const name = `mm_test_${randomBytes(6).toString('hex')}`;
  const url = new URL(testEnv.adminDatabaseUrl);
  url.pathname = `/${name}`;
  await withAdmin(async (admin) => {
    const template = await migratedTemplate(admin);
    await admin.unsafe(`create database "${name}" template "${template}"`);
  });
  const database = createDatabase(url.toString(), { max: 5 });
  return {
    ...database,
    url: url.toString(),
    name,
    async drop() {
      await database.close();
      await withAdmin((admin) => admin.unsafe(`drop database if exists "${name}" with (force)`));
    },
  };
}

async function withAdmin<T>(use: (admin: postgres.Sql) => Promise<T>): Promise<T> {
  const admin = postgres(testEnv.adminDatabaseUrl, { max: 1, onnotice: () => {} });
  try {
    return await use(admin);
  } finally {
    await admin.end({ timeout: 5 });
  }
}

/**
 * The database every test database is cloned from, migrated once per set of migrations instead of once per test
 * file (a clone costs what an empty `create database` does; migrating took ~1-2 s more each time). Named by a hash
 * of the migration files, so a changed migration gets a template of its own. Built under an advisory lock, since
 * test files and packages run in parallel; marked a template that takes no connections only once fully migrated, so a
 * half-built one (a killed run) is rebuilt, and a clone never meets a session inside it.
 */
async function migratedTemplate(admin: postgres.Sql): Promise<string> {
  const name = `mm_test_template_${await migrationsHash()}`;
  if (await isReadyTemplate(admin, name)) return name;
  await admin`select pg_advisory_lock(${TEMPLATE_LOCK_ID})`;
  try {
    if (await isReadyTemplate(admin, name)) return name;
    await admin.unsafe(`drop database if exists "${name}" with (force)`);
    const url = new URL(testEnv.adminDatabaseUrl);
    url.pathname = `/${name}`;
    await migrateDatabase(url.toString());
    await admin.unsafe(`alter database "${name}" with is_template true allow_connections false`);
    return name;
  } finally {
    await admin`select pg_advisory_unlock(${TEMPLATE_LOCK_ID})`;
  }
}

async function isReadyTemplate(admin: postgres.Sql, name: string): Promise<boolean> {
  const [row] = await admin`select 1 as found from pg_database where datname = ${name} and datistemplate and not datallowconn`;
  return row !== undefined;
}

let hashOnce: Promise<string> | undefined;

/** The migration files' names and contents, hashed once per process: 16 hex digits keep the name under 63 bytes. */
function migrationsHash(): Promise<string> {
  hashOnce ??= (async () => {
    const hash = createHash('sha256');
    for (const entry of (await readdir(migrationsFolder, { recursive: true })).sort()) {
      const path = join(migrationsFolder, entry);
      if ((await stat(path)).isFile()) hash.update(entry).update('\0').update(await readFile(path)).update('\0');
    }
    return hash.digest('hex').slice(0, 16);
  })();
  return hashOnce;
}
