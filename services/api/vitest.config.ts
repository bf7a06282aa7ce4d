import { configDefaults, defineConfig } from 'vitest/config';
import preset from '@mm/testing/vitest-preset';

/**
 * The PostgreSQL-backend pass (docs/DEPLOYMENT.md, "How the PostgreSQL queue backend is tested"): these files run a
 * second time with TEST_QUEUE_BACKEND=postgres, the API and its workers on BullMQ's PostgreSQL backend and a
 * REDIS_URL nothing answers on. Chosen to cover the seed's contract and every PostgreSQL implementation behind the
 * switch (job location and listing, events replay and resume, live log order, cancel markers and the Relay,
 * idempotency keys, token revocation over LISTEN/NOTIFY between two API processes, fleet-run streams, queue routes, metrics) in about a minute
 * and a half of CI.
 */
export const postgresPass = [
  // On PostgreSQL by itself (real API and scan-worker processes, no Redis at all): in this project only.
  'test/postgres-backend-processes.test.ts',
  'test/seed-examples.test.ts',
  'test/triggers.test.ts',
  'test/jobs.test.ts',
  'test/job-lookup.test.ts',
  'test/cancel.test.ts',
  'test/events.test.ts',
  'test/fleet-run-events.test.ts',
  'test/job-logs.test.ts',
  'test/queues.test.ts',
  'test/prometheus.test.ts',
];

// Each project spreads the preset itself: with `extends: true` vitest would merge the include lists, not replace them.
export default defineConfig({
  test: {
    // vitest's default on a 2-core machine is one file at a time (cores - 1). Each file has its own database, queue
    // prefix, sshd and ports, and most of its time is spent waiting on them and on the processes it starts, so two
    // at once take this suite from about 400 s to about 250 s of CI. No test here may depend on how fast it runs.
    maxWorkers: 2,
    projects: [
      { test: { ...preset.test, name: 'redis', exclude: [...configDefaults.exclude, 'test/postgres-backend-processes.test.ts'] } },
      { test: { ...preset.test, name: 'postgres', include: postgresPass, env: { TEST_QUEUE_BACKEND: 'postgres' } } },
    ],
  },
});
