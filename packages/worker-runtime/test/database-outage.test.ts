import { UnrecoverableError } from 'bullmq';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDatabase, type Database } from '@mm/db';
import { createTestDatabase, databaseOutage, waitFor, type DatabaseOutage, type TestDatabase } from '@mm/testing';
import { databaseOutageCheck, lostDatabaseConnection } from '../src/database-outage.js';
import { classifyError } from '../src/error-classification.js';

/*
 * What defers a job instead of spending an attempt, on errors a real PostgreSQL gives (one test database of its own,
 * taken down and brought back). The case that matters: a query failed during an outage that has ended by the time
 * the worker asks, so the `select 1` probe answers, yet the job must still be deferred.
 */

let testDb: TestDatabase;
let outage: DatabaseOutage;
/** A second pool on the same database, so the first's connections are not the ones being tested. */
let other: Database;

/** The error the query rejects with; fails the test if it does not reject. */
async function failureOf(query: Promise<unknown>): Promise<unknown> {
  return query.then(
    () => expect.fail('the query succeeded'),
    (err: unknown) => err,
  );
}

beforeAll(async () => {
  testDb = await createTestDatabase();
  outage = databaseOutage(testDb.name);
  other = createDatabase(testDb.url, { max: 1, connectTimeout: 5 });
});

afterAll(async () => {
  await outage?.close();
  await other?.close();
  await testDb?.drop();
});

describe('a failed attempt meets the database', () => {
  const answeringPing = () => testDb.sql`select 1`;
  const check = databaseOutageCheck(answeringPing);

  it('defers on a query refused during an outage even once it has ended and the probe answers', async () => {
    await outage.begin();
    let refused: unknown;
    try {
      refused = await failureOf(other.db.execute(sql`select 1`));
    } finally {
      await outage.end();
    }
    expect(lostDatabaseConnection(refused)).toBe(true);
    // Classified as the worker does (drizzle's wrapper becomes a plain DatabaseError without its cause).
    const classified = classifyError(refused);
    expect(classified.message).toMatch(/not currently accepting connections \(55000\)/);
    expect(await answeringPing()).toHaveLength(1);
    expect(await check.explains(classified, refused)).toBe(true);
    // Without the raw error, only the probe is left to say, and it answers: that alone counted an attempt before.
    expect(await check.explains(classified)).toBe(false);
  });

  it('defers on a query whose session was terminated by the outage', async () => {
    const running = failureOf(other.db.execute(sql`select pg_sleep(30)`));
    // The sleep has started once its backend shows it; then the outage terminates it.
    await waitFor(
      async () => {
        const [row] = await testDb.sql<{ n: number }[]>`select count(*)::int as n from pg_stat_activity where datname = ${testDb.name} and state = 'active' and query like 'select pg_sleep%'`;
        return (row?.n ?? 0) > 0;
      },
      'the sleeping query to start',
      10_000,
      50,
    );
    await outage.begin();
    let terminated: unknown;
    try {
      terminated = await running;
    } finally {
      await outage.end();
    }
    // postgres.js says the connection closed (its FATAL notice can reach the pool's next query instead).
    expect(String((terminated as Error).cause)).toMatch(/CONNECTION_CLOSED|terminating connection due to administrator command/);
    expect(lostDatabaseConnection(terminated)).toBe(true);
    expect(await check.explains(classifyError(terminated), terminated)).toBe(true);
  });

  it("counts a statement's own error as the job's failure while the database answers", async () => {
    // A pool of its own: postgres.js can hand the previous test's termination notice to the next query on a pool.
    const fresh = createDatabase(testDb.url, { max: 1, connectTimeout: 5 });
    try {
      for (const statement of [sql`select 1 / 0`, sql`select 'x'::int`, sql`select * from no_such_table`]) {
        const failed = await failureOf(fresh.db.execute(statement));
        expect(lostDatabaseConnection(failed), String((failed as Error).cause ?? failed)).toBe(false);
        expect(await check.explains(classifyError(failed), failed)).toBe(false);
      }
    } finally {
      await fresh.close();
    }
    // A socket error is the database's only under a failed query: the same code from elsewhere (SSH, HTTP) is not.
    const refusedElsewhere = Object.assign(new Error('connect ECONNREFUSED 127.0.0.2:22'), { code: 'ECONNREFUSED' });
    expect(lostDatabaseConnection(refusedElsewhere)).toBe(false);
    expect(await check.explains(refusedElsewhere, refusedElsewhere)).toBe(false);
  });

  it('defers any retryable failure while the database does not answer, and never an unrecoverable one', async () => {
    await outage.begin();
    try {
      const downCheck = databaseOutageCheck(() => other.sql`select 1`);
      expect(await downCheck.explains(new Error('ssh: connection reset'))).toBe(true);
      expect(await downCheck.explains(new UnrecoverableError('host key mismatch'))).toBe(false);
    } finally {
      await outage.end();
    }
  });
});
