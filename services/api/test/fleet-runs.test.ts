import { spawn, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { createServer as createHttpServer, type Server as Server_ } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseEnv } from '@mm/config';
import { scans, type Server } from '@mm/db';
import { and, gte, inArray } from 'drizzle-orm';
import { startTestSshdFleet, insertTestServer, type TestSshdFleet } from '@mm/testing';
import { runWorker, WorkerEnvSchema, type RunningWorker } from '@mm/worker-runtime';
import { scanHandlers } from '@mm/scan-worker/test-kit';
import { createFleetQueue, createQueue } from '@mm/jobs';
import { FLEET_WORKER_MAIN, FleetWorkerEnv, startFleetWorker, type RunningFleetWorker } from '@mm/fleet-worker/test-kit';
import { createTestApp, type TestApp } from './helpers/test-app.js';
import { waitUntil, workerEnvOf } from './helpers/throwaway-worker.js';
import { openSse } from './helpers/sse-client.js';

// Fleet runs end to end: the API, the fleet worker (its orchestrator), a real scan worker, and 56 SSH endpoints on
// loopback addresses (4 sshd processes), with real Redis and PostgreSQL.

const FLEET_SIZE = 56;

let t: TestApp;
let fleet: TestSshdFleet;
let scanWorker: RunningWorker;
let servers: Server[];

const fleetEnv = (extra: Record<string, string> = {}) =>
  workerEnvOf(t, { GATE_HTTP_ALLOWED_HOSTS: '127.0.0.1', FLEET_STEP_INTERVAL_MS: '100', FLEET_SWEEP_INTERVAL_MS: '2000', WORKER_LOCK_DURATION_MS: '2000', WORKER_STALLED_INTERVAL_MS: '1000', ...extra });

interface RunDetail {
  state: string;
  reason: string | null;
  waveCount: number;
  counts: { pending: number; queued: number; completed: number; failed: number; cancelled: number; skipped: number };
  waves: { wave: number; servers: { serverId: string; serverName: string; jobId: string; state: string; attempts: number; gate: { state: string } | null }[] }[];
}

async function startRun(body: Record<string, unknown>, role: 'operator' | 'admin' = 'operator'): Promise<{ runId: string; servers: { id: string; jobId: string; wave: number }[] }> {
  const res = await t.call(role, { method: 'POST', url: '/api/fleet-runs', payload: body });
  expect(res.statusCode, res.body).toBe(202);
  return res.json().data;
}

async function runOf(runId: string): Promise<RunDetail> {
  const res = await t.call('viewer', { method: 'GET', url: `/api/fleet-runs/${runId}` });
  expect(res.statusCode, res.body).toBe(200);
  return res.json().data as RunDetail;
}

async function waitForEnd(runId: string, timeoutMs = 60_000): Promise<RunDetail> {
  await waitUntil(async () => ['completed', 'failed', 'aborted'].includes((await runOf(runId)).state) && (await runOf(runId)).counts.queued === 0, `fleet run ${runId} to end`, timeoutMs);
  return runOf(runId);
}

/** The most records whose [started_at, finished_at] intervals overlap at one instant. */
function maxOverlap(intervals: { start: number; end: number }[]): number {
  const points = intervals.flatMap((i) => [
    { at: i.start, d: 1 },
    { at: i.end, d: -1 },
  ]);
  // An end and a start at the same instant do not overlap: ends first.
  points.sort((a, b) => a.at - b.at || a.d - b.d);
  let now = 0;
  let max = 0;
  for (const p of points) max = Math.max(max, (now += p.d));
  return max;
}

async function scanRecordsOf(jobIds: string[]) {
  return t.database.db.select().from(scans).where(inArray(scans.id, jobIds));
}

/** Every scan record of these servers since `since`, whatever its id: a server run twice would show here. */
async function scansOfServersSince(serverIds: string[], since: Date) {
  return t.database.db.select().from(scans).where(and(inArray(scans.serverId, serverIds), gte(scans.createdAt, since)));
}

async function scanQueueJobs(): Promise<number> {
  const queue = createQueue('scan', t.queueConfig);
  try {
    return await queue.getJobCountByTypes('waiting', 'delayed', 'active', 'completed', 'failed', 'prioritized');
  } finally {
    await queue.close();
  }
}

beforeAll(async () => {
  t = await createTestApp({ WEBHOOK_ALLOWED_HOSTS: '127.0.0.1', WEBHOOK_POLL_INTERVAL_MS: '100', GATE_HTTP_ALLOWED_HOSTS: '127.0.0.1' });
  fleet = await startTestSshdFleet(FLEET_SIZE);
  servers = [];
  for (const [i, member] of fleet.members.entries()) {
    servers.push(await insertTestServer(t.database.db, member, { credentialsKey: t.env.CREDENTIALS_KEY, name: `node-${String(i).padStart(2, '0')}` }));
  }
  // The scan worker could take 20 at once: only the run's concurrency may hold it to 5.
  scanWorker = await runWorker({ queue: 'scan', env: parseEnv(WorkerEnvSchema, workerEnvOf(t)), concurrency: 20, handlers: scanHandlers });
}, 120_000);

afterAll(async () => {
  await scanWorker?.close();
  await fleet?.stop();
  await t?.close();
});

describe('bad input: 400 in the envelope, nothing stored or enqueued', () => {
  const bad: [string, Record<string, unknown>][] = [
    ['a selector that matches nothing', { action: 'scan', selector: { names: ['no-such-*'] } }],
    ['waves that do not end at 100 %', { action: 'scan', selector: {}, rollout: { waves: [1, '50%'] } }],
    ['a last wave given as a count', { action: 'scan', selector: {}, rollout: { waves: [1, 5] } }],
    ['maxFailPercentage above 100', { action: 'scan', selector: {}, rollout: { waves: ['100%'], maxFailPercentage: 101 } }],
    ['maxFailPercentage below 0', { action: 'scan', selector: {}, rollout: { waves: ['100%'], maxFailPercentage: -1 } }],
    ['options of another action', { action: 'scan', selector: {}, options: { dry_run: true } }],
    ['an unknown reboot policy', { action: 'update', selector: {}, options: { dry_run: false, reboot: 'sometimes' } }],
    ['an unknown selector field', { action: 'scan', selector: { hosts: ['x'] } }],
    ['an empty gate', { action: 'scan', selector: {}, rollout: { waves: ['100%'], gate: {} } }],
    ['a gate URL to a private address', { action: 'scan', selector: {}, rollout: { waves: ['100%'], gate: { httpUrl: 'http://10.20.30.40/health' } } }],
    ['a gate URL that is not http(s)', { action: 'scan', selector: {}, rollout: { waves: ['100%'], gate: { httpUrl: 'file:///etc/passwd' } } }],
    ['a gate URL with credentials', { action: 'scan', selector: {}, rollout: { waves: ['100%'], gate: { httpUrl: 'http://user:pw@127.0.0.1/' } } }],
  ];
  it.each(bad)('%s', async (_what, payload) => {
    const res = await t.call('operator', { method: 'POST', url: '/api/fleet-runs', payload });
    expect(res.statusCode, res.body).toBe(400);
    expect(res.json()).toMatchObject({ success: false, error: { code: 'VALIDATION_ERROR' } });
    const list = await t.call('viewer', { method: 'GET', url: '/api/fleet-runs' });
    expect(list.json().meta.total).toBe(0);
    expect(await t.database.sql`select 1 from fleet_run_servers`).toHaveLength(0);
    const fleetQueue = createFleetQueue(t.queueConfig);
    try {
      expect(await fleetQueue.getJobCountByTypes('waiting', 'delayed', 'active', 'completed', 'failed', 'prioritized')).toBe(0);
    } finally {
      await fleetQueue.close();
    }
    expect(await scanQueueJobs()).toBe(0);
  });

  it('a viewer cannot start a run', async () => {
    const res = await t.call('viewer', { method: 'POST', url: '/api/fleet-runs', payload: { action: 'scan', selector: {} } });
    expect(res.statusCode).toBe(403);
  });

  it('a gate command is admin-only: an operator gets a 403 and nothing is stored', async () => {
    const res = await t.call('operator', { method: 'POST', url: '/api/fleet-runs', payload: { action: 'scan', selector: {}, rollout: { waves: ['100%'], gate: { command: 'true' } } } });
    expect(res.statusCode, res.body).toBe(403);
    expect(res.json()).toMatchObject({ success: false, error: { code: 'FORBIDDEN' } });
    expect(await t.database.sql`select 1 from fleet_runs`).toHaveLength(0);
    expect(await scanQueueJobs()).toBe(0);
  });
});

describe('selecting servers', () => {
  it('matches ids, name globs, tags, labels and os, minus exclude, in one page by name', async () => {
    const [a, b, c, d] = servers as [Server, Server, Server, Server];
    await t.database.sql`update servers set tags = '{web,eu}', os = 'debian', os_version = '12' where id = ${a.id}`;
    await t.database.sql`update servers set tags = '{web}', os = 'Ubuntu' where id = ${b.id}`;
    await t.database.sql`update servers set tags = '{db,eu}' where id = ${c.id}`;
    const label = await t.call('operator', { method: 'PUT', url: `/api/servers/${a.id}/labels`, payload: { labels: { env: 'prod', region: 'eu' } } });
    expect(label.statusCode, label.body).toBe(200);
    expect(label.json().data.labels).toEqual({ env: 'prod', region: 'eu' });
    await t.call('operator', { method: 'PUT', url: `/api/servers/${d.id}/labels`, payload: { labels: { env: 'prod' } } });

    const names = async (selector: Record<string, unknown>) => {
      const res = await t.call('viewer', { method: 'POST', url: '/api/servers/select', payload: { selector, limit: 500 } });
      expect(res.statusCode, res.body).toBe(200);
      return (res.json().data as { name: string }[]).map((s) => s.name);
    };
    expect(await names({ tagsAll: ['web', 'eu'] })).toEqual([a.name]);
    expect(await names({ tagsAny: ['web', 'db'] })).toEqual([a.name, b.name, c.name]);
    expect(await names({ labels: { env: 'prod' } })).toEqual([a.name, d.name]);
    expect(await names({ labels: { env: 'prod', region: 'eu' } })).toEqual([a.name]);
    expect(await names({ os: ['DEBIAN', 'ubuntu'] })).toEqual([a.name, b.name]);
    expect(await names({ os: 'ubuntu' })).toEqual([b.name]);
    expect(await names({ ids: [c.id, d.id] })).toEqual([c.name, d.name]);
    expect(await names({ names: ['node-0?'], exclude: { tagsAny: ['web'] } })).toHaveLength(8);
    expect(await names({ names: ['node-1*', 'node-00'] })).toHaveLength(11);
    // LIKE's own wildcards are plain characters in a glob.
    expect(await names({ names: ['node_00', 'node-0%'] })).toEqual([]);

    // GET /api/servers takes the same filters as query parameters (lists comma-separated, labels key=value, exclude.<field>).
    const listed = async (query: string) => {
      const res = await t.call('viewer', { method: 'GET', url: `/api/servers?limit=100&${query}` });
      expect(res.statusCode, res.body).toBe(200);
      return (res.json().data as { name: string }[]).map((s) => s.name).sort();
    };
    expect(await listed('tagsAny=web,db&exclude.os=debian')).toEqual([b.name, c.name]);
    expect(await listed(`labels=${encodeURIComponent('env=prod')}`)).toEqual([a.name, d.name]);
    expect(await listed(`names=${encodeURIComponent('node-0?')}&tagsAll=eu`)).toEqual([a.name, c.name]);
    expect(await listed(`ids=${b.id},${c.id}&exclude.tagsAny=db`)).toEqual([b.name]);
    const one = await t.call('viewer', { method: 'GET', url: `/api/servers/${a.id}` });
    expect(one.json().data).toMatchObject({ labels: { env: 'prod', region: 'eu' }, os: 'debian', osVersion: '12' });
    for (const bad of ['labels=no-equals-sign', 'ids=not-a-uuid', 'exclude.names=', 'os=deb%20ian']) {
      expect((await t.call('viewer', { method: 'GET', url: `/api/servers?${bad}` })).statusCode, bad).toBe(400);
    }

    const paged = await t.call('viewer', { method: 'POST', url: '/api/servers/select', payload: { selector: {}, limit: 10, offset: 50 } });
    expect(paged.json().data).toHaveLength(FLEET_SIZE - 50);
    expect(paged.json().meta).toEqual({ limit: 10, offset: 50, total: FLEET_SIZE });
  });

  it('bounded labels: too many, a bad key or a control character is a 400', async () => {
    const id = servers[0]!.id;
    const tooMany = Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`k${i}`, 'v']));
    for (const labels of [tooMany, { 'bad key': 'v' }, { env: 'a\u0001b' }, { env: 'x'.repeat(129) }]) {
      const res = await t.call('operator', { method: 'PUT', url: `/api/servers/${id}/labels`, payload: { labels } });
      expect(res.statusCode, JSON.stringify(labels)).toBe(400);
    }
  });
});

describe('fleet runs', () => {
  let orchestrator: RunningFleetWorker;

  beforeAll(async () => {
    orchestrator = await startFleetWorker(parseEnv(FleetWorkerEnv, fleetEnv()));
  });
  afterAll(async () => {
    await orchestrator?.close();
  });

  it('a fleet scan of 56 servers with concurrency 5 runs every server once and never more than 5 at a time', async () => {
    const since = new Date();
    const { runId, servers: planned } = await startRun({ action: 'scan', selector: { names: ['node-*'] }, concurrency: 5 });
    expect(planned).toHaveLength(FLEET_SIZE);
    const run = await waitForEnd(runId, 90_000);
    expect(run.state).toBe('completed');
    expect(run.counts).toMatchObject({ completed: FLEET_SIZE, failed: 0, pending: 0, queued: 0 });
    const records = await scansOfServersSince(planned.map((p) => p.id), since);
    expect(records.map((r) => r.id).sort()).toEqual(planned.map((p) => p.jobId).sort());
    expect(records).toHaveLength(FLEET_SIZE);
    expect(new Set(records.map((r) => r.serverId)).size).toBe(FLEET_SIZE);
    for (const r of records) expect([r.status, r.attempts]).toEqual(['completed', 1]);
    const overlap = maxOverlap(records.map((r) => ({ start: r.startedAt!.getTime(), end: r.finishedAt!.getTime() })));
    expect(overlap).toBeLessThanOrEqual(5);
    // It did run in parallel (a limit of 1 would also pass the bound above).
    expect(overlap).toBeGreaterThan(1);
  }, 120_000);

  it('a rollout whose canary fails stops the run and leaves every other server untouched', async () => {
    // The canary (first by name) has a wrong pinned host key: its scan fails at once, for good.
    const bad = await insertTestServer(t.database.db, fleet.members[0]!, {
      credentialsKey: t.env.CREDENTIALS_KEY,
      name: 'canary-a',
      hostKeyFingerprint: 'SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
    });
    await t.database.sql`update servers set tags = '{canary-test}' where id = ${bad.id} or name in ('node-01', 'node-02', 'node-03', 'node-04', 'node-05')`;
    const { runId, servers: planned } = await startRun({
      action: 'scan',
      selector: { tagsAll: ['canary-test'] },
      concurrency: 5,
      rollout: { waves: [1, '50%', '100%'] },
    });
    expect(planned.map((p) => p.wave)).toEqual([1, 2, 2, 2, 3, 3]);
    expect(planned[0]!.id).toBe(bad.id);
    const run = await waitForEnd(runId);
    expect(run.state).toBe('failed');
    expect(run.reason).toMatch(/^wave 1: 1 of 1 servers failed \(100 %\), above maxFailPercentage 0$/);
    expect(run.counts).toMatchObject({ failed: 1, skipped: 5, completed: 0 });
    const records = await scanRecordsOf(planned.map((p) => p.jobId));
    expect(records.map((r) => [r.serverId, r.status])).toEqual([[bad.id, 'failed']]);
    await t.database.sql`delete from servers where id = ${bad.id}`;
  }, 60_000);

  it('a rollout that passes its gates reaches every server, wave after wave', async () => {
    await t.database.sql`update servers set tags = '{gate-test}' where name in ('node-10', 'node-11', 'node-12', 'node-13', 'node-14')`;
    const { runId, servers: planned } = await startRun({
      action: 'scan',
      options: { scan_type: 'full' },
      selector: { tagsAny: ['gate-test'] },
      concurrency: 3,
      rollout: { waves: [1, '40%', '100%'], maxFailPercentage: 0, gate: { scan: 'quick' } },
    });
    const run = await waitForEnd(runId, 90_000);
    expect(run.state, run.reason ?? '').toBe('completed');
    expect(run.waves.map((w) => w.servers.length)).toEqual([1, 2, 2]);
    for (const s of run.waves.flatMap((w) => w.servers)) expect([s.state, s.gate?.state]).toEqual(['completed', 'passed']);
    const records = await scanRecordsOf(planned.map((p) => p.jobId));
    expect(records.map((r) => r.scanType).sort()).toEqual(['full', 'full', 'full', 'full', 'full']);
    // A wave's jobs start only after the previous wave (and its gate) finished.
    const byWave = (n: number) => records.filter((r) => planned.find((p) => p.jobId === r.id)?.wave === n);
    const lastEnd = (n: number) => Math.max(...byWave(n).map((r) => r.finishedAt!.getTime()));
    const firstStart = (n: number) => Math.min(...byWave(n).map((r) => r.startedAt!.getTime()));
    expect(firstStart(2)).toBeGreaterThan(lastEnd(1));
    expect(firstStart(3)).toBeGreaterThan(lastEnd(2));

    // The full scans recorded each server's OS (the sshd runs on this host), which a selector then matches.
    const osRelease = await readFile('/etc/os-release', 'utf8');
    const id = /^ID="?([^"\n]*)"?$/m.exec(osRelease)?.[1];
    const versionId = /^VERSION_ID="?([^"\n]*)"?$/m.exec(osRelease)?.[1] ?? null;
    expect(id).toBeTruthy();
    const facts = await t.database.sql<{ os: string | null; os_version: string | null }[]>`select os, os_version from servers where 'gate-test' = any(tags)`;
    expect(facts).toEqual(Array.from({ length: 5 }, () => ({ os: id, os_version: versionId })));
    const selected = await t.call('viewer', { method: 'POST', url: '/api/servers/select', payload: { selector: { os: id!.toUpperCase(), tagsAny: ['gate-test'] } } });
    expect(selected.json().meta.total).toBe(5);
  }, 120_000);
});

describe("a server job's end wakes its run", () => {
  let orchestrator: RunningFleetWorker;

  beforeAll(async () => {
    // A timed step only once a minute: a run of 4 servers one at a time could not end within the test's 45 s on
    // timed steps alone (three slots to hand on, a minute each); only the wake on each job's end gets it there.
    orchestrator = await startFleetWorker(parseEnv(FleetWorkerEnv, fleetEnv({ FLEET_STEP_INTERVAL_MS: '60000', FLEET_SWEEP_INTERVAL_MS: '60000' })));
  });
  afterAll(async () => {
    await orchestrator?.close();
  });

  it('hands a freed slot on when the job ends, not at the next timed step, and still one at a time', async () => {
    const since = new Date();
    const { runId, servers: planned } = await startRun({ action: 'scan', selector: { names: ['node-00', 'node-01', 'node-02', 'node-03'] }, concurrency: 1 });
    expect(planned).toHaveLength(4);
    const run = await waitForEnd(runId, 45_000);
    expect(run.state).toBe('completed');
    expect(run.counts).toMatchObject({ completed: 4, failed: 0, pending: 0, queued: 0 });
    const records = await scansOfServersSince(planned.map((p) => p.id), since);
    expect(records.map((r) => r.id).sort()).toEqual(planned.map((p) => p.jobId).sort());
    expect(maxOverlap(records.map((r) => ({ start: r.startedAt!.getTime(), end: r.finishedAt!.getTime() })))).toBe(1);
  }, 90_000);
});

describe('rollout gates: a command on each server, a URL per wave', () => {
  let orchestrator: RunningFleetWorker;
  let health: Server_;
  let healthUrl: string;
  const hits: string[] = [];

  beforeAll(async () => {
    orchestrator = await startFleetWorker(parseEnv(FleetWorkerEnv, fleetEnv()));
    health = createHttpServer((req, res) => {
      hits.push(req.url ?? '');
      res.writeHead(req.url?.startsWith('/ok') ? 204 : 503).end('x'.repeat(10_000));
    });
    await new Promise<void>((resolve) => health.listen(0, '127.0.0.1', resolve));
    healthUrl = `http://127.0.0.1:${(health.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await orchestrator?.close();
    await new Promise((resolve) => health?.close(resolve));
  });

  const tagged = async (tag: string, names: string[]) => {
    await t.database.sql`update servers set tags = ${[tag]}::text[] where name = any(${names}::text[])`;
  };

  it('a passing command and URL let every wave through; the URL is fetched once per wave', async () => {
    await tagged('gates-pass', ['node-20', 'node-21', 'node-22']);
    hits.length = 0;
    const { runId, servers: planned } = await startRun(
      { action: 'scan', selector: { tagsAny: ['gates-pass'] }, concurrency: 3, rollout: { waves: [1, '100%'], gate: { command: 'test -d /tmp && echo healthy', httpUrl: `${healthUrl}/ok?token=s3cret` } } },
      'admin',
    );
    const run = await waitForEnd(runId, 90_000);
    expect(run.state, run.reason ?? '').toBe('completed');
    for (const s of run.waves.flatMap((w) => w.servers)) expect([s.state, s.gate?.state]).toEqual(['completed', 'passed']);
    expect(hits).toEqual(['/ok?token=s3cret', '/ok?token=s3cret']);
    // Each gate scan ran the command on its server: its log says so.
    const gateJobs = run.waves.flatMap((w) => w.servers).map((s) => (s.gate as unknown as { jobId: string }).jobId);
    expect(gateJobs).toHaveLength(planned.length);
    const scanQueue = createQueue('scan', t.queueConfig);
    const logs = await scanQueue.getJobLogs(gateJobs[0]!, 0, -1).finally(() => scanQueue.close());
    expect(logs.logs).toEqual(expect.arrayContaining(['$ test -d /tmp && echo healthy', 'healthy', 'gate command passed (exit 0)']));
  }, 120_000);

  it('a failing command stops the run after the canary: no server of a later wave is touched', async () => {
    await tagged('gates-cmd-fail', ['node-23', 'node-24', 'node-25']);
    const since = new Date();
    const { runId, servers: planned } = await startRun(
      { action: 'scan', selector: { tagsAny: ['gates-cmd-fail'] }, concurrency: 3, rollout: { waves: [1, '100%'], gate: { command: 'echo "service down" >&2; exit 3' } } },
      'admin',
    );
    const run = await waitForEnd(runId, 90_000);
    expect(run.state).toBe('failed');
    expect(run.reason).toBe('wave 1: the gate (scan:quick and its command) failed on 1 of 1 servers');
    const canary = run.waves[0]!.servers[0]!;
    expect(canary.state).toBe('completed');
    expect(canary.gate?.state).toBe('failed');
    expect((canary as unknown as { error: string }).error).toBe('gate: gate command on node-23 exited 3: service down');
    expect(run.counts).toMatchObject({ completed: 1, skipped: 2 });
    // Only the canary's scan and its gate scan exist.
    const records = await scansOfServersSince(planned.map((p) => p.id), since);
    expect(records.map((r) => [r.serverId, r.status]).sort()).toEqual([[planned[0]!.id, 'completed'], [planned[0]!.id, 'failed']].sort());
    // The fleet summary test below counts the failed runs of the other tests only.
    await t.database.sql`delete from fleet_runs where id = ${runId}`;
  }, 120_000);

  it('a failing URL stops the run after the wave it followed', async () => {
    await tagged('gates-url-fail', ['node-26', 'node-27', 'node-28']);
    hits.length = 0;
    const since = new Date();
    const { runId, servers: planned } = await startRun({
      action: 'scan',
      selector: { tagsAny: ['gates-url-fail'] },
      concurrency: 3,
      rollout: { waves: [1, '100%'], gate: { httpUrl: `${healthUrl}/down?token=s3cret` } },
    });
    const run = await waitForEnd(runId, 90_000);
    expect(run.state).toBe('failed');
    // The reason names the URL without its query (it may carry a token).
    expect(run.reason).toBe(`wave 1: the HTTP gate failed: GET ${healthUrl}/down: answered HTTP 503`);
    expect(hits).toEqual(['/down?token=s3cret']);
    expect(run.counts).toMatchObject({ completed: 1, skipped: 2 });
    const records = await scansOfServersSince(planned.map((p) => p.id), since);
    expect(records.map((r) => r.serverId)).toEqual([planned[0]!.id]);
    await t.database.sql`delete from fleet_runs where id = ${runId}`;
  }, 120_000);
});

describe('controlling a run', () => {
  let orchestrator: RunningFleetWorker;
  let baseUrl: string;

  beforeAll(async () => {
    orchestrator = await startFleetWorker(parseEnv(FleetWorkerEnv, fleetEnv()));
    baseUrl = await t.app.listen({ port: 0, host: '127.0.0.1' });
  });
  afterAll(async () => {
    await orchestrator?.close();
  });

  it('pause holds every pending server, resume carries on, and the SSE stream follows the run to its end', async () => {
    const since = new Date();
    const { runId, servers: planned } = await startRun({ action: 'scan', selector: { names: ['node-4?'] }, concurrency: 1 });
    expect(planned).toHaveLength(10);
    const paused = await t.call('operator', { method: 'POST', url: `/api/fleet-runs/${runId}/pause` });
    expect(paused.statusCode, paused.body).toBe(200);
    expect(paused.json().data).toEqual({ id: runId, state: 'paused' });
    await waitUntil(async () => (await runOf(runId)).counts.queued === 0, 'in-flight jobs to finish');
    const held = await runOf(runId);
    expect(held.state).toBe('paused');
    expect(held.counts.pending).toBeGreaterThanOrEqual(8);
    // Ten orchestrator steps later nothing more has started.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect((await runOf(runId)).counts).toEqual(held.counts);
    expect(await scansOfServersSince(planned.map((p) => p.id), since)).toHaveLength(10 - held.counts.pending);
    expect((await t.call('operator', { method: 'POST', url: `/api/fleet-runs/${runId}/pause` })).statusCode).toBe(409);
    expect((await t.call('viewer', { method: 'POST', url: `/api/fleet-runs/${runId}/resume` })).statusCode).toBe(403);

    const sse = await openSse(`${baseUrl}/api/fleet-runs/${runId}/events`, { authorization: `Bearer ${t.tokens.viewer}` });
    try {
      expect(sse.status).toBe(200);
      const first = await sse.next();
      expect(first).toMatchObject({ event: 'run', data: { id: runId, state: 'paused' } });
      const resumed = await t.call('operator', { method: 'POST', url: `/api/fleet-runs/${runId}/resume` });
      expect(resumed.json().data).toEqual({ id: runId, state: 'running' });
      const events = await sse.collect((e) => e.event === 'end');
      expect(events.at(-1)).toEqual({ event: 'end', data: { runId, state: 'completed' } });
      const last = events.filter((e) => e.event === 'run').at(-1);
      expect(last?.data).toMatchObject({ state: 'completed', counts: { completed: 10, pending: 0, queued: 0 } });
      // The counts only ever grow towards completion.
      const done = events.filter((e) => e.event === 'run').map((e) => (e.data.counts as Record<string, number>).completed ?? 0);
      expect(done).toEqual([...done].sort((a, b) => a - b));
    } finally {
      sse.close();
    }
    expect(await scansOfServersSince(planned.map((p) => p.id), since)).toHaveLength(10);
  }, 90_000);

  it('abort skips every server not started, cancels what is in flight, and touches nothing after', async () => {
    const since = new Date();
    const { runId, servers: planned } = await startRun({ action: 'scan', selector: { names: ['node-3?'] }, concurrency: 2 });
    await waitUntil(async () => ((await runOf(runId)).counts.completed ?? 0) >= 1, 'a server done');
    // Servers not yet started just before the abort: more may start in between (how many depends on the machine's
    // load), none may come back, so this bounds the skipped count from above.
    const notStarted = (await runOf(runId)).counts.pending;
    const res = await t.call('operator', { method: 'POST', url: `/api/fleet-runs/${runId}/abort?cancelRunning=true` });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().data).toMatchObject({ id: runId, state: 'aborted', leftRunning: 0 });
    const run = await waitForEnd(runId);
    expect(run.state).toBe('aborted');
    expect(run.reason).toBe(`aborted by user ${t.userIds.operator}`);
    expect(run.counts.skipped).toBeGreaterThanOrEqual(1);
    expect(run.counts.skipped).toBeLessThanOrEqual(notStarted);
    expect(run.counts.completed + run.counts.cancelled + run.counts.failed + run.counts.skipped).toBe(10);
    const skipped = run.waves.flatMap((w) => w.servers).filter((s) => s.state === 'skipped').map((s) => s.serverId);
    const records = await scansOfServersSince(planned.map((p) => p.id), since);
    expect(records.filter((r) => skipped.includes(r.serverId))).toEqual([]);
    expect(records).toHaveLength(10 - skipped.length);
    expect((await t.call('operator', { method: 'POST', url: `/api/fleet-runs/${runId}/abort` })).statusCode).toBe(409);
    // Still nothing for the skipped servers a few steps later.
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(await scansOfServersSince(planned.map((p) => p.id), since)).toHaveLength(10 - skipped.length);
  }, 60_000);

  it('an unknown run is a 404 on every route', async () => {
    const id = '00000000-0000-4000-8000-000000000000';
    for (const [method, url] of [['GET', `/api/fleet-runs/${id}`], ['POST', `/api/fleet-runs/${id}/pause`], ['POST', `/api/fleet-runs/${id}/abort`], ['GET', `/api/fleet-runs/${id}/events`]] as const) {
      const r = await t.call('operator', { method, url });
      expect(r.statusCode, `${method} ${url}`).toBe(404);
      expect(r.json().error.code).toBe('NOT_FOUND');
    }
  });
});

describe('fleet health and the backup dead-man check', () => {
  let orchestrator: RunningFleetWorker;
  let receiver: Server_;
  const received: { event: string; data: Record<string, unknown> }[] = [];

  beforeAll(async () => {
    receiver = createHttpServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString('utf8')));
      req.on('end', () => {
        received.push(JSON.parse(body) as { event: string; data: Record<string, unknown> });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    const port = (receiver.address() as AddressInfo).port;
    const hook = await t.call('admin', {
      method: 'POST',
      url: '/api/webhooks',
      payload: { url: `http://127.0.0.1:${port}/hook`, events: ['backup.overdue', 'backup.recovered'], secret: 'a-webhook-secret-of-32-characters!!' },
    });
    expect(hook.statusCode, hook.body).toBe(201);
    orchestrator = await startFleetWorker(parseEnv(FleetWorkerEnv, fleetEnv({ FLEET_SWEEP_INTERVAL_MS: '1000' })));
  });
  afterAll(async () => {
    await orchestrator?.close();
    await new Promise((resolve) => receiver?.close(resolve));
  });

  it("a schedule's RPO is set, shown and cleared through the schedules API; out-of-range is a 400", async () => {
    const id = servers.find((s) => s.name === 'node-52')!.id;
    const url = `/api/servers/${id}/backup-schedules`;
    const bad = await t.call('operator', { method: 'POST', url, payload: { cron: '0 3 * * *', options: {}, rpoSeconds: 10 } });
    expect(bad.statusCode, bad.body).toBe(400);
    expect(await t.database.sql`select 1 from backup_schedules where server_id = ${id}`).toHaveLength(0);
    const created = await t.call('operator', { method: 'POST', url, payload: { cron: '0 3 * * *', options: {}, enabled: false, rpoSeconds: 3 * 86_400 } });
    expect(created.statusCode, created.body).toBe(201);
    expect(created.json().data.rpoSeconds).toBe(3 * 86_400);
    const cleared = await t.call('operator', { method: 'PATCH', url: `${url}/${created.json().data.id}`, payload: { rpoSeconds: null } });
    expect(cleared.statusCode, cleared.body).toBe(200);
    expect(cleared.json().data.rpoSeconds).toBeNull();
    await t.call('operator', { method: 'DELETE', url: `${url}/${created.json().data.id}` });
  });

  it('GET /api/fleet/summary counts status, overdue backups, scan facts and runs; backup.overdue fires once, backup.recovered when a backup lands', async () => {
    const byName = (name: string) => servers.find((s) => s.name === name)!;
    const late = byName('node-50');
    const fine = byName('node-51');
    // Hourly, created 3 h ago, never backed up: past its default RPO (2 h). The other has an explicit RPO of a day.
    await t.database.sql`insert into backup_schedules (server_id, cron, timezone, options, created_at)
      values (${late.id}, '0 * * * *', 'UTC', '{"backup_type":"full","compression":true,"encryption":false}', now() - interval '3 hours')`;
    await t.database.sql`insert into backup_schedules (server_id, cron, timezone, options, rpo_seconds, created_at)
      values (${fine.id}, '0 * * * *', 'UTC', '{"backup_type":"full","compression":true,"encryption":false}', 86400, now() - interval '3 hours')`;
    // The full scans (the gate test's, on node-10..14) wrote their facts on the server rows; here they say exactly this:
    expect(await t.database.sql`select 1 from servers where critical_findings is not null`).toHaveLength(5);
    await t.database.sql`update servers set upgradable_packages = 0, security_updates = 0, reboot_required = false, critical_findings = 0 where critical_findings is not null`;
    await t.database.sql`update servers set upgradable_packages = 3, reboot_required = true, critical_findings = 2 where id = ${byName('node-10').id}`;
    await t.database.sql`update servers set upgradable_packages = 2, security_updates = 1 where id = ${byName('node-11').id}`;

    await waitUntil(async () => received.some((r) => r.event === 'backup.overdue'), 'the backup.overdue delivery', 30_000);
    const res = await t.call('viewer', { method: 'GET', url: '/api/fleet/summary' });
    expect(res.statusCode, res.body).toBe(200);
    const summary = res.json().data;
    expect(summary.servers).toEqual({ total: FLEET_SIZE, online: FLEET_SIZE, offline: 0, unknown: 0 });
    expect(summary.backups).toMatchObject({ overdue: 1, serversWithSchedule: 2, overdueServers: [{ id: late.id, name: 'node-50', lastSuccessfulBackupAt: null }] });
    expect(Date.parse(summary.backups.overdueServers[0].overdueSince)).toBeGreaterThan(Date.now() - 60_000);
    expect(summary.scans).toEqual({ fullScanned: 5, withUpgradablePackages: 2, withSecurityUpdates: 1, rebootRequired: 1, withCriticalFindings: 1 });
    expect(summary.fleetRuns).toEqual({ running: 0, paused: 0, failedLast7Days: 1 });

    // A backup lands: recovered, once; overdue fired only once across the sweeps in between.
    await t.database.sql`insert into backups (id, server_id, status, backup_type, started_at, finished_at)
      values (gen_random_uuid(), ${late.id}, 'completed', 'full', now() - interval '1 minute', now())`;
    await waitUntil(async () => received.some((r) => r.event === 'backup.recovered'), 'the backup.recovered delivery', 30_000);
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    expect(received.map((r) => r.event)).toEqual(['backup.overdue', 'backup.recovered']);
    expect(received[0]!.data).toMatchObject({ serverId: late.id, serverName: 'node-50', lastSuccessfulBackupAt: null, rpoSeconds: 7200 });
    expect(received[1]!.data).toMatchObject({ serverId: late.id, serverName: 'node-50' });
    const after = (await t.call('viewer', { method: 'GET', url: '/api/fleet/summary' })).json().data;
    expect(after.backups).toMatchObject({ overdue: 0, overdueServers: [] });
  }, 90_000);
});

describe('durability', () => {
  function spawnFleetWorker(): ChildProcess {
    return spawn(process.execPath, ['--import', 'tsx', FLEET_WORKER_MAIN], { env: { ...process.env, ...fleetEnv() }, stdio: 'ignore' });
  }

  it('a SIGKILL of the fleet worker mid-wave loses and repeats nothing', async () => {
    let child = spawnFleetWorker();
    const since = new Date();
    const { runId, servers: planned } = await startRun({ action: 'scan', selector: { names: ['node-2*', 'node-3*'] }, concurrency: 3 });
    expect(planned).toHaveLength(20);
    await waitUntil(async () => ((await runOf(runId)).counts.completed ?? 0) >= 4, 'a few servers done', 60_000);
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
    const atKill = (await runOf(runId)).counts;
    expect(atKill.completed).toBeLessThan(20);
    child = spawnFleetWorker();
    try {
      const run = await waitForEnd(runId, 90_000);
      expect(run.state).toBe('completed');
      expect(run.counts).toMatchObject({ completed: 20, failed: 0, skipped: 0 });
      const records = await scansOfServersSince(planned.map((p) => p.id), since);
      expect(records.map((r) => r.id).sort()).toEqual(planned.map((p) => p.jobId).sort());
      for (const r of records) expect([r.status, r.attempts]).toEqual(['completed', 1]);
      // Still never above the run's concurrency across the kill.
      expect(maxOverlap(records.map((r) => ({ start: r.startedAt!.getTime(), end: r.finishedAt!.getTime() })))).toBeLessThanOrEqual(3);
    } finally {
      const gone = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await gone;
    }
  }, 150_000);
});
