import { drizzle, type PostgresJsDatabase } from 'drizzle-orm/postgres-js';
import postgres, { type Sql } from 'postgres';
import * as schema from './schema.js';

export type Db = PostgresJsDatabase<typeof schema>;

export interface Database {
  db: Db;
  sql: Sql;
  /** Safe to call twice. */
  close(): Promise<void>;
}

export interface DatabaseOptions {
  /** Pool size (postgres.js opens connections lazily up to this). */
  max?: number;
  /** Seconds to wait for a connection before failing, so callers answer 503 instead of hanging. */
  connectTimeout?: number;
}

export function createDatabase(url: string, { max = 10, connectTimeout = 5 }: DatabaseOptions = {}): Database {
  const sql = postgres(url, { max, connect_timeout: connectTimeout, idle_timeout: 60, onnotice: () => {} });
  const db = drizzle(sql, { schema });
  let closing: Promise<void> | undefined;
  return {
    db,
    sql,
    close() {
      closing ??= sql.end({ timeout: 5 });
      return closing;
    },
  };
}
