import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Server } from '@mm/db';
import { ApiClient, createTestDatabase, freePort, insertTestServer, killAll, spawnService, startTestSshd, waitFor, type ServiceProcess, type TestDatabase, type TestSshd } from '@mm/testing';
import { openSse } from './helpers/sse-client.js';

// The API and a scan worker as real processes on QUEUE_BACKEND=postgres, with a REDIS_URL nothing answers on: the API
// starts (it refused this backend before), and the seed's contract works across processes with no Redis at all.
const ADMIN_EMAIL = 'admin@pg-backend.test';
const ADMIN_PASSWORD = randomBytes(12).toString('hex');
const CREDENTIALS_KEY = randomBytes(32).toString('hex');

let db: TestDatabase;
let sshd: TestSshd;
let server: Server;
let api: ServiceProcess;
let client: ApiClient;
/** A second API process on the same database: token revocation must reach it. */
let other: ApiClient;
const processes = new Set<ServiceProcess>();

const JWT_SECRET = randomBytes(32).toString('hex');
const QUEUE_PREFIX = `mmpg-${randomBytes(4).toString('hex')}`;

const common = () => ({
  NODE_ENV: 'test',
  LOG_LEVEL: 'info',
  DATABASE_URL: db.url,
  QUEUE_BACKEND: 'postgres',
  REDIS_URL: 'redis://127.0.0.1:1',
  QUEUE_PREFIX,
  SERVER_ALLOW_LOOPBACK: 'true',
  CREDENTIALS_KEY,
});

async function startApi(): Promise<{ process: ServiceProcess; client: ApiClient }> {
  const port = await freePort();
  const child = spawnService('api', { ...common(), PORT: String(port), HOST: '127.0.0.1', JWT_SECRET, ADMIN_EMAIL, ADMIN_PASSWORD, CLEANUP_CRON: 'off' });
  processes.add(child);
  const answering = new ApiClient(`http://127.0.0.1:${port}`);
  await waitFor(async () => !child.running() || (await answering.request('GET', '/health', undefined, 2_000).then((r) => r.status === 200, () => false)), 'the API to answer /health');
  if (!child.running()) throw new Error(`api exited at start: ${child.output().slice(-2000)}`);
  await answering.login(ADMIN_EMAIL, ADMIN_PASSWORD);
  return { process: child, client: answering };
}

beforeAll(async () => {
  [db, sshd] = await Promise.all([createTestDatabase(), startTestSshd()]);
  server = await insertTestServer(db.db, sshd, { credentialsKey: CREDENTIALS_KEY });
  // One first (it migrates), then the second beside the worker.
  ({ process: api, client } = await startApi());
  const second = startApi();
  const worker = spawnService('scan-worker', { ...common(), HEALTH_PORT: '0', HEALTH_HOST: '127.0.0.1' });
  processes.add(worker);
  await waitFor(() => /"worker ready"/.test(worker.output()) || !worker.running(), 'the scan worker to be ready');
  if (!worker.running()) throw new Error(`scan-worker exited at start: ${worker.output().slice(-2000)}`);
  ({ client: other } = await second);
}, 120_000);

afterAll(async () => {
  await killAll(processes);
  await Promise.all([sshd?.stop(), db?.drop()]);
});

type Body<T> = { success: boolean; data: T };

describe('the API as a process on the PostgreSQL queue backend', () => {
  it('starts, says where the queues are, and answers /health naming the backend', async () => {
    expect(api.output()).toMatch(/queues on PostgreSQL \(127\.0\.0\.1:\d+\/mm_test_[0-9a-f]+, schema bullmq\)/);
    const health = await client.request('GET', '/health');
    expect(health).toEqual({ status: 200, body: { status: 'ok', redis: 'up', database: 'up', queueBackend: 'postgres' } });
  });

  it('runs a scan: 202, live SSE events to completed, the job view, the listing, the logs, and a resume', async () => {
    const posted = await client.request('POST', `/api/servers/${server.id}/scan`, { scan_type: 'quick' });
    expect(posted.status).toBe(202);
    const jobId = (posted.body as Body<{ jobId: string }>).data.jobId;

    const sse = await openSse(`${client.baseUrl}/api/jobs/${jobId}/events`, { authorization: `Bearer ${client.token as string}` });
    expect(sse.status).toBe(200);
    const events = await sse.collect((e) => e.event === 'completed' || e.event === 'failed');
    sse.close();
    expect(events[0]?.event).toBe('state');
    expect(events.at(-1)?.event).toBe('completed');
    const progress = events.filter((e) => e.event === 'progress').map((e) => e.data.progress as number);
    expect(progress.at(-1)).toBe(100);
    expect(progress.every((p, i) => i === 0 || p >= (progress[i - 1] as number))).toBe(true);
    expect(events.some((e) => e.event === 'log')).toBe(true);

    const view = await client.request('GET', `/api/jobs/${jobId}`);
    expect(view.status).toBe(200);
    expect((view.body as Body<Record<string, unknown>>).data).toMatchObject({ id: jobId, queue: 'scan', name: 'scan:quick', state: 'completed', progress: 100, serverId: server.id });

    const list = await client.request('GET', '/api/jobs?queue=scan&state=completed');
    expect((list.body as Body<{ id: string }[]>).data.map((j) => j.id)).toContain(jobId);
    const ofServer = await client.request('GET', `/api/jobs?serverId=${server.id}`);
    expect((ofServer.body as Body<{ id: string }[]>).data.map((j) => j.id)).toEqual([jobId]);

    const logs = await client.request('GET', `/api/jobs/${jobId}/logs`);
    const lines = (logs.body as Body<{ lines: { line: string }[] }>).data.lines.map((l) => l.line);
    expect(lines.some((l) => l.startsWith('attempt 1 of'))).toBe(true);

    // Resuming after the first event carrying an id replays the rest, in order, to the same end.
    const withIds = events.filter((e) => e.id && e.event !== 'state');
    const from = withIds[0] as { id: string };
    const resumed = await openSse(`${client.baseUrl}/api/jobs/${jobId}/events`, { authorization: `Bearer ${client.token as string}`, 'last-event-id': from.id });
    const replayed = await resumed.collect();
    resumed.close();
    expect(replayed.map((e) => `${e.event}:${e.id}`)).toEqual(withIds.slice(1).map((e) => `${e.event}:${e.id}`));
  });

  it('cancels a queued backup (no backup worker runs): removed, its record cancelled', async () => {
    const posted = await client.request('POST', `/api/servers/${server.id}/backup`, {});
    expect(posted.status).toBe(202);
    const jobId = (posted.body as Body<{ jobId: string }>).data.jobId;
    const cancelled = await client.request('POST', `/api/jobs/${jobId}/cancel`);
    expect(cancelled.status).toBe(200);
    expect((cancelled.body as Body<{ state: string }>).data).toMatchObject({ state: 'cancelled' });
    expect((await client.request('GET', `/api/jobs/${jobId}`)).status).toBe(404);
    const record = await client.request('GET', `/api/backups/${jobId}`);
    expect((record.body as Body<{ status: string }>).data.status).toBe('cancelled');
  });

  it('system metrics describe PostgreSQL as the queue store, and the queues are healthy', async () => {
    const system = await client.request('GET', '/api/metrics/system');
    expect(system.status).toBe(200);
    const data = (system.body as Body<{ redis: Record<string, unknown>; queues: { health: { status: string } } }>).data;
    expect(data.redis).toEqual({ reachable: true, version: expect.stringMatching(/^\d+(\.\d+)?/), usedMemoryBytes: null, maxmemoryPolicy: null, connectedClients: expect.any(Number) });
    expect(data.redis.connectedClients).toBeGreaterThan(0);
    expect(data.queues.health.status).toBe('healthy');
  });

  it('a token revoked through one API process is refused by the other within a second (LISTEN/NOTIFY)', async () => {
    const created = await client.request('POST', '/api/tokens', { name: 'script' });
    expect(created.status).toBe(201);
    const { id, token } = (created.body as Body<{ id: string; token: string }>).data;
    const withToken = new ApiClient(other.baseUrl);
    withToken.token = token;
    // Warm the other process' cache: from here only the revocation message can make it refuse.
    for (let i = 0; i < 3; i += 1) expect((await withToken.request('GET', '/api/servers')).status).toBe(200);
    expect((await client.request('DELETE', `/api/tokens/${id}`)).status).toBe(200);
    const revokedAt = Date.now();
    let status = 200;
    while (status === 200 && Date.now() - revokedAt < 1_000) {
      status = (await withToken.request('GET', '/api/servers')).status;
      if (status === 200) await new Promise((resolve) => setTimeout(resolve, 25));
    }
    expect(status).toBe(401);
  });
});
