import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Backup, Server } from '@mm/db';
import { type ServiceProcess, TEST_SSH_USER } from '@mm/testing';
import { createStack, type Stack } from './support/stack.js';

/*
 * One exclusive job per server across processes: two real backup-worker processes (two job slots each) race on
 * four backups of one server. The records' run intervals never overlap, and a job that found the server busy waited
 * without using an attempt.
 */

const run = promisify(execFile);
const JOBS = 4;

let stack: Stack;
let server: Server;
const workers: ServiceProcess[] = [];

beforeAll(async () => {
  stack = await createStack({ sshd: true });
  const sshd = stack.sshd;
  if (!sshd) throw new Error('no sshd');
  const source = join(sshd.workDir, 'busy');
  await mkdir(source);
  // Sparse and gzipped: each backup keeps tar busy for a moment while storing almost nothing.
  await run('truncate', ['-s', '128M', join(source, 'zeros.bin')]);
  await run('chown', ['-R', `${TEST_SSH_USER}:${TEST_SSH_USER}`, source]);
  server = await stack.insertServer([source]);
  const extra = { BACKUP_WORKER_CONCURRENCY: '2', SERVER_BUSY_DELAY_MIN_MS: '100', SERVER_BUSY_DELAY_MAX_MS: '300' };
  workers.push(...(await Promise.all([stack.startWorker('backup-worker', extra), stack.startWorker('backup-worker', extra)])));
});

afterAll(async () => {
  await stack?.cleanup();
});

describe('one exclusive job per server', () => {
  it('two worker processes never run two backups of one server at once, and waiting costs no attempt', async () => {
    const events = await stack.events('backup');
    const ids = Array.from({ length: JOBS }, () => randomUUID());
    const jobs = await Promise.all(
      ids.map((backupId) =>
        stack.producer.enqueue('backup:manual', {
          serverId: server.id,
          backupId,
          userId: null,
          options: { backup_type: 'full', compression: true, encryption: false },
          isScheduled: false,
        }),
      ),
    );
    await Promise.all(jobs.map((job) => job.waitUntilFinished(events, 120_000)));

    const records = (await stack.db.db.query.backups.findMany({ where: (b, { inArray }) => inArray(b.id, ids) })) as Backup[];
    expect(records).toHaveLength(JOBS);
    for (const r of records) expect(r).toMatchObject({ status: 'completed', attempts: 1 });
    const intervals = records
      .map((r) => ({ id: r.id, start: r.startedAt?.getTime() ?? NaN, end: r.finishedAt?.getTime() ?? NaN }))
      .sort((a, b) => a.start - b.start);
    for (let i = 1; i < intervals.length; i++) {
      const [prev, next] = [intervals[i - 1]!, intervals[i]!];
      expect(next.start, `${next.id} started before ${prev.id} finished`).toBeGreaterThanOrEqual(prev.end);
    }
    for (const id of ids) {
      const job = await stack.producer.queue('backup').getJob(id);
      // One attempt each (BullMQ counts the successful one); deferrals moved the job to delayed without counting.
      expect(job?.attemptsMade, id).toBe(1);
    }
    // The race happened: some job found the server busy and was deferred, naming the job holding it.
    const deferred = workers.flatMap((w) => w.logLines('server busy with another job: deferred'));
    expect(deferred.length).toBeGreaterThan(0);
    for (const line of deferred) {
      expect(ids).toContain(line.jobId);
      expect(ids).toContain(line.heldBy);
      expect(line.heldBy).not.toBe(line.jobId);
    }
    // Nothing left holding the server.
    expect(await stack.redis.exists(`${stack.prefix}:mm:server-lock:${server.id}`)).toBe(0);
  });
});
