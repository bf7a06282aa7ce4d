import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseEnv } from '@mm/config';
import { createNamedQueueEvents, FLEET_QUEUE, POSTGRES_QUEUE_SCHEMA } from '@mm/jobs';
import { insertTestServer, startTestSshdFleet, testEnv, type TestSshdFleet } from '@mm/testing';
import { runWorker, WorkerEnvSchema, type RunningWorker } from '@mm/worker-runtime';
import { scanHandlers } from '@mm/scan-worker/test-kit';
import { FleetWorkerEnv, startFleetWorker, type RunningFleetWorker } from '@mm/fleet-worker/test-kit';
import { insertRun } from '../src/features/fleet/repository.js';
import { createTestApp, type TestApp } from './helpers/test-app.js';
import { waitUntil, workerEnvOf } from './helpers/throwaway-worker.js';
import { openSse } from './helpers/sse-client.js';

// A fleet run's SSE stream through the API's event hub, on both backends (this file is in the PostgreSQL pass,
// vitest.config.ts): the orchestrator's progress reaches it as `run` events, its completion as `end`, and the stream
// closes. fleet-runs.test.ts covers the rest of fleet runs, on Redis.

let t: TestApp;
let baseUrl: string;

const viewer = () => ({ authorization: `Bearer ${t.tokens.viewer}` });

beforeAll(async () => {
  t = await createTestApp({ GATE_HTTP_ALLOWED_HOSTS: '127.0.0.1' });
  baseUrl = await t.app.listen({ port: 0, host: '127.0.0.1' });
}, 60_000);

afterAll(async () => {
  await t?.close();
});

describe.runIf(testEnv.queueBackend === 'postgres')('an orchestrator event committing late (PostgreSQL)', () => {
  /** An event on the fleet queue's stream, as BullMQ's own functions write it (publish_event, ids from a sequence). */
  const publish = (sql: Pick<TestApp['database']['sql'], 'unsafe'>, event: string, data: Record<string, unknown>) =>
    sql.unsafe(`SELECT "${POSTGRES_QUEUE_SCHEMA}".publish_event($1, $2, $3::jsonb) AS id`, [FLEET_QUEUE, event, JSON.stringify(data)]);

  it('ends the stream even when the completion commits after a later-numbered progress', async () => {
    // A run with no orchestrator job: every event of this test is one it publishes itself.
    const runId = randomUUID();
    await insertRun(t.database.db, { id: runId, action: 'scan', options: {}, selector: {}, concurrency: 1, rollout: null, waveCount: 1, ignoreWindows: false, requestedBy: null, servers: [] });
    const sse = await openSse(`${baseUrl}/api/fleet-runs/${runId}/events`, viewer());
    // BullMQ's own QueueEvents, which pages by `id > cursor`: the test waits for it to pass the progress below.
    const witness = createNamedQueueEvents(FLEET_QUEUE, t.queueConfig);
    witness.on('error', () => {});
    try {
      expect(sse.status).toBe(200);
      expect(await sse.next()).toMatchObject({ event: 'run', data: { id: runId, state: 'running' } });
      await witness.waitUntilReady();
      const passed = new Promise<void>((resolve) => witness.on('progress', ({ jobId }) => jobId === runId && resolve()));
      await t.database.sql.begin(async (tx) => {
        await tx`update fleet_runs set state = 'completed', finished_at = now(), updated_at = now() where id = ${runId}`;
        await publish(tx, 'completed', { jobId: runId, returnvalue: 'null', prev: 'active' });
        // Committed first, with the higher id. Its NOTIFY is skipped (publish_event notifies once per queue and
        // transaction at a time, and the open one holds that lock): readers are woken as by another publisher or
        // BullMQ's own poll.
        await publish(t.database.sql, 'progress', { jobId: runId, data: { state: 'running' } });
        await t.database.sql`select pg_notify('bullmq_events', ${FLEET_QUEUE})`;
        // Held open until a reader paging by id has stepped past it (bounded: past 2 s the hub delivers the progress too).
        await Promise.race([passed, sleep(1_000)]);
      });
      const events = await sse.collect((e) => e.event === 'end');
      expect(events.at(-1)).toEqual({ event: 'end', data: { runId, state: 'completed' } });
      expect(await sse.next()).toBeNull();
    } finally {
      sse.close();
      await witness.close();
      await t.database.sql`delete from fleet_runs where id = ${runId}`;
    }
  }, 20_000);
});

describe('a run from pause to its end', () => {
  const FLEET_SIZE = 3;
  let fleet: TestSshdFleet;
  let scanWorker: RunningWorker;
  let orchestrator: RunningFleetWorker;

  beforeAll(async () => {
    fleet = await startTestSshdFleet(FLEET_SIZE);
    for (const [i, member] of fleet.members.entries()) await insertTestServer(t.database.db, member, { credentialsKey: t.env.CREDENTIALS_KEY, name: `node-${i}` });
    scanWorker = await runWorker({ queue: 'scan', env: parseEnv(WorkerEnvSchema, workerEnvOf(t)), concurrency: 2, handlers: scanHandlers });
    orchestrator = await startFleetWorker(
      parseEnv(FleetWorkerEnv, workerEnvOf(t, { FLEET_STEP_INTERVAL_MS: '100', FLEET_SWEEP_INTERVAL_MS: '2000', WORKER_LOCK_DURATION_MS: '2000', WORKER_STALLED_INTERVAL_MS: '1000' })),
    );
  }, 60_000);

  afterAll(async () => {
    await orchestrator?.close();
    await scanWorker?.close();
    await fleet?.stop();
  });

  const runOf = async (runId: string) => (await t.call('viewer', { method: 'GET', url: `/api/fleet-runs/${runId}` })).json().data as { state: string; counts: Record<string, number> };

  it('streams the progress as `run` events, then `end`, and closes', async () => {
    const started = await t.call('operator', { method: 'POST', url: '/api/fleet-runs', payload: { action: 'scan', selector: {}, concurrency: 1 } });
    expect(started.statusCode, started.body).toBe(202);
    const runId = started.json().data.runId as string;
    expect((await t.call('operator', { method: 'POST', url: `/api/fleet-runs/${runId}/pause` })).statusCode).toBe(200);
    await waitUntil(async () => (await runOf(runId)).counts.queued === 0, 'in-flight jobs to finish');
    const pending = (await runOf(runId)).counts.pending ?? 0;
    expect(pending).toBeGreaterThanOrEqual(FLEET_SIZE - 1);

    // Opened while paused: only the orchestrator's progress (live, through the hub) can show it running, and only its
    // completion can end the stream (the route's own end check ran while the run was paused).
    const sse = await openSse(`${baseUrl}/api/fleet-runs/${runId}/events`, viewer());
    try {
      expect(sse.status).toBe(200);
      expect(await sse.next()).toMatchObject({ event: 'run', data: { id: runId, state: 'paused' } });
      const resumed = await t.call('operator', { method: 'POST', url: `/api/fleet-runs/${runId}/resume` });
      expect(resumed.json().data).toEqual({ id: runId, state: 'running' });
      const events = await sse.collect((e) => e.event === 'end');
      expect(events.at(-1)).toEqual({ event: 'end', data: { runId, state: 'completed' } });
      const runs = events.filter((e) => e.event === 'run');
      expect(runs.at(-1)?.data).toMatchObject({ state: 'completed', counts: { completed: FLEET_SIZE, pending: 0, queued: 0 } });
      // The last `run` comes with `end`; at least one before it came from a progress event after the resume.
      expect(runs.filter((e) => e.data.state !== 'paused').length).toBeGreaterThanOrEqual(2);
      expect(await sse.next()).toBeNull();
    } finally {
      sse.close();
    }
  }, 60_000);
});
