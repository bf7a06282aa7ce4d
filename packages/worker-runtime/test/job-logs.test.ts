import { randomUUID } from 'node:crypto';
import { asc, eq } from 'drizzle-orm';
import type { QueueEvents } from 'bullmq';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { parseEnv } from '@mm/config';
import { jobLogs, pruneJobLogs } from '@mm/db';
import { createProducer, createQueueEvents, type Handlers, type Producer, type ScanPayload } from '@mm/jobs';
import { SshAuthError } from '@mm/ssh';
import { createTestDatabase, createTestRedis, insertTestServer, startTestSshd, type TestDatabase, type TestRedis, type TestSshd } from '@mm/testing';
import { runWorker, WorkerEnvSchema, type JobContext, type RunningWorker } from '../src/index.js';
import { JobLogWriter } from '../src/job-log-writer.js';

const CREDENTIALS_KEY = 'cd'.repeat(32);
// A server secret (the key's passphrase) that the remote command prints: it must reach no log line.
const SECRET = 'srv-Passw0rd-42';
const LIVE_RATE = 5;

let testDb: TestDatabase;
let redis: TestRedis;
let sshd: TestSshd;
let producer: Producer;
let running: RunningWorker;
let events: QueueEvents;

const behaviours = new Map<string, (payload: ScanPayload, ctx: JobContext<'scan'>) => Promise<unknown>>();
const handle = async (payload: ScanPayload, ctx: JobContext<'scan'>) => {
  const behaviour = behaviours.get(payload.scanId);
  if (!behaviour) throw new Error('no behaviour');
  return behaviour(payload, ctx);
};
// One test double for both names: its result is no full scan's, so it raises no events.
const testHandlers = { 'scan:full': handle, 'scan:quick': handle } as unknown as Handlers<'scan', JobContext<'scan'>>;

/** The live `log` and `progress` events per job, as an API process's QueueEvents sees them. */
const live = new Map<string, string[]>();
const seen = (jobId: string, entry: string) => live.set(jobId, [...(live.get(jobId) ?? []), entry]);

async function waitForState(id: string, state: 'completed' | 'failed') {
  await vi.waitFor(async () => expect(await producer.queue('scan').getJobState(id)).toBe(state), { timeout: 30_000, interval: 50 });
}

const linesOf = (jobId: string) => testDb.db.select().from(jobLogs).where(eq(jobLogs.jobId, jobId)).orderBy(asc(jobLogs.seq));

async function scrape(): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${running.healthPort}/metrics`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toContain('text/plain');
  return res.text();
}
const sample = (text: string, series: string) => {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
};

beforeAll(async () => {
  [testDb, redis, sshd] = await Promise.all([createTestDatabase(), createTestRedis(), startTestSshd()]);
  const env = parseEnv(WorkerEnvSchema, {
    NODE_ENV: 'test',
    LOG_LEVEL: 'silent',
    DATABASE_URL: testDb.url,
    REDIS_URL: redis.url,
    // The test sshd listens on loopback, which workers refuse by default.
    SERVER_ALLOW_LOOPBACK: 'true',
    QUEUE_PREFIX: redis.prefix,
    CREDENTIALS_KEY,
    HEALTH_PORT: '0',
    HEALTH_HOST: '127.0.0.1',
    SHUTDOWN_TIMEOUT_MS: '10000',
  });
  running = await runWorker({
    queue: 'scan',
    env,
    concurrency: 2,
    handlers: testHandlers,
    jobLogs: { liveOutputLinesPerSecond: LIVE_RATE },
  });
  producer = createProducer({ connection: redis.url, prefix: redis.prefix, jobOptions: { backoff: { type: 'fixed', delay: 50 } } });
  events = createQueueEvents('scan', { connection: redis.url, prefix: redis.prefix });
  events.on('progress', ({ jobId, data }) => seen(jobId, `progress:${String(data)}`));
  events.on('log' as 'progress', ((args: { jobId: string; line: string }) => seen(args.jobId, `log:${args.line}`)) as never);
  await events.waitUntilReady();
});

afterAll(async () => {
  await events?.close();
  await running?.close();
  await producer?.close();
  await redis?.cleanup();
  await sshd?.stop();
  await testDb?.drop();
});

describe('job logs in PostgreSQL', () => {
  it('stores every line of a real SSH job in order, redacted, before the job completes; they outlive job.remove()', async () => {
    const server = await insertTestServer(testDb.db, sshd, { credentialsKey: CREDENTIALS_KEY, credentials: { ...sshd.credentials, passphrase: SECRET } as typeof sshd.credentials });
    const scanId = randomUUID();
    behaviours.set(scanId, async (payload, ctx) => {
      await ctx.progress(10);
      const { server: row, target } = await ctx.loadServer(payload.serverId);
      const session = await ctx.connect(row, target);
      await ctx.record.start();
      // 150 lines: more than one batch (100), and far more than the live stream's 5 a second.
      await session.exec(`for i in $(seq 1 150); do echo "line $i"; done; echo "unlocking with ${SECRET} now"`, { onStdoutLine: (line) => void ctx.output(line) });
      ctx.warning(`disk almost full; ${SECRET} noted`);
      await ctx.progress(80);
      await ctx.record.complete({ online: true, latencyMs: 1 });
      await ctx.progress(100);
      return { ok: true };
    });
    await producer.enqueue('scan:full', { serverId: server.id, scanId, userId: null });
    await waitForState(scanId, 'completed');

    // No waiting: the runtime flushed before BullMQ marked the job completed.
    const rows = await linesOf(scanId);
    expect(rows.map((r) => r.seq)).toEqual(rows.map((_, i) => i + 1));
    expect(rows.every((r) => r.queue === 'scan')).toBe(true);
    expect(rows[0]).toMatchObject({ kind: 'milestone' });
    expect(rows[0]?.line).toMatch(/^attempt 1 of 3 started on /);
    expect(rows[1]).toMatchObject({ kind: 'milestone', line: 'progress 10% (started)' });
    const output = rows.filter((r) => r.kind === 'output').map((r) => r.line);
    expect(output).toEqual([...Array.from({ length: 150 }, (_, i) => `line ${i + 1}`), 'unlocking with [redacted] now']);
    expect(rows.filter((r) => r.kind === 'warning').map((r) => r.line)).toEqual(['disk almost full; [redacted] noted']);
    expect(rows.slice(-2).map((r) => r.line)).toEqual(['progress 100% (done)', expect.stringMatching(/^attempt 1 completed in \d+\.\d s$/)]);
    expect(rows.map((r) => r.line).join('\n')).not.toContain(SECRET);
    for (let i = 1; i < rows.length; i++) expect(rows[i]!.createdAt.getTime()).toBeGreaterThanOrEqual(rows[i - 1]!.createdAt.getTime());

    await (await producer.queue('scan').getJob(scanId))?.remove();
    expect(await producer.queue('scan').getJob(scanId)).toBeUndefined();
    expect((await linesOf(scanId)).length).toBe(rows.length);

    // Live: progress and milestones all arrive, in order; output lines only up to the rate, then a note.
    await vi.waitFor(() => expect(live.get(scanId)).toContain(`log:${rows.at(-1)?.line}`), { timeout: 10_000, interval: 50 });
    const stream = live.get(scanId) ?? [];
    const pos = (entry: string) => stream.indexOf(entry);
    expect(pos('progress:10')).toBeGreaterThanOrEqual(0);
    expect(pos('progress:10')).toBeLessThan(pos('log:progress 10% (started)'));
    expect(pos('log:progress 10% (started)')).toBeLessThan(pos('log:line 1'));
    expect(pos('log:line 1')).toBeLessThan(pos('progress:80'));
    expect(pos('progress:80')).toBeLessThan(pos('log:progress 80% (execution finished)'));
    expect(pos('log:progress 80% (execution finished)')).toBeLessThan(pos('progress:100'));
    const liveOutput = stream.filter((e) => /^log:line \d+$/.test(e));
    expect(liveOutput.length).toBeGreaterThanOrEqual(LIVE_RATE);
    expect(liveOutput.length).toBeLessThan(150);
    expect(stream.some((e) => /^log:… \d+ output lines not streamed live; GET \/api\/jobs\/.+\/logs has every line$/.test(e))).toBe(true);
    expect(stream.join('\n')).not.toContain(SECRET);
  });

  it('continues the seq across retries and tells why an attempt failed', async () => {
    const scanId = randomUUID();
    let attempt = 0;
    behaviours.set(scanId, async (_payload, ctx) => {
      attempt++;
      await ctx.output(`attempt says ${attempt}`);
      if (attempt === 1) throw new Error('flaky remote');
      return { attempt };
    });
    await producer.enqueue('scan:quick', { serverId: randomUUID(), scanId, userId: null }, { attempts: 2 });
    await waitForState(scanId, 'completed');
    const rows = await linesOf(scanId);
    expect(rows.map((r) => r.seq)).toEqual(rows.map((_, i) => i + 1));
    expect(rows.map((r) => `${r.kind}:${r.line.replace(/ on \S+ \(pid \d+\)| in [\d.]+ s| after [\d.]+ s/g, '')}`)).toEqual([
      'milestone:attempt 1 of 2 started',
      'output:attempt says 1',
      'warning:attempt 1 failed; attempt 2 of 2 follows after a backoff (other): flaky remote',
      'milestone:attempt 2 of 2 started',
      'output:attempt says 2',
      'milestone:attempt 2 completed',
    ]);
  });

  it('renumbers after lines a stale run of the same job left behind, losing none', async () => {
    const scanId = randomUUID();
    await testDb.db.insert(jobLogs).values([
      { jobId: scanId, queue: 'scan', seq: 1, kind: 'milestone', line: 'stale 1' },
      { jobId: scanId, queue: 'scan', seq: 2, kind: 'output', line: 'stale 2' },
    ]);
    behaviours.set(scanId, async (_payload, ctx) => {
      await ctx.output('fresh output');
      return {};
    });
    await producer.enqueue('scan:quick', { serverId: randomUUID(), scanId, userId: null });
    await waitForState(scanId, 'completed');
    const rows = await linesOf(scanId);
    expect(rows.map((r) => `${r.seq}:${r.line.replace(/ on \S+ \(pid \d+\)| in [\d.]+ s/g, '')}`)).toEqual([
      '1:stale 1',
      '2:stale 2',
      '3:attempt 1 of 3 started',
      '4:fresh output',
      '5:attempt 1 completed',
    ]);
  });

  it('a write that keeps failing is retried, then dropped and counted; the job is not blocked and later lines still land', async () => {
    const dropped: string[] = [];
    const writer = new JobLogWriter({ db: testDb.db, log: pino({ level: 'silent' }), onDropped: (count, reason) => dropped.push(`${count}:${reason}`) });
    const jobId = randomUUID();
    const sink = writer.forJob(jobId, 'scan', true);
    await testDb.sql`alter table job_logs rename to job_logs_away`;
    try {
      sink.append('output', 'lost 1');
      sink.append('output', 'lost 2');
      await sink.flush();
    } finally {
      await testDb.sql`alter table job_logs_away rename to job_logs`;
    }
    expect(dropped).toEqual(['2:write_failed']);
    sink.append('warning', 'kept');
    // Bytes PostgreSQL refuses (NUL, half a surrogate pair) are replaced, not allowed to sink the batch.
    sink.append('output', 'nul\u0000 half\ud800 pair \u{1F600} quote" backslash\\');
    await sink.flush();
    expect((await linesOf(jobId)).map((r) => `${r.seq}:${r.kind}:${r.line}`)).toEqual(['1:warning:kept', '2:output:nul\uFFFD half\uFFFD pair \u{1F600} quote" backslash\\']);
  });

  it('pruneJobLogs deletes whole logs whose newest line is older than the cutoff', async () => {
    const at = (daysAgo: number) => new Date(Date.now() - daysAgo * 86_400_000);
    const old = `old-${randomUUID()}`;
    const spanning = `repeat:${randomUUID()}:1`;
    await testDb.db.insert(jobLogs).values([
      { jobId: old, queue: 'backup', seq: 1, kind: 'milestone', line: 'a', createdAt: at(40) },
      { jobId: old, queue: 'backup', seq: 2, kind: 'output', line: 'b', createdAt: at(39) },
      { jobId: spanning, queue: 'backup', seq: 1, kind: 'milestone', line: 'c', createdAt: at(31) },
      { jobId: spanning, queue: 'backup', seq: 2, kind: 'output', line: 'd', createdAt: at(29) },
    ]);
    expect(await pruneJobLogs(testDb.db, at(30))).toBe(2);
    expect(await linesOf(old)).toEqual([]);
    expect((await linesOf(spanning)).map((r) => r.line)).toEqual(['c', 'd']);
  });
});

describe('worker /metrics', () => {
  it('counts durations by outcome and failures by reason class, with the SSH pool and process metrics', async () => {
    const before = await scrape();
    const completedBefore = sample(before, 'mm_job_duration_seconds_count{queue="scan",name="scan:quick",outcome="completed"}') ?? 0;

    const ok = randomUUID();
    behaviours.set(ok, async () => ({ ok: true }));
    const denied = randomUUID();
    behaviours.set(denied, async () => {
      throw new SshAuthError('authentication failed for mmtest@127.0.0.1');
    });
    await producer.enqueue('scan:quick', { serverId: randomUUID(), scanId: ok, userId: null });
    await producer.enqueue('scan:quick', { serverId: randomUUID(), scanId: denied, userId: null }, { attempts: 3 });
    await waitForState(ok, 'completed');
    await waitForState(denied, 'failed');

    const text = await scrape();
    expect(sample(text, 'mm_job_duration_seconds_count{queue="scan",name="scan:quick",outcome="completed"}')).toBe(completedBefore + 1);
    expect(sample(text, 'mm_job_duration_seconds_count{queue="scan",name="scan:quick",outcome="failed"}')).toBe(1);
    expect(sample(text, 'mm_job_failures_total{queue="scan",name="scan:quick",reason="authentication",final="true"}')).toBe(1);
    // The earlier retry test's first attempt.
    expect(sample(text, 'mm_job_failures_total{queue="scan",name="scan:quick",reason="other",final="false"}')).toBe(1);
    expect(sample(text, 'mm_job_duration_seconds_count{queue="scan",name="scan:full",outcome="completed"}')).toBe(1);
    expect(sample(text, 'mm_jobs_active{queue="scan"}')).toBe(0);
    // The SSH job's connection stays pooled (idle timeout 30 s).
    expect(sample(text, 'mm_ssh_pool_connections{queue="scan"}')).toBe(1);
    expect(sample(text, 'mm_job_log_lines_dropped_total{queue="scan",reason="live_rate_limit"}')).toBeGreaterThan(0);
    expect(text).toMatch(/^process_cpu_user_seconds_total /m);
    expect(text).toMatch(/^nodejs_eventloop_lag_seconds /m);

    const rows = await linesOf(denied);
    expect(rows.at(-1)?.line).toMatch(/^attempt 1 failed after [\d.]+ s \(authentication\): authentication failed for mmtest@127\.0\.0\.1$/);
  });
});
