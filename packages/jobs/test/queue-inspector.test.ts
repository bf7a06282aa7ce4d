import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { createTestDatabase, type TestDatabase } from '@mm/testing';
import { POSTGRES_QUEUE_SCHEMA, runQueueMigrations } from '../src/backend.js';
import { QueueName } from '../src/catalog.js';
import { postgresBroadcast } from '../src/stores/broadcast.js';
import { postgresQueueInspector } from '../src/stores/queue-inspector.js';

let db: TestDatabase;
let pool: pg.Pool;
beforeAll(async () => {
  db = await createTestDatabase();
  await runQueueMigrations(db.url);
  pool = new pg.Pool({ connectionString: db.url, max: 4 });
});
afterAll(async () => {
  await pool?.end();
  await db?.drop();
});

const publish = (client: pg.Pool | pg.PoolClient, line: string) =>
  client.query<{ id: string }>(`SELECT "${POSTGRES_QUEUE_SCHEMA}".publish_event($1, 'log', $2::jsonb) AS id`, [QueueName.scan, JSON.stringify({ jobId: 'j1', line })]);

describe('the PostgreSQL inspector reads events up to the first one that may still commit', () => {
  it('holds back a committed event while an earlier-numbered one is still open, then returns both in id order', async () => {
    const inspector = postgresQueueInspector(pool, POSTGRES_QUEUE_SCHEMA, postgresBroadcast(pool, db.url));
    const start = await inspector.eventsEnd('scan');
    const open = await pool.connect();
    try {
      await open.query('BEGIN');
      const first = (await publish(open, 'first')).rows[0]?.id;
      const second = (await publish(pool, 'second')).rows[0]?.id;
      expect(Number(second)).toBeGreaterThan(Number(first));
      // 'second' is committed and visible, but 'first' (a lower id) may still commit: nothing is settled past start.
      expect(await inspector.events('scan', start, 100)).toEqual([]);
      expect(await inspector.eventsEnd('scan')).toBe(start);
      await open.query('COMMIT');
    } finally {
      open.release();
    }
    const entries = await inspector.events('scan', start, 100);
    expect(entries.map((e) => [e.fields.event, e.fields.line])).toEqual([
      ['log', 'first'],
      ['log', 'second'],
    ]);
    expect(entries.every((e) => /^\d+-0$/.test(e.id))).toBe(true);
    expect(await inspector.eventsEnd('scan')).toBe(entries[1]?.id);
    // Paging on from the first entry returns the second only.
    expect((await inspector.events('scan', entries[0]?.id as string, 100)).map((e) => e.fields.line)).toEqual(['second']);
  });

  it('wakes a watcher when BullMQ announces an event of its queue (LISTEN/NOTIFY), not for another queue', async () => {
    const inspector = postgresQueueInspector(pool, POSTGRES_QUEUE_SCHEMA, postgresBroadcast(pool, db.url));
    let wakes = 0;
    let resolveUp: () => void = () => {};
    const up = new Promise<void>((resolve) => (resolveUp = resolve));
    const watcher = inspector.watch('scan', () => {
      wakes += 1;
      resolveUp();
    });
    expect(watcher).not.toBeNull();
    try {
      // The first wake is the watcher's own, once it listens.
      await up;
      const before = wakes;
      await pool.query(`SELECT "${POSTGRES_QUEUE_SCHEMA}".publish_event($1, 'log', '{}'::jsonb)`, [QueueName.backup]);
      const woken = new Promise<void>((resolve) => {
        const timer = setInterval(() => {
          if (wakes > before) {
            clearInterval(timer);
            resolve();
          }
        }, 10);
      });
      await publish(pool, 'wake');
      await woken;
      expect(wakes).toBe(before + 1);
    } finally {
      await watcher?.close();
    }
  });
});
