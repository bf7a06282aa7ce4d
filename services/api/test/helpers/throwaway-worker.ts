import { setTimeout as sleep } from 'node:timers/promises';
import { UnrecoverableError, type Job, type Worker } from 'bullmq';
import { createWorker, type QueueAlias } from '@mm/jobs';
import type { TestApp } from './test-app.js';

export type Outcome = 'complete' | 'fail' | 'block';

/**
 * A real BullMQ worker in the test process (real Redis, not a mock) that completes, fails or holds
 * each job as `outcome(job)` says, so the API can be tested against jobs in every state.
 */
export function startWorker(t: TestApp, queue: QueueAlias, outcome: (job: Job) => Outcome, onProgress?: (job: Job) => Promise<void>): { worker: Worker; release(): void } {
  let release: () => void = () => {};
  const held = new Promise<void>((resolve) => (release = resolve));
  const worker = createWorker(
    queue,
    async (job) => {
      if (onProgress) await onProgress(job);
      const what = outcome(job);
      if (what === 'fail') throw new UnrecoverableError(`boom ${job.id}`);
      if (what === 'block') await held;
      return { ok: true, id: job.id };
    },
    { ...t.queueConfig, concurrency: 1 },
  );
  worker.on('error', () => {}); // a closing connection during teardown is expected
  return { worker, release };
}

/** Polls (with a pause) until `check` returns true; for waiting on a worker, never for timing assertions. */
export async function waitUntil(check: () => Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

/** The env a real worker process of this test app reads (its database, Redis prefix and credentials key), plus `extra`. */
export function workerEnvOf(t: TestApp, extra: Record<string, string> = {}): Record<string, string> {
  return {
    NODE_ENV: 'test',
    LOG_LEVEL: 'silent',
    DATABASE_URL: t.database.url,
    QUEUE_BACKEND: t.env.QUEUE_BACKEND,
    REDIS_URL: t.env.REDIS_URL,
    // The test sshd listens on loopback, which workers refuse by default.
    SERVER_ALLOW_LOOPBACK: 'true',
    QUEUE_PREFIX: t.redis.prefix,
    CREDENTIALS_KEY: t.env.CREDENTIALS_KEY,
    HEALTH_PORT: '0',
    HEALTH_HOST: '127.0.0.1',
    ...extra,
  };
}
