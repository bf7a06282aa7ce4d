import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { and, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backups, type Server } from '@mm/db';
import { ApiClient, type ApiResponse, createTestDatabase, freePort, insertTestServer, killAll, type ServiceName, type ServiceProcess, spawnService, startTestSshd, TEST_SSH_USER, type TestDatabase, type TestSshd, waitFor } from '@mm/testing';
import { startTestRedisCluster, type TestRedisCluster } from './support/redis-cluster.js';
import { openSse } from './support/sse.js';

// The API and the three job workers as real processes on a real 3-master Redis Cluster (no replicas), with
// REDIS_CLUSTER=true, two of the three masters as seeds, and no QUEUE_PREFIX: the cluster default {mm} is what runs.

const run = promisify(execFile);
const ADMIN_EMAIL = 'admin@cluster.test';
const ADMIN_PASSWORD = randomBytes(12).toString('hex');
const PREFIX = '{mm}';

let cluster: TestRedisCluster;
let db: TestDatabase;
let sshd: TestSshd;
let backupDir: string;
let server: Server;
let slowServer: Server;
let client: ApiClient;
let apiPort: number;
const processes = new Set<ServiceProcess>();

beforeAll(async () => {
  [cluster, db, sshd] = await Promise.all([startTestRedisCluster(3), createTestDatabase(), startTestSshd()]);
  backupDir = await mkdtemp(join(tmpdir(), 'mm-cluster-backups-'));
  const small = join(sshd.workDir, 'cluster-source');
  // Sparse: no disk on either side, yet tar reads and gzips every byte for minutes: a backup that is still running to cancel.
  const slow = join(sshd.workDir, `cluster-slow-${randomBytes(4).toString('hex')}`);
  await Promise.all([mkdir(small), mkdir(slow)]);
  await writeFile(join(small, 'hello.txt'), 'backed up through a Redis Cluster\n');
  await run('truncate', ['-s', '64G', join(slow, 'zeros.bin')]);
  await run('chown', ['-R', `${TEST_SSH_USER}:${TEST_SSH_USER}`, small, slow]);
  const credentialsKey = randomBytes(32).toString('hex');
  [server, slowServer] = await Promise.all([
    insertTestServer(db.db, sshd, { credentialsKey, backupPaths: [small], name: 'cluster-small' }),
    insertTestServer(db.db, sshd, { credentialsKey, backupPaths: [slow], name: 'cluster-slow' }),
  ]);

  const common = {
    NODE_ENV: 'test',
    LOG_LEVEL: 'info',
    DATABASE_URL: db.url,
    REDIS_CLUSTER: 'true',
    // Two seeds of three: the third master is found through the cluster's slot map.
    REDIS_URL: cluster.url.split(',').slice(0, 2).join(','),
    SERVER_ALLOW_LOOPBACK: 'true',
    CREDENTIALS_KEY: credentialsKey,
  };
  const worker = { ...common, HEALTH_PORT: '0', HEALTH_HOST: '127.0.0.1' };
  apiPort = await freePort();
  const envs: Record<Exclude<ServiceName, 'fleet-worker'>, Record<string, string>> = {
    api: {
      ...common,
      PORT: String(apiPort),
      HOST: '127.0.0.1',
      JWT_SECRET: randomBytes(32).toString('hex'),
      ADMIN_EMAIL,
      ADMIN_PASSWORD,
      CLEANUP_CRON: 'off',
      SCHEDULE_MIN_INTERVAL_S: '1',
      BACKUP_DIR: backupDir,
      BACKUP_ENGINE: 'archive',
    },
    'backup-worker': { ...worker, BACKUP_DIR: backupDir, BACKUP_ENGINE: 'archive', BACKUP_ENCRYPTION_KEY: randomBytes(32).toString('hex') },
    'scan-worker': worker,
    'update-worker': worker,
  };
  // The API first: it migrates the database the workers then find ready.
  const api = spawnService('api', envs.api);
  processes.add(api);
  client = new ApiClient(`http://127.0.0.1:${apiPort}`);
  await waitFor(async () => !api.running() || (await client.request('GET', '/health', undefined, 2_000).then((r) => r.status === 200, () => false)), 'the API to answer /health', 240_000).catch(
    (err: Error) => {
      throw new Error(`${err.message}: ${api.output().slice(-2000)}`);
    },
  );
  if (!api.running()) throw new Error(`api exited at start: ${api.output().slice(-2000)}`);
  await client.login(ADMIN_EMAIL, ADMIN_PASSWORD);
  const workers = (['backup-worker', 'scan-worker', 'update-worker'] as const).map((name) => {
    const p = spawnService(name, envs[name]);
    processes.add(p);
    return p;
  });
  await Promise.all(
    workers.map(async (p) => {
      await waitFor(() => p.output().includes('"worker ready"') || !p.running(), `${p.name} to be ready`, 240_000).catch((err: Error) => {
        throw new Error(`${err.message}: ${p.output().slice(-2000)}`);
      });
      if (!p.running()) throw new Error(`${p.name} exited at start: ${p.output().slice(-2000)}`);
    }),
  );
});

afterAll(async () => {
  await killAll(processes);
  await sshd?.stop();
  await db?.drop();
  await cluster?.destroy();
  if (backupDir) await rm(backupDir, { recursive: true, force: true });
});

interface JobView {
  id: string;
  state: string;
  failedReason?: string;
  result?: unknown;
}

async function job(id: string): Promise<JobView> {
  const res = await client.request('GET', `/api/jobs/${id}`);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return (res.body as { data: JobView }).data;
}

async function finished(id: string, limitMs = 60_000): Promise<JobView> {
  let last: JobView | undefined;
  await waitFor(async () => ['completed', 'failed'].includes((last = await job(id)).state), `job ${id} to finish`, limitMs, 200);
  return last as JobView;
}

function accepted(res: ApiResponse): string {
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  return (res.body as { data: { jobId: string } }).data.jobId;
}

const trigger = (s: Server, kind: 'backup' | 'scan' | 'update', body: unknown) => client.request('POST', `/api/servers/${s.id}/${kind}`, body).then(accepted);

describe('on a 3-master Redis Cluster', () => {
  it('runs a backup, a scan and an update (dry run) to completion, and streams their events live over SSE', async () => {
    const stream = await openSse(`${client.baseUrl}/api/events?queue=backup,scan,update`, client.token as string);
    try {
      expect(stream.status).toBe(200);
      await stream.next((e) => e.event === 'ready', 'the event stream to be live');
      const backupId = await trigger(server, 'backup', { backup_type: 'full', compression: true, encryption: false });
      const scanId = await trigger(server, 'scan', { scan_type: 'quick' });
      const updateId = await trigger(server, 'update', { dry_run: true });

      for (const id of [backupId, scanId, updateId]) {
        const view = await finished(id);
        expect({ id, state: view.state, failedReason: view.failedReason }).toEqual({ id, state: 'completed', failedReason: undefined });
        // Delivered by the API's QueueEvents (a blocking XREAD on the cluster), not read back from a record.
        const done = await stream.next((e) => e.event === 'completed' && (e.data as { jobId?: string }).jobId === id, `the SSE completed event of ${id}`);
        expect(done.data).toMatchObject({ jobId: id });
      }
      const record = await db.db.select().from(backups).where(eq(backups.id, backupId));
      expect(record[0]).toMatchObject({ status: 'completed', serverId: server.id });
      expect(Number(record[0]?.sizeBytes)).toBeGreaterThan(0);
      expect((await job(updateId)).result).toMatchObject({ dryRun: true });
    } finally {
      stream.close();
    }
  });

  it('carries a cancel to the worker process running the job (the Relay on the cluster)', async () => {
    const id = await trigger(slowServer, 'backup', { backup_type: 'full', compression: true, encryption: false });
    await waitFor(async () => (await job(id)).state === 'active', 'the slow backup to be running', 60_000, 200);
    const res = await client.request('POST', `/api/jobs/${id}/cancel`);
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    expect(res.body).toEqual({ success: true, data: { jobId: id, state: 'cancelling' } });
    const view = await finished(id, 30_000);
    expect(view.state).toBe('failed');
    expect(view.failedReason).toMatch(/^job cancelled: by user /);
    const [record] = await db.db.select().from(backups).where(eq(backups.id, id));
    expect(record).toMatchObject({ status: 'cancelled', filePath: null });
  });

  it('fires a backup schedule (a BullMQ job scheduler on the cluster)', async () => {
    const created = await client.request('POST', `/api/servers/${server.id}/backup-schedules`, {
      cron: '*/2 * * * * *',
      options: { backup_type: 'full', compression: true, encryption: false },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const scheduleId = (created.body as { data: { id: string } }).data.id;
    const scheduledDone = () => db.db.select().from(backups).where(and(eq(backups.serverId, server.id), eq(backups.isScheduled, true), eq(backups.status, 'completed')));
    await waitFor(async () => (await scheduledDone()).length >= 1, 'a scheduled backup to complete', 30_000, 200);
    const del = await client.request('DELETE', `/api/servers/${server.id}/backup-schedules/${scheduleId}`);
    expect(del.status, JSON.stringify(del.body)).toBe(200);
  });

  it("keeps every key of BullMQ's and ours under the {mm} hash tag, on the one master serving its slot", async () => {
    const perNode = await cluster.keysPerNode();
    const all = [...perNode.values()].flat();
    expect(all.length).toBeGreaterThan(0);
    expect(all.filter((k) => !k.startsWith(`${PREFIX}:`))).toEqual([]);
    const owner = await cluster.masterOf(PREFIX);
    expect([...perNode.entries()].filter(([, keys]) => keys.length > 0).map(([port]) => port)).toEqual([owner]);
    // Ours among them: the per-server job index and the relay's namespace.
    expect(all).toContain(`${PREFIX}:mm:server-jobs:${server.id}`);
    expect(all.some((k) => k.startsWith(`${PREFIX}::relay:`))).toBe(true);
  });

  it('answers 503 in the error envelope, not a hang, once the master holding the queues is killed', async () => {
    const jobOfBefore = await trigger(server, 'scan', { scan_type: 'quick' });
    await finished(jobOfBefore);
    await cluster.kill(await cluster.masterOf(PREFIX));

    // Each call is bounded by the client (15 s): a hang fails the test rather than passing it.
    const lookups: ApiResponse[] = [
      await client.request('GET', `/api/jobs/${jobOfBefore}`),
      await client.request('POST', `/api/servers/${server.id}/scan`, { scan_type: 'quick' }),
      await client.request('GET', '/api/jobs?limit=5'),
    ];
    for (const res of lookups) {
      expect({ status: res.status, body: res.body }).toMatchObject({ status: 503, body: { success: false, error: { code: 'SERVICE_UNAVAILABLE', message: expect.any(String) } } });
      expect(JSON.stringify(res.body)).not.toMatch(/\bat .+\.(ts|js):\d+/);
    }
    const health = await client.request('GET', '/health');
    expect(health).toMatchObject({ status: 503, body: { status: 'unavailable', redis: 'down', database: 'up' } });
  });
});
