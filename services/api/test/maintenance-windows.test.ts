import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseEnv } from '@mm/config';
import { updates, type Server } from '@mm/db';
import { inArray } from 'drizzle-orm';
import { createQueue } from '@mm/jobs';
import { startTestSshdFleet, insertTestServer, type TestSshdFleet } from '@mm/testing';
import { runWorker, WorkerEnvSchema, type RunningWorker } from '@mm/worker-runtime';
import { createUpdateHandlers } from '@mm/update-worker/test-kit';
import { FleetWorkerEnv, startFleetWorker, type RunningFleetWorker } from '@mm/fleet-worker/test-kit';
import { createTestApp, type TestApp } from './helpers/test-app.js';
import { waitUntil, workerEnvOf } from './helpers/throwaway-worker.js';

// Maintenance windows against real processes: the API, a real update worker (dry runs only: nothing is installed on
// this host) and the fleet worker, on 4 loopback SSH endpoints. upd-2 and upd-3 carry the tag the window selects.

let t: TestApp;
let fleet: TestSshdFleet;
let updateWorker: RunningWorker;
let orchestrator: RunningFleetWorker;
let servers: Server[];

/** Shut until next New Year (UTC unless a zone is given), and open right now: the two windows these tests switch between. */
const CLOSED = { cron: '0 0 1 1 *', durationMin: 1, selector: { tagsAny: ['night'] } };
const OPEN = { cron: '* * * * *', durationMin: 10, selector: { tagsAny: ['night'] } };
const nextNewYearUtc = () => new Date(Date.UTC(new Date().getUTCFullYear() + 1, 0, 1)).toISOString();

const byName = (name: string) => servers.find((s) => s.name === name)!;
const putWindow = (role: 'admin' | 'operator', name: string, body: Record<string, unknown>) =>
  t.call(role, { method: 'PUT', url: `/api/maintenance-windows/${name}`, payload: body });

async function updateJob(id: string) {
  const queue = createQueue('update', { connection: t.redis.url, prefix: t.redis.prefix });
  try {
    const job = await queue.getJob(id);
    return job ? { state: await job.getState(), logs: (await queue.getJobLogs(id, 0, -1)).logs, attemptsMade: job.attemptsMade } : null;
  } finally {
    await queue.close();
  }
}

async function updateQueueCount(): Promise<number> {
  const queue = createQueue('update', { connection: t.redis.url, prefix: t.redis.prefix });
  try {
    return await queue.getJobCountByTypes('waiting', 'delayed', 'active', 'completed', 'failed', 'prioritized');
  } finally {
    await queue.close();
  }
}

const recordsOf = (ids: string[]) => t.database.db.select().from(updates).where(inArray(updates.id, ids));

beforeAll(async () => {
  t = await createTestApp();
  fleet = await startTestSshdFleet(4);
  servers = [];
  for (const [i, member] of fleet.members.entries()) {
    servers.push(await insertTestServer(t.database.db, member, { credentialsKey: t.env.CREDENTIALS_KEY, name: `upd-${i}` }));
  }
  await t.database.sql`update servers set tags = '{night}' where name in ('upd-2', 'upd-3')`;
  // A waiting update looks again every 500 ms here (MAINTENANCE_RECHECK_MS), so a window opened by a test is seen at once.
  updateWorker = await runWorker({ queue: 'update', env: parseEnv(WorkerEnvSchema, workerEnvOf(t)), concurrency: 4, handlers: createUpdateHandlers({ recheckMs: 500 }) });
  orchestrator = await startFleetWorker(
    parseEnv(FleetWorkerEnv, workerEnvOf(t, { FLEET_STEP_INTERVAL_MS: '100', FLEET_SWEEP_INTERVAL_MS: '2000', FLEET_WINDOW_RECHECK_MS: '300' })),
  );
}, 120_000);

afterAll(async () => {
  await orchestrator?.close();
  await updateWorker?.close();
  await fleet?.stop();
  await t?.close();
});

describe('managing windows', () => {
  const bad: [string, string, Record<string, unknown>][] = [
    ['a bad cron', 'w', { ...CLOSED, cron: 'every night' }],
    ['a cron field out of range', 'w', { ...CLOSED, cron: '61 * * * *' }],
    ['a cron that never fires', 'w', { ...CLOSED, cron: '0 0 31 2 *' }],
    ['an unknown time zone', 'w', { ...CLOSED, timezone: 'Mars/Olympus_Mons' }],
    ['a duration of 0', 'w', { ...CLOSED, durationMin: 0 }],
    ['a duration over a week', 'w', { ...CLOSED, durationMin: 10_081 }],
    ['an unknown selector field', 'w', { ...CLOSED, selector: { hosts: ['x'] } }],
    ['no selector', 'w', { cron: CLOSED.cron, durationMin: 5 }],
    ['an unknown field', 'w', { ...CLOSED, reboot: true }],
    ['a bad name', 'Not%20A%20Name', CLOSED],
  ];
  it.each(bad)('%s: 400 in the envelope, nothing stored', async (_what, name, body) => {
    const res = await putWindow('admin', name, body);
    expect(res.statusCode, res.body).toBe(400);
    expect(res.json()).toMatchObject({ success: false, error: { code: 'VALIDATION_ERROR' } });
    expect(res.body).not.toMatch(/at .*\.ts:\d+/);
    expect(await t.database.sql`select 1 from maintenance_windows`).toHaveLength(0);
  });

  it('only an admin may create, change or delete one; everyone may read', async () => {
    expect((await putWindow('operator', 'night', CLOSED)).statusCode).toBe(403);
    expect((await t.call('operator', { method: 'DELETE', url: '/api/maintenance-windows/night' })).statusCode).toBe(403);
    expect(await t.database.sql`select 1 from maintenance_windows`).toHaveLength(0);
    const list = await t.call('viewer', { method: 'GET', url: '/api/maintenance-windows' });
    expect(list.statusCode).toBe(200);
    expect(list.json().data).toEqual([]);
  });

  it('PUT creates (201) then replaces (200); GET says whether it is open, when it opens next and how many servers it selects', async () => {
    const created = await putWindow('admin', 'night', CLOSED);
    expect(created.statusCode, created.body).toBe(201);
    expect(created.json().data).toMatchObject({ name: 'night', cron: CLOSED.cron, timezone: 'UTC', durationMin: 1, open: false, closesAt: null, nextOpenAt: nextNewYearUtc(), servers: 2, createdBy: t.userIds.admin });

    // New Year in Berlin is an hour earlier in UTC.
    const replaced = await putWindow('admin', 'night', { ...CLOSED, timezone: 'Europe/Berlin' });
    expect(replaced.statusCode, replaced.body).toBe(200);
    const berlinNewYear = new Date(Date.parse(nextNewYearUtc()) - 3_600_000).toISOString();
    expect(replaced.json().data).toMatchObject({ timezone: 'Europe/Berlin', nextOpenAt: berlinNewYear });
    expect(await t.database.sql`select name from maintenance_windows`).toEqual([{ name: 'night' }]);

    const open = await putWindow('admin', 'always', { cron: '0 * * * *', durationMin: 60, selector: { names: ['upd-1'] } });
    expect(open.json().data).toMatchObject({ open: true, servers: 1 });
    expect(open.json().data.nextOpenAt).not.toBeNull();
    const list = await t.call('viewer', { method: 'GET', url: '/api/maintenance-windows' });
    expect(list.json().data.map((w: { name: string; open: boolean }) => [w.name, w.open])).toEqual([
      ['always', true],
      ['night', false],
    ]);

    const ofServer = async (name: string) => (await t.call('viewer', { method: 'GET', url: `/api/servers/${byName(name).id}/maintenance-windows` })).json().data;
    expect(await ofServer('upd-2')).toEqual({ serverId: byName('upd-2').id, restricted: true, updatableNow: false, windows: ['night'], closesAt: null, nextOpenAt: berlinNewYear });
    expect(await ofServer('upd-1')).toMatchObject({ restricted: true, updatableNow: true, windows: ['always'], nextOpenAt: null });
    expect(await ofServer('upd-0')).toEqual({ serverId: byName('upd-0').id, restricted: false, updatableNow: true, windows: [], closesAt: null, nextOpenAt: null });

    const deleted = await t.call('admin', { method: 'DELETE', url: '/api/maintenance-windows/always' });
    expect(deleted.json().data).toEqual({ name: 'always', deleted: true });
    expect((await t.call('admin', { method: 'DELETE', url: '/api/maintenance-windows/always' })).statusCode).toBe(404);
    expect((await t.call('viewer', { method: 'GET', url: '/api/maintenance-windows/always' })).statusCode).toBe(404);
    await putWindow('admin', 'night', CLOSED);
  });

  it("an operator may not move a server into or out of a window by its name, tags or labels; an admin may", async () => {
    const patch = (role: 'admin' | 'operator', name: string, body: Record<string, unknown>) =>
      t.call(role, { method: 'PATCH', url: `/api/servers/${byName(name).id}`, payload: body });
    const out = await patch('operator', 'upd-2', { tags: [] });
    expect(out.statusCode, out.body).toBe(403);
    expect(out.json().error.message).toMatch(/out of 'night'/);
    const into = await patch('operator', 'upd-0', { tags: ['night'] });
    expect(into.statusCode, into.body).toBe(403);
    expect(into.json().error.message).toMatch(/into 'night'/);
    expect((await t.database.sql`select name, tags from servers order by name`).map((r) => [r.name, r.tags])).toEqual([
      ['upd-0', []],
      ['upd-1', []],
      ['upd-2', ['night']],
      ['upd-3', ['night']],
    ]);
    // A window by name or labels: the rename and the label change are refused too.
    await putWindow('admin', 'by-name', { ...CLOSED, selector: { names: ['upd-1'], exclude: { labels: { freeze: 'no' } } } });
    expect((await patch('operator', 'upd-1', { name: 'renamed-1' })).statusCode).toBe(403);
    const label = await t.call('operator', { method: 'PUT', url: `/api/servers/${byName('upd-1').id}/labels`, payload: { labels: { freeze: 'no' } } });
    expect(label.statusCode, label.body).toBe(403);
    expect((await t.database.sql`select labels from servers where name = 'upd-1'`)[0]?.labels).toEqual({});
    // Changes that keep the windows as they are stay an operator's.
    expect((await t.call('operator', { method: 'PUT', url: `/api/servers/${byName('upd-1').id}/labels`, payload: { labels: { team: 'a' } } })).statusCode).toBe(200);
    expect((await patch('operator', 'upd-2', { tags: ['night', 'web'] })).statusCode).toBe(200);
    expect((await patch('admin', 'upd-2', { tags: ['night'] })).statusCode).toBe(200);
    const moved = await patch('admin', 'upd-1', { name: 'renamed-1' });
    expect(moved.statusCode, moved.body).toBe(200);
    // (byName finds the server by the name it was created with: its id.)
    expect((await patch('admin', 'upd-1', { name: 'upd-1' })).statusCode).toBe(200);
    await t.call('admin', { method: 'DELETE', url: '/api/maintenance-windows/by-name' });
  });
});

describe('updates wait for their windows', () => {
  it('a single update outside its window waits, delayed, with no record; ?now=true is an admin\'s; it runs once the window opens', async () => {
    const target = byName('upd-2');
    const res = await t.call('operator', { method: 'POST', url: `/api/servers/${target.id}/update`, payload: { dry_run: true } });
    expect(res.statusCode, res.body).toBe(202);
    const { updateId } = res.json().data as { updateId: string };
    await waitUntil(async () => (await updateJob(updateId))?.logs.some((l) => l.includes("maintenance window 'night'")) === true, 'the update to wait');
    const waiting = await updateJob(updateId);
    expect(waiting).toMatchObject({ state: 'delayed', attemptsMade: 0 });
    expect(waiting!.logs).toContain(`waiting for maintenance window 'night', which opens at ${nextNewYearUtc()}`);
    expect(await recordsOf([updateId])).toEqual([]);
    const viaApi = await t.call('viewer', { method: 'GET', url: `/api/jobs/${updateId}` });
    expect(viaApi.json().data).toMatchObject({ state: 'delayed' });

    // Past the window, now: an operator may not (nothing enqueued); an admin may.
    const before = await updateQueueCount();
    const refused = await t.call('operator', { method: 'POST', url: `/api/servers/${target.id}/update?now=true`, payload: { dry_run: true } });
    expect(refused.statusCode, refused.body).toBe(403);
    expect(await updateQueueCount()).toBe(before);
    const now = await t.call('admin', { method: 'POST', url: `/api/servers/${target.id}/update?now=true`, payload: { dry_run: true } });
    expect(now.statusCode, now.body).toBe(202);
    const nowId = (now.json().data as { updateId: string }).updateId;
    await waitUntil(async () => (await recordsOf([nowId]))[0]?.status === 'completed', 'the admin update to complete', 60_000);
    expect((await updateJob(updateId))?.state).toBe('delayed');
    expect(await recordsOf([updateId])).toEqual([]);

    // The window opens: the waiting update runs, once.
    expect((await putWindow('admin', 'night', OPEN)).statusCode).toBe(200);
    await waitUntil(async () => (await recordsOf([updateId]))[0]?.status === 'completed', 'the waiting update to complete', 60_000);
    const [record] = await recordsOf([updateId]);
    expect(record).toMatchObject({ serverId: target.id, status: 'completed', dryRun: true, attempts: 1 });
    expect((await putWindow('admin', 'night', CLOSED)).statusCode).toBe(200);
  }, 120_000);

  it("retrying an update an admin started past its window is an admin's too", async () => {
    // A wrong pinned host key: the update fails at once, for good, having touched nothing.
    const bad = await insertTestServer(t.database.db, fleet.members[0]!, {
      credentialsKey: t.env.CREDENTIALS_KEY,
      name: 'night-bad-key',
      hostKeyFingerprint: 'SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
    });
    await t.database.sql`update servers set tags = '{night}' where id = ${bad.id}`;
    const res = await t.call('admin', { method: 'POST', url: `/api/servers/${bad.id}/update?now=true`, payload: { dry_run: true } });
    const { updateId } = res.json().data as { updateId: string };
    await waitUntil(async () => (await updateJob(updateId))?.state === 'failed', 'the update to fail', 60_000);
    const retry = await t.call('operator', { method: 'POST', url: `/api/jobs/${updateId}/retry` });
    expect(retry.statusCode, retry.body).toBe(403);
    expect(retry.json().error.message).toMatch(/\?now=true/);
    expect((await updateJob(updateId))?.state).toBe('failed');
    const byAdmin = await t.call('admin', { method: 'POST', url: `/api/jobs/${updateId}/retry` });
    expect(byAdmin.statusCode, byAdmin.body).toBeLessThan(300);
    await waitUntil(async () => (await updateJob(updateId))?.state === 'failed', 'the retried update to fail again', 60_000);
    await t.database.sql`delete from servers where id = ${bad.id}`;
  }, 90_000);

  it('a fleet update starts each server inside its window: the others wait as pending, saying for what, and run when it opens', async () => {
    const refused = await t.call('operator', { method: 'POST', url: '/api/fleet-runs?now=true', payload: { action: 'update', options: { dry_run: true }, selector: { names: ['upd-*'] } } });
    expect(refused.statusCode, refused.body).toBe(403);
    expect(await t.database.sql`select 1 from fleet_runs`).toHaveLength(0);

    const started = await t.call('operator', { method: 'POST', url: '/api/fleet-runs', payload: { action: 'update', options: { dry_run: true }, selector: { names: ['upd-1', 'upd-3'] }, concurrency: 4 } });
    expect(started.statusCode, started.body).toBe(202);
    const { runId, servers: planned } = started.json().data as { runId: string; servers: { id: string; name: string; jobId: string }[] };
    const runOf = async () => (await t.call('viewer', { method: 'GET', url: `/api/fleet-runs/${runId}` })).json().data;
    await waitUntil(async () => (await runOf()).counts.completed === 1, 'the server without a window to finish', 60_000);
    // A few steps later the one in the shut window still has not started.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const held = await runOf();
    expect(held).toMatchObject({ state: 'running', ignoreMaintenanceWindows: false, counts: { completed: 1, pending: 1, queued: 0 } });
    const lines = held.waves[0].servers.map((s: { serverName: string; state: string; waitingFor: string | null }) => [s.serverName, s.state, s.waitingFor]);
    const waitingFor = `waiting for maintenance window 'night', which opens at ${nextNewYearUtc()}`;
    expect(lines).toEqual([
      ['upd-1', 'completed', null],
      ['upd-3', 'pending', waitingFor],
    ]);
    const gated = planned.filter((p) => p.name === 'upd-3').map((p) => p.jobId);
    expect(await recordsOf(gated)).toEqual([]);
    expect(await Promise.all(gated.map(updateJob))).toEqual([null]);

    expect((await putWindow('admin', 'night', OPEN)).statusCode).toBe(200);
    await waitUntil(async () => (await runOf()).state === 'completed', 'the run to complete', 60_000);
    const done = await runOf();
    expect(done.counts).toMatchObject({ completed: 2, pending: 0, failed: 0 });
    const records = await recordsOf(planned.map((p) => p.jobId));
    expect(records.map((r) => [r.status, r.attempts, r.dryRun])).toEqual(Array.from({ length: 2 }, () => ['completed', 1, true]));
    // The dry run's plan per server, as its record keeps it: what would change, what holds kept.
    for (const line of done.waves[0].servers as { jobId: string; plan: unknown }[]) {
      const result = records.find((r) => r.id === line.jobId)!.result as { changed: unknown[] };
      expect(Array.isArray(result.changed)).toBe(true);
      expect(line.plan).toEqual({ dryRun: true, changed: result.changed, held: [], rebooted: false });
    }
    // The gated one started only after the window opened, i.e. after the other finished.
    const firstGatedStart = Math.min(...records.filter((r) => gated.includes(r.id)).map((r) => r.startedAt!.getTime()));
    const lastOtherEnd = Math.max(...records.filter((r) => !gated.includes(r.id)).map((r) => r.finishedAt!.getTime()));
    expect(firstGatedStart).toBeGreaterThan(lastOtherEnd);
  }, 120_000);
});

describe('package holds', () => {
  it('PUT replaces the list (sorted), GET reads it; bad names are a 400 with nothing changed; a viewer may only read', async () => {
    const url = `/api/servers/${byName('upd-0').id}/package-holds`;
    const put = await t.call('operator', { method: 'PUT', url, payload: { packages: ['openssl', 'linux-image-amd64', 'libc6:amd64'] } });
    expect(put.statusCode, put.body).toBe(200);
    expect(put.json().data).toEqual({ serverId: byName('upd-0').id, packages: ['libc6:amd64', 'linux-image-amd64', 'openssl'] });
    for (const packages of [['bad name'], ['-rf'], ['ok', 'ok'], ['a;reboot'], Array.from({ length: 501 }, (_, i) => `p${i}`)]) {
      const res = await t.call('operator', { method: 'PUT', url, payload: { packages } });
      expect(res.statusCode, JSON.stringify(packages).slice(0, 80)).toBe(400);
      expect(res.json().error.code).toBe('VALIDATION_ERROR');
    }
    expect((await t.call('viewer', { method: 'PUT', url, payload: { packages: [] } })).statusCode).toBe(403);
    expect((await t.call('viewer', { method: 'GET', url })).json().data.packages).toEqual(['libc6:amd64', 'linux-image-amd64', 'openssl']);
    expect((await t.call('operator', { method: 'PUT', url: '/api/servers/00000000-0000-4000-8000-000000000000/package-holds', payload: { packages: [] } })).statusCode).toBe(404);
    expect((await t.call('operator', { method: 'PUT', url, payload: { packages: [] } })).json().data.packages).toEqual([]);
  });
});

describe('fleet worker health port', () => {
  it('GET /health answers 200 naming Redis and PostgreSQL up, like the other workers', async () => {
    const res = await fetch(`http://127.0.0.1:${orchestrator.healthPort}/health`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok', redis: 'up', database: 'up' });
    expect((await fetch(`http://127.0.0.1:${orchestrator.healthPort}/other`)).status).toBe(404);
  });
});
