import { randomBytes } from 'node:crypto';
import postgres from 'postgres';
import { createDatabase, migrateDatabase, type Database } from '@mm/db';
import { testEnv } from './env.js';

export interface TestDatabase extends Database {
  url: string;
  name: string;
  /** Closes the pool and drops the database. */
  drop(): Promise<void>;
}

/** A fresh, migrated database of its own for one test file, so files run in parallel. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const name = `mm_test_${randomBytes(6).toString('hex')}`;
  const url = new URL(testEnv.adminDatabaseUrl);
  url.pathname = `/${name}`;
  await migrateDatabase(url.toString());
  const database = createDatabase(url.toString(), { max: 5 });
  return {
    ...database,
    url: url.toString(),
    name,
    async drop() {
      await database.close();
      const admin = postgres(testEnv.adminDatabaseUrl, { max: 1, onnotice: () => {} });
      try {
        await admin.unsafe(`drop database if exists "${name}" with (force)`);
      } finally {
        await admin.end({ timeout: 5 });
      }
    },
  };
}
