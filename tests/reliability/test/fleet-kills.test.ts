import { and, gte, inArray } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scans, type Server } from '@mm/db';
import { insertTestServer, type ServiceProcess, startTestSshdFleet, type TestSshdFleet, waitFor } from '@mm/testing';
import { createStack, type Api, type Stack } from './support/stack.js';

/*
 * A fleet run survives a SIGKILL of the API and of the scan worker mid-wave (issue #15): the run lives in PostgreSQL and
 * BullMQ, not in either process. 8 loopback servers, full scans in three waves at concurrency 3; both processes are
 * killed together while the second wave's scans run, then started again. The fleet worker's own kill is in
 * services/api/test/fleet-runs.test.ts.
 */

const SERVERS = 8;

let stack: Stack;
let fleet: TestSshdFleet;
let servers: Server[];

beforeAll(async () => {
  stack = await createStack();
  fleet = await startTestSshdFleet(SERVERS);
  servers = [];
  for (const [i, member] of fleet.members.entries()) {
    servers.push(await insertTestServer(stack.db.db, member, { credentialsKey: stack.keys.credentialsKey, name: `kill-${String(i).padStart(2, '0')}` }));
  }
}, 120_000);

afterAll(async () => {
  await stack?.cleanup();
  await fleet?.stop();
});

interface RunView {
  state: string;
  wave: number;
  counts: Record<'pending' | 'queued' | 'completed' | 'failed' | 'cancelled' | 'skipped', number>;
}

describe('fleet run under process kills', () => {
  it('a SIGKILL of the API and the scan worker mid-wave: the run finishes, every server scanned exactly once, waves in order', async () => {
    let api: Api = await stack.startApi();
    const scanWorker: ServiceProcess = await stack.startWorker('scan-worker', { SCAN_WORKER_CONCURRENCY: '3' });
    await stack.startWorker('fleet-worker', { FLEET_STEP_INTERVAL_MS: '200', FLEET_SWEEP_INTERVAL_MS: '2000' });
    const since = new Date();
    const started = await api.client.request('POST', '/api/fleet-runs', {
      action: 'scan',
      options: { scan_type: 'full' },
      selector: { names: ['kill-*'] },
      concurrency: 3,
      rollout: { waves: [2, '40%', '100%'], maxFailPercentage: 0 },
    });
    expect(started.status, JSON.stringify(started.body)).toBe(202);
    const { runId, servers: planned } = (started.body as { data: { runId: string; servers: { id: string; jobId: string; wave: number }[] } }).data;
    expect(planned.map((p) => p.wave)).toEqual([1, 1, 2, 2, 2, 2, 3, 3]);
    const runOf = async (): Promise<RunView> => ((await api.client.request('GET', `/api/fleet-runs/${runId}`)).body as { data: RunView }).data;

    // Mid-wave: wave 2 has scans running (or queued) and servers still to start.
    await waitFor(async () => {
      const run = await runOf();
      return run.wave === 2 && run.counts.queued > 0 && run.counts.pending > 0;
    }, 'the second wave to be under way', 120_000, 50);
    await Promise.all([api.process.stop('SIGKILL'), scanWorker.stop('SIGKILL')]);
    const atKill = await stack.db.db.select().from(scans).where(and(inArray(scans.serverId, servers.map((s) => s.id)), gte(scans.createdAt, since)));
    expect(atKill.length).toBeLessThan(SERVERS);

    // The new processes are the stack's: it stops them at the end.
    await stack.startWorker('scan-worker', { SCAN_WORKER_CONCURRENCY: '3' });
    api = await stack.startApi();
    await waitFor(async () => {
      const run = await runOf();
      return ['completed', 'failed', 'aborted'].includes(run.state) && run.counts.queued === 0;
    }, 'the run to end', 240_000, 250);
    const run = await runOf();
    expect(run.state).toBe('completed');
    expect(run.counts).toEqual({ pending: 0, queued: 0, completed: SERVERS, failed: 0, cancelled: 0, skipped: 0 });

    // Exactly one scan per server, each the run's own job id: nothing lost, nothing run twice under another id.
    const records = await stack.db.db.select().from(scans).where(and(inArray(scans.serverId, servers.map((s) => s.id)), gte(scans.createdAt, since)));
    expect(records.map((r) => r.id).sort()).toEqual(planned.map((p) => p.jobId).sort());
    for (const r of records) expect([r.status, r.scanType]).toEqual(['completed', 'full']);
    // Waves stayed in order across the kills: no scan of a wave started before the previous wave's last one finished.
    const waveOf = (id: string) => planned.find((p) => p.jobId === id)!.wave;
    for (const wave of [2, 3]) {
      const firstStart = Math.min(...records.filter((r) => waveOf(r.id) === wave).map((r) => r.startedAt!.getTime()));
      const lastEnd = Math.max(...records.filter((r) => waveOf(r.id) === wave - 1).map((r) => r.finishedAt!.getTime()));
      expect(firstStart).toBeGreaterThan(lastEnd);
    }
  }, 420_000);
});
