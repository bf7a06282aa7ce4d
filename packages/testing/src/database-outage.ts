import postgres from 'postgres';
import { testEnv } from './env.js';

/**
 * Makes ONE test database unavailable without touching the shared server: new connections are refused
 * (ALLOW_CONNECTIONS false) and the open ones are terminated. Only ever pass the test's own database name.
 */
export interface DatabaseOutage {
  begin(): Promise<void>;
  end(): Promise<void>;
  close(): Promise<void>;
}

export function databaseOutage(name: string): DatabaseOutage {
  if (!/^mm_test_[0-9a-f]+$/.test(name)) throw new Error(`refusing to take down ${name}: not a test database`);
  const admin = postgres(testEnv.adminDatabaseUrl, { max: 1, onnotice: () => {} });
  return {
    async begin() {
      await admin.unsafe(`alter database "${name}" with allow_connections false`);
      await admin`select pg_terminate_backend(pid) from pg_stat_activity where datname = ${name} and pid <> pg_backend_pid()`;
    },
    async end() {
      await admin.unsafe(`alter database "${name}" with allow_connections true`);
    },
    async close() {
      await admin.unsafe(`alter database "${name}" with allow_connections true`).catch(() => undefined);
      await admin.end({ timeout: 5 });
    },
  };
}
