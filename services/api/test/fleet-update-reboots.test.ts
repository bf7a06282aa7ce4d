import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseEnv } from '@mm/config';
import { updates, type Server } from '@mm/db';
import { inArray } from 'drizzle-orm';
import { insertTestServer, startTestSshd, type FakePackage, type TestSshd } from '@mm/testing';
import { runWorker, WorkerEnvSchema, type RunningWorker } from '@mm/worker-runtime';
import { scanHandlers } from '@mm/scan-worker/test-kit';
import { createUpdateHandlers, updateSettingsOf } from '@mm/update-worker/test-kit';
import { FleetWorkerEnv, startFleetWorker, type RunningFleetWorker } from '@mm/fleet-worker/test-kit';
import { createTestApp, type TestApp } from './helpers/test-app.js';
import { waitUntil, workerEnvOf } from './helpers/throwaway-worker.js';

// An update rollout whose servers reboot: the API, the fleet worker, a real update worker and a real scan worker (the
// gates), against stand-in servers (packages/testing's fake package manager: nothing on this host is upgraded) whose
// fake reboot restarts their sshd with a new boot id, or, for a broken canary, with the same one.

const KERNEL: FakePackage[] = [{ name: 'linux-image-amd64', installed: '6.1.119-1', candidate: '6.1.123-1', security: true, reboot: true }];

let t: TestApp;
let updateWorker: RunningWorker;
let scanWorker: RunningWorker;
let orchestrator: RunningFleetWorker;
const sshds: TestSshd[] = [];
const servers = new Map<string, { sshd: TestSshd; server: Server }>();

async function addServer(name: string, tag: string, onReboot: 'reboot' | 'keep-boot-id' = 'reboot'): Promise<void> {
  const sshd = await startTestSshd({ fakePackageManager: { packages: KERNEL, onReboot } });
  sshds.push(sshd);
  const server = await insertTestServer(t.database.db, sshd, { credentialsKey: t.env.CREDENTIALS_KEY, name });
  await t.database.sql`update servers set tags = ${[tag]}::text[] where id = ${server.id}`;
  servers.set(name, { sshd, server });
}

interface RunDetail {
  state: string;
  reason: string | null;
  counts: Record<string, number>;
  waves: { servers: { serverName: string; state: string; error: string | null; gate: { state: string } | null; plan: { changed: { name: string }[]; rebooted: boolean } | null }[] }[];
}

async function runOf(runId: string): Promise<RunDetail> {
  return (await t.call('viewer', { method: 'GET', url: `/api/fleet-runs/${runId}` })).json().data as RunDetail;
}

async function runToEnd(body: Record<string, unknown>): Promise<{ run: RunDetail; jobIds: string[] }> {
  const res = await t.call('admin', { method: 'POST', url: '/api/fleet-runs', payload: body });
  expect(res.statusCode, res.body).toBe(202);
  const { runId, servers: planned } = res.json().data as { runId: string; servers: { jobId: string }[] };
  await waitUntil(async () => {
    const run = await runOf(runId);
    return ['completed', 'failed', 'aborted'].includes(run.state) && run.counts.queued === 0;
  }, `fleet run ${runId} to end`, 120_000);
  return { run: await runOf(runId), jobIds: planned.map((p) => p.jobId) };
}

beforeAll(async () => {
  t = await createTestApp();
  await Promise.all([addServer('kern-a', 'reboots'), addServer('kern-b', 'reboots'), addServer('kern-c', 'reboots')]);
  await Promise.all([addServer('broken-a', 'broken-canary', 'keep-boot-id'), addServer('broken-b', 'broken-canary')]);
  const updateEnv = parseEnv(WorkerEnvSchema, workerEnvOf(t));
  const settings = updateSettingsOf({
    MAINTENANCE_RECHECK_MS: 500,
    UPDATE_REBOOT_COMMAND: 'reboot',
    // The stand-ins' boot id is a file their fake reboot rewrites.
    UPDATE_BOOT_ID_COMMAND: 'cat "$MM_FAKE_STATE/boot_id"',
    UPDATE_REBOOT_TIMEOUT_S: 10,
    UPDATE_REBOOT_POLL_MS: 200,
  });
  updateWorker = await runWorker({ queue: 'update', env: updateEnv, concurrency: 3, handlers: createUpdateHandlers(settings) });
  scanWorker = await runWorker({ queue: 'scan', env: parseEnv(WorkerEnvSchema, workerEnvOf(t)), concurrency: 3, handlers: scanHandlers });
  orchestrator = await startFleetWorker(parseEnv(FleetWorkerEnv, workerEnvOf(t, { FLEET_STEP_INTERVAL_MS: '100', FLEET_SWEEP_INTERVAL_MS: '2000' })));
}, 120_000);

afterAll(async () => {
  await orchestrator?.close();
  await scanWorker?.close();
  await updateWorker?.close();
  await Promise.all(sshds.map((s) => s.stop()));
  await t?.close();
});

describe('an update rollout with reboot "if-required"', () => {
  it('reboots each server inside its wave; the gate runs on servers that are back', async () => {
    const bootIds = new Map(await Promise.all(['kern-a', 'kern-b', 'kern-c'].map(async (n) => [n, await servers.get(n)!.sshd.fakePackageManager!.bootId()] as const)));
    const { run, jobIds } = await runToEnd({
      action: 'update',
      selector: { tagsAny: ['reboots'] },
      options: { dry_run: false, reboot: 'if-required' },
      concurrency: 3,
      // The gate command passes only on a server that no longer needs a reboot: one that rebooted.
      rollout: { waves: [1, '100%'], gate: { command: 'test ! -e "$MM_FAKE_STATE/reboot-required"' } },
    });
    expect(run.state, run.reason ?? '').toBe('completed');
    for (const s of run.waves.flatMap((w) => w.servers)) {
      expect([s.serverName, s.state, s.gate?.state]).toEqual([s.serverName, 'completed', 'passed']);
      expect(s.plan?.changed.map((c) => c.name)).toEqual(['linux-image-amd64']);
      expect(s.plan?.rebooted).toBe(true);
    }
    for (const name of ['kern-a', 'kern-b', 'kern-c']) {
      const fake = servers.get(name)!.sshd.fakePackageManager!;
      expect(fake.reboots()).toBe(1);
      expect(await fake.bootId()).not.toBe(bootIds.get(name));
    }
    const records = await t.database.db.select().from(updates).where(inArray(updates.id, jobIds));
    expect(records.map((r) => [r.status, (r.result as { rebooted: boolean }).rebooted])).toEqual([
      ['completed', true],
      ['completed', true],
      ['completed', true],
    ]);
  });

  it('a canary that does not come back rebooted fails its wave: the run stops and no later server is touched', async () => {
    const { run } = await runToEnd({
      action: 'update',
      selector: { tagsAny: ['broken-canary'] },
      options: { dry_run: false, reboot: 'if-required' },
      concurrency: 2,
      rollout: { waves: [1, '100%'] },
    });
    expect(run.state).toBe('failed');
    expect(run.reason).toBe('wave 1: 1 of 1 servers failed (100 %), above maxFailPercentage 0');
    const [canary] = run.waves[0]!.servers;
    expect(canary!.serverName).toBe('broken-a');
    expect(canary!.error).toMatch(/^reboot of broken-a failed: .*same boot id/);
    expect(run.counts).toMatchObject({ failed: 1, skipped: 1 });
    // The canary was upgraded (then its reboot failed); the other server of the run was never touched.
    expect(await servers.get('broken-a')!.sshd.fakePackageManager!.upgraded()).toHaveLength(1);
    expect(await servers.get('broken-b')!.sshd.fakePackageManager!.upgraded()).toEqual([]);
    expect(servers.get('broken-b')!.sshd.fakePackageManager!.reboots()).toBe(0);
  });
});
