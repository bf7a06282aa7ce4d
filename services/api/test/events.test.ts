import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UnrecoverableError, type Job, type QueueEventsProducer, type Worker } from 'bullmq';
import { backups } from '@mm/db';
import { createQueueEventsProducer, createWorker } from '@mm/jobs';
import { createTestApp, createServer, type TestApp } from './helpers/test-app.js';
import { openSse, type SseClient, type SseEvent } from './helpers/sse-client.js';
import { localPortsTo, ownRedisClients } from './helpers/redis-clients.js';
import { waitUntil } from './helpers/throwaway-worker.js';
import { compareStreamIds } from '../src/plugins/job-event.js';
import { buildApp } from '../src/app.js';

let t: TestApp;
let base: string;
let s1: string;
let s2: string;
let worker: Worker;
let logs: QueueEventsProducer;
const clients: SseClient[] = [];

/** What the backup worker does for each job id: a script of steps, run in order. */
type Step = { progress: number } | { log: string } | { wait: Promise<void> } | { fail: string };
const scripts = new Map<string, Step[]>();

function gate(): { promise: Promise<void>; open(): void } {
  let open: () => void = () => {};
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

async function runScript(job: Job): Promise<unknown> {
  // The worker can take the job before the test has read the 202 and registered the job's script.
  await waitUntil(async () => scripts.has(job.id as string), `the script of ${job.id}`);
  for (const step of scripts.get(job.id as string) ?? []) {
    if ('progress' in step) await job.updateProgress(step.progress);
    // A worker's output line, published on the queue's events stream as BullMQ's QueueEventsProducer does.
    else if ('log' in step) await logs.publishEvent({ eventName: 'log', jobId: job.id as string, line: step.log });
    else if ('wait' in step) await step.wait;
    else throw new UnrecoverableError(step.fail);
  }
  return { archive: `${job.id}.tar.gz` };
}

async function backup(serverId: string, steps: Step[]): Promise<string> {
  const res = await t.call('operator', { method: 'POST', url: `/api/servers/${serverId}/backup`, payload: {} });
  if (res.statusCode !== 202) throw new Error(res.body);
  const id = res.json().data.jobId as string;
  scripts.set(id, steps);
  return id;
}

const jobState = (id: string) => t.app.producer.queue('backup').getJobState(id);
const auth = (role: 'viewer' | 'operator' = 'viewer') => ({ authorization: `Bearer ${t.tokens[role]}` });
async function connect(path: string, headers: Record<string, string> = auth()): Promise<SseClient> {
  const client = await openSse(`${base}${path}`, headers);
  clients.push(client);
  return client;
}
const summary = (events: SseEvent[]) => events.map((e) => (e.event === 'progress' ? `progress:${e.data.progress}` : e.event === 'log' ? `log:${e.data.line}` : e.event));

beforeAll(async () => {
  // One viewer holds every stream of this file (51 at once below): above the default per-user cap of 20.
  t = await createTestApp({ SSE_MAX_STREAMS_PER_USER: '200' });
  base = await t.app.listen({ port: 0, host: '127.0.0.1' });
  s1 = await createServer(t, { name: 's1' });
  s2 = await createServer(t, { name: 's2' });
  logs = createQueueEventsProducer('backup', t.queueConfig);
  worker = createWorker('backup', runScript, { ...t.queueConfig, concurrency: 5 });
  worker.on('error', () => {}); // a connection closing during teardown is expected
});

afterAll(async () => {
  for (const c of clients) c.close();
  await worker?.close();
  await logs?.close();
  await t?.close();
});

describe('GET /api/jobs/:id/events', () => {
  it('streams progress and log lines in order, then the final event, and closes', async () => {
    const start = gate();
    const id = await backup(s1, [{ wait: start.promise }, { progress: 10 }, { log: 'tar: started' }, { progress: 40 }, { log: 'tar: 3 files' }, { progress: 90 }, { progress: 100 }]);
    const client = await connect(`/api/jobs/${id}/events`);
    expect(client.status).toBe(200);
    expect(client.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const first = await client.next();
    expect(first).toMatchObject({ event: 'state', data: { jobId: id, queue: 'backup' } });
    start.open();
    const events = await client.collect();
    // Lifecycle events before the first progress depend on when the client connected: the worker may take the job
    // after that, and on PostgreSQL a stream starts at the last settled event (docs/DEPLOYMENT.md), up to 2 s back.
    const firstProgress = events.findIndex((e) => e.event === 'progress');
    expect(events.slice(0, firstProgress).every((e) => e.event === 'waiting' || e.event === 'active')).toBe(true);
    expect(summary(events.slice(firstProgress))).toEqual(['progress:10', 'log:tar: started', 'progress:40', 'log:tar: 3 files', 'progress:90', 'progress:100', 'completed']);
    expect(events.at(-1)?.data).toMatchObject({ jobId: id, queue: 'backup', result: { archive: `${id}.tar.gz` } });
    // Every event carries its stream id, strictly increasing.
    const ids = events.map((e) => e.id as string);
    expect(ids.every((x) => /^\d+-\d+$/.test(x))).toBe(true);
    expect(ids.slice(1).every((x, i) => compareStreamIds(x, ids[i] as string) > 0)).toBe(true);
    expect(await client.next()).toBeNull();
  });

  it('resumes after Last-Event-ID without loss or repeats, then ends on the final event', async () => {
    const [g0, g1, g2] = [gate(), gate(), gate()];
    const id = await backup(s1, [{ wait: g0.promise }, { progress: 10 }, { progress: 20 }, { wait: g1.promise }, { progress: 30 }, { log: 'half way' }, { progress: 40 }, { wait: g2.promise }, { progress: 50 }]);
    const a = await connect(`/api/jobs/${id}/events`);
    expect((await a.next())?.event).toBe('state');
    g0.open();
    const seen = await a.collect((e) => e.event === 'progress' && e.data.progress === 20);
    expect(summary(seen).filter((s) => s.startsWith('progress'))).toEqual(['progress:10', 'progress:20']);
    const lastId = seen.at(-1)?.id as string;
    a.close();

    // While nobody listens: 30, a log line and 40.
    g1.open();
    await waitUntil(async () => (await t.app.producer.queue('backup').getJob(id))?.progress === 40, 'progress 40');
    const b = await connect(`/api/jobs/${id}/events`, { ...auth(), 'last-event-id': lastId });
    const replayed = await b.collect((e) => e.event === 'progress' && e.data.progress === 40);
    expect(summary(replayed)).toEqual(['progress:30', 'log:half way', 'progress:40']);
    g2.open();
    const live = await b.collect();
    expect(summary(live)).toEqual(['progress:50', 'completed']);
    expect(await b.next()).toBeNull();

    // Resuming after the job has finished replays the rest and ends at once.
    const c = await connect(`/api/jobs/${id}/events`, { ...auth(), 'last-event-id': replayed.at(-1)?.id as string });
    expect(summary(await c.collect())).toEqual(['progress:50', 'completed']);
  });

  it('answers a job that finished before the client connected at once with its final state', async () => {
    const done = await backup(s1, [{ progress: 100 }]);
    const failed = await backup(s1, [{ fail: 'disk full on target' }]);
    await waitUntil(async () => (await jobState(done)) === 'completed', 'completed job');
    await waitUntil(async () => (await jobState(failed)) === 'failed', 'failed job');

    const c1 = await connect(`/api/jobs/${done}/events`);
    expect(summary(await c1.collect())).toEqual(['state', 'completed']);
    const c2 = await connect(`/api/jobs/${failed}/events`);
    const events = await c2.collect();
    expect(summary(events)).toEqual(['state', 'failed']);
    expect(events[1]?.data).toMatchObject({ jobId: failed, failedReason: 'disk full on target' });

    // Gone from Redis, but its record in PostgreSQL says how it ended.
    const removed = randomUUID();
    await t.database.db.insert(backups).values({ id: removed, serverId: s1, status: 'completed', progress: 100, result: { sizeBytes: 42 } });
    const c3 = await connect(`/api/jobs/${removed}/events`);
    expect(await c3.collect()).toEqual([{ event: 'completed', data: { jobId: removed, queue: 'backup', state: 'completed', progress: 100, result: { sizeBytes: 42 } } }]);

    const unknown = await connect(`/api/jobs/${randomUUID()}/events`);
    expect(unknown.status).toBe(404);
  });
});

describe('GET /api/events', () => {
  it('streams many jobs filtered by server, and resumes every queue from one Last-Event-ID', async () => {
    const [g1, g2] = [gate(), gate()];
    const dash = await connect(`/api/events?queue=backup,scan&serverId=${s2}`);
    const ready = await dash.next();
    expect(ready).toMatchObject({ event: 'ready', data: { queues: ['backup', 'scan'], serverId: s2 } });
    expect(ready?.id).toMatch(/^backup:\d+-\d+,scan:\d+-\d+$/);

    const other = await backup(s1, [{ wait: g1.promise }, { progress: 11 }]);
    const mine = await backup(s2, [{ wait: g1.promise }, { progress: 22 }, { wait: g2.promise }, { progress: 33 }]);
    g1.open();
    const got = await dash.collect((e) => e.event === 'progress' && e.data.progress === 22);
    expect(got.every((e) => e.data.jobId === mine && e.data.serverId === s2)).toBe(true);
    expect(got.map((e) => e.data.jobId)).not.toContain(other);
    const cursor = got.at(-1)?.id as string;
    dash.close();

    g2.open();
    await waitUntil(async () => (await jobState(mine)) === 'completed', 'completed');
    const again = await connect(`/api/events?queue=backup,scan&serverId=${s2}`, { ...auth(), 'last-event-id': cursor });
    const resumed = await again.collect((e) => e.event === 'ready');
    expect(summary(resumed)).toEqual(['progress:33', 'completed', 'ready']);
  });
});

describe('one QueueEvents per queue, shared by every client', () => {
  it('50 more SSE clients open no queue connection, and each receives the events', async () => {
    const gates = [gate(), gate()];
    const id = await backup(s1, [{ wait: gates[0]!.promise }, { progress: 55 }, { wait: gates[1]!.promise }]);
    const onPostgres = t.env.QUEUE_BACKEND === 'postgres';
    // Redis: the clients Redis lists as ours. PostgreSQL: our sockets to it (the records' pool included, hence the slack below).
    const connections = async () => (onPostgres ? localPortsTo(Number(new URL(t.database.url).port || 5432)).size : ownRedisClients(t.redis.redis));
    const cold = await connections();
    const warm = await connect('/api/events');
    await warm.next();
    const before = await connections();
    // At most one connection per queue for the whole process (fewer if an earlier test opened some).
    expect(before - cold).toBeLessThanOrEqual(onPostgres ? 3 * 4 : 3);

    const crowd = await Promise.all(Array.from({ length: 50 }, (_, i) => connect(i % 2 ? '/api/events?queue=backup' : `/api/jobs/${id}/events`)));
    await Promise.all(crowd.map((c) => c.next()));
    const after = await connections();
    if (onPostgres) expect(after - before).toBeLessThan(10);
    else expect(after).toBe(before);
    expect(t.app.events.sourceCount).toBe(3);
    expect(t.app.events.subscriberCount).toBeGreaterThanOrEqual(51);

    gates[0]!.open();
    const received = await Promise.all(crowd.map((c) => c.collect((e) => e.event === 'progress' && e.data.progress === 55)));
    expect(received.every((events) => events.at(-1)?.data.jobId === id)).toBe(true);
    gates[1]!.open();
    for (const c of crowd) c.close();
  });
});

describe('auth', () => {
  it('needs a token: the header, or ?access_token= on the SSE routes only', async () => {
    const anonymous = await connect('/api/events', {});
    expect(anonymous.status).toBe(401);
    const viaQuery = await connect(`/api/events?access_token=${t.tokens.viewer}`, {});
    expect(viaQuery.status).toBe(200);
    expect((await viaQuery.next())?.event).toBe('ready');
    const forged = await connect(`/api/events?access_token=${t.tokens.viewer}x`, {});
    expect(forged.status).toBe(401);
    const elsewhere = await fetch(`${base}/api/auth/me?access_token=${t.tokens.viewer}`);
    expect(elsewhere.status).toBe(401);
  });

  it('keeps ?access_token= out of the request log', async () => {
    const lines: string[] = [];
    const stream = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    const logged = await buildApp({ env: t.env, logger: { level: 'info', stream } });
    try {
      const res = await logged.inject({ method: 'GET', url: `/api/jobs/${randomUUID()}/events?access_token=${t.tokens.viewer}` });
      expect(res.statusCode).toBe(404);
      const incoming = lines.map((l) => JSON.parse(l) as { msg?: string; req?: { url?: string } }).find((l) => l.msg === 'request completed');
      expect(incoming?.req?.url).toMatch(/\/events\?\[redacted\]$/);
      expect(lines.join('\n')).not.toContain(t.tokens.viewer);
    } finally {
      await logged.close();
    }
  });
});
