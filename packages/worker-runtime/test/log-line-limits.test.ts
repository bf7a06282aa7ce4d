import { randomUUID } from 'node:crypto';
import { asc, eq } from 'drizzle-orm';
import type { QueueEvents } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { parseEnv } from '@mm/config';
import { jobLogs, servers } from '@mm/db';
import { createProducer, createQueueEvents, type Handlers, type Producer, type ScanPayload } from '@mm/jobs';
import { createTestDatabase, createTestRedis, type TestDatabase, type TestRedis } from '@mm/testing';
import { BULLMQ_KEEP_LOGS, LOG_LINE_MAX_CHARS, MAX_OUTPUT_LINES_PER_ATTEMPT, runWorker, WorkerEnvSchema, type JobContext, type RunningWorker } from '../src/index.js';

// What a hostile host's output does to the job log sinks: job_logs, BullMQ's job log and the live `log` events (SSE).
let testDb: TestDatabase;
let redis: TestRedis;
let producer: Producer;
let running: RunningWorker;
let events: QueueEvents;

const behaviours = new Map<string, (ctx: JobContext<'scan'>) => Promise<unknown>>();
const handle = async (payload: ScanPayload, ctx: JobContext<'scan'>) => behaviours.get(payload.scanId)!(ctx);
const testHandlers = { 'scan:full': handle, 'scan:quick': handle } as unknown as Handlers<'scan', JobContext<'scan'>>;
const liveLines = new Map<string, string[]>();

async function runJob(behaviour: (ctx: JobContext<'scan'>) => Promise<unknown>): Promise<string> {
  const [server] = await testDb.db.insert(servers).values({ name: 'unused', host: '10.9.9.9', username: 'u', authType: 'password', credentials: 'unused' }).returning();
  const scanId = randomUUID();
  behaviours.set(scanId, behaviour);
  await producer.enqueue('scan:full', { serverId: server!.id, scanId, userId: null });
  await vi.waitFor(async () => expect(await producer.queue('scan').getJobState(scanId)).toBe('completed'), { timeout: 100_000, interval: 100 });
  return scanId;
}

const storedLines = async (jobId: string) => (await testDb.db.select().from(jobLogs).where(eq(jobLogs.jobId, jobId)).orderBy(asc(jobLogs.seq))).map((r) => ({ kind: r.kind, line: r.line }));

beforeAll(async () => {
  [testDb, redis] = await Promise.all([createTestDatabase(), createTestRedis()]);
  const env = parseEnv(WorkerEnvSchema, {
    NODE_ENV: 'test',
    LOG_LEVEL: 'silent',
    DATABASE_URL: testDb.url,
    REDIS_URL: redis.url,
    QUEUE_PREFIX: redis.prefix,
    CREDENTIALS_KEY: 'ab'.repeat(32),
    HEALTH_PORT: '0',
    HEALTH_HOST: '127.0.0.1',
  });
  running = await runWorker({ queue: 'scan', env, concurrency: 1, handlers: testHandlers, jobLogs: { liveOutputLinesPerSecond: 1_000 } });
  producer = createProducer({ connection: redis.url, prefix: redis.prefix });
  events = createQueueEvents('scan', { connection: redis.url, prefix: redis.prefix });
  events.on('log' as 'progress', ((args: { jobId: string; line: string }) => liveLines.set(args.jobId, [...(liveLines.get(args.jobId) ?? []), args.line])) as never);
  await events.waitUntilReady();
});

afterAll(async () => {
  await events?.close();
  await running?.close();
  await producer?.close();
  await redis?.cleanup();
  await testDb?.drop();
});

describe('log lines from a hostile host', () => {
  it('a 1 MB line is cut in job_logs, BullMQ job log and the live event alike', async () => {
    const cut = `${'é'.repeat(LOG_LINE_MAX_CHARS)} … [line cut at ${LOG_LINE_MAX_CHARS} characters]`;
    const jobId = await runJob(async (ctx) => {
      await ctx.output('é'.repeat(1024 * 1024));
      ctx.warning(`remote said: ${'w'.repeat(100_000)}`);
      return { ok: true };
    });
    const stored = await storedLines(jobId);
    expect(stored.filter((l) => l.kind === 'output').map((l) => l.line)).toEqual([cut]);
    const warning = stored.find((l) => l.kind === 'warning' && l.line.startsWith('remote said'));
    expect(warning?.line.length).toBeLessThanOrEqual(LOG_LINE_MAX_CHARS + 40);
    expect((await producer.queue('scan').getJobLogs(jobId)).logs).toEqual([cut]);
    await vi.waitFor(() => expect(liveLines.get(jobId)).toContain(cut));
    expect(Math.max(...(liveLines.get(jobId) ?? []).map((l) => l.length))).toBeLessThanOrEqual(LOG_LINE_MAX_CHARS + 40);
  });

  it(`keeps ${MAX_OUTPUT_LINES_PER_ATTEMPT} output lines per attempt, says so once, and BullMQ's log keeps the last ${BULLMQ_KEEP_LOGS}`, { timeout: 120_000 }, async () => {
    const total = MAX_OUTPUT_LINES_PER_ATTEMPT + 500;
    const jobId = await runJob(async (ctx) => {
      let last: Promise<void> = Promise.resolve();
      for (let i = 1; i <= total; i++) {
        last = ctx.output(`line ${i}`);
        // Lines arrive in SSH-sized bursts, not all in one tick (the writer drops what passes its 10,000-line buffer).
        if (i % 1_000 === 0) await last;
      }
      await last;
      return { ok: true };
    });
    const stored = await storedLines(jobId);
    const output = stored.filter((l) => l.kind === 'output');
    expect(output).toHaveLength(MAX_OUTPUT_LINES_PER_ATTEMPT);
    expect(output.at(-1)?.line).toBe(`line ${MAX_OUTPUT_LINES_PER_ATTEMPT}`);
    expect(stored.filter((l) => l.line === `output past ${MAX_OUTPUT_LINES_PER_ATTEMPT} lines is not kept for this attempt`)).toHaveLength(1);
    const bull = await producer.queue('scan').getJobLogs(jobId, 0, -1);
    expect(bull.count).toBe(BULLMQ_KEEP_LOGS);
    expect(bull.logs.at(-1)).toBe(`line ${MAX_OUTPUT_LINES_PER_ATTEMPT}`);
  });
});
