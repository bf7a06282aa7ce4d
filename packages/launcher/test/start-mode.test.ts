import { describe, expect, it } from 'vitest';
import { parseEnv, resolveQueueBackend } from '@mm/config';
import { LauncherEnv } from '../src/env.js';
import { chooseStartMode, startLine } from '../src/start-mode.js';

const mode = (raw: Record<string, string>) => chooseStartMode(parseEnv(LauncherEnv, raw), raw);

describe('the start mode', () => {
  it('runs the embedded PostgreSQL only in development without DATABASE_URL', () => {
    expect(mode({}).embedded).toBe(true);
    expect(mode({ NODE_ENV: 'development', DATABASE_URL: '' }).embedded).toBe(true);
    expect(mode({ NODE_ENV: 'test' }).embedded).toBe(true);
    expect(mode({ DATABASE_URL: 'postgres://db.internal/mm' }).embedded).toBe(false);
    // Production names its database.
    expect(mode({ NODE_ENV: 'production' }).embedded).toBe(false);
  });

  it('decides the queue backend from the raw environment, before the embedded DATABASE_URL exists', () => {
    // The one switch (@mm/config resolveQueueBackend) decides; the launcher hands its answer on as QUEUE_BACKEND.
    expect(mode({}).queues).toBe(resolveQueueBackend({}));
    // Nothing set in development: the embedded PostgreSQL holds the queues too, and the start line says how to use Redis.
    expect(mode({})).toEqual({ embedded: true, queues: 'postgres', queuesChosen: false });
    expect(mode({ DATABASE_URL: 'postgres://db.internal/mm' })).toEqual({ embedded: false, queues: 'redis', queuesChosen: false });
    expect(mode({ QUEUE_BACKEND: 'postgres' })).toEqual({ embedded: true, queues: 'postgres', queuesChosen: true });
    expect(mode({ REDIS_URL: 'redis://127.0.0.1:6379' })).toEqual({ embedded: true, queues: 'redis', queuesChosen: false });
    expect(mode({ DATABASE_URL: 'postgres://db.internal/mm', QUEUE_BACKEND: 'postgres' })).toEqual({ embedded: false, queues: 'postgres', queuesChosen: true });
    expect(mode({ NODE_ENV: 'production', QUEUE_BACKEND: 'redis' })).toEqual({ embedded: false, queues: 'redis', queuesChosen: true });
  });

  it('says in one line what runs and how to switch, without a password', () => {
    const root = '/srv/mm';
    const embedded = { dir: '/srv/mm/var/postgres', port: 41234, shared: false };
    expect(startLine({ mode: { embedded: true, queues: 'postgres', queuesChosen: false }, embedded, databaseUrl: 'postgres://postgres:s3cret@127.0.0.1:41234/medicine_man', redisUrl: 'redis://127.0.0.1:6379', root })).toBe(
      'embedded PostgreSQL at ./var/postgres (127.0.0.1:41234), queues on PostgreSQL; set DATABASE_URL to use your own PostgreSQL, set REDIS_URL to run the queues on Redis (docs/DEPLOYMENT.md)',
    );
    expect(startLine({ mode: { embedded: true, queues: 'postgres', queuesChosen: true }, embedded, databaseUrl: '', redisUrl: 'redis://127.0.0.1:6379', root })).toBe(
      'embedded PostgreSQL at ./var/postgres (127.0.0.1:41234), queues on PostgreSQL; set DATABASE_URL to use your own PostgreSQL, set QUEUE_BACKEND=redis to run the queues on Redis (docs/DEPLOYMENT.md)',
    );
    expect(startLine({ mode: { embedded: true, queues: 'redis', queuesChosen: false }, embedded: { ...embedded, shared: true }, databaseUrl: '', redisUrl: 'redis://:pw@cache:6380', root })).toBe(
      'embedded PostgreSQL at ./var/postgres (127.0.0.1:41234, started by another pnpm start), queues on Redis at cache:6380; set DATABASE_URL to use your own PostgreSQL (docs/DEPLOYMENT.md)',
    );
    const line = startLine({
      mode: { embedded: false, queues: 'redis', queuesChosen: false },
      databaseUrl: 'postgres://mm:hunter2@db.internal:5433/mm',
      redisUrl: 'redis://default:pw@r1:7001,redis://r2:7002',
      root,
    });
    expect(line).toBe('PostgreSQL at db.internal:5433, queues on Redis at r1:7001, r2:7002');
    expect(line).not.toMatch(/hunter2|pw@/);
  });
});
