import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QueueEventsProducer } from 'bullmq';
import { users } from '@mm/db';
import { QueueName } from '@mm/jobs';
import { hashPassword } from '../src/shared/passwords.js';
import { createTestApp, type TestApp } from './helpers/test-app.js';
import { openSse, type SseClient } from './helpers/sse-client.js';
import { waitUntil } from './helpers/throwaway-worker.js';

// Issue #12: streams are capped per user and overall, a client that stops reading cannot make the API buffer without
// bound, and a stream ends when its user is deleted or its token expires.

let t: TestApp;
let base: string;
const clients: SseClient[] = [];

beforeAll(async () => {
  t = await createTestApp({ SSE_MAX_STREAMS_PER_USER: '2', SSE_MAX_STREAMS: '4', SSE_MAX_BUFFER_BYTES: '65536' });
  base = await t.app.listen({ port: 0, host: '127.0.0.1' });
});
afterAll(async () => {
  for (const c of clients) c.close();
  await t?.close();
});

async function open(token: string, path = '/api/events'): Promise<SseClient> {
  const client = await openSse(`${base}${path}`, { authorization: `Bearer ${token}` });
  clients.push(client);
  return client;
}

const closeAll = async () => {
  for (const c of clients.splice(0)) c.close();
  await waitUntil(async () => t.app.sseStreams.size === 0, 'every stream to close');
};

describe('stream caps', () => {
  it('a user past SSE_MAX_STREAMS_PER_USER gets 429 in the envelope; others still connect; a closed stream frees a slot', async () => {
    const a = await open(t.tokens.viewer);
    const b = await open(t.tokens.viewer);
    expect([a.status, b.status]).toEqual([200, 200]);
    expect((await a.next())?.event).toBe('ready');

    const third = await fetch(`${base}/api/events`, { headers: { authorization: `Bearer ${t.tokens.viewer}` } });
    expect(third.status).toBe(429);
    expect(await third.json()).toMatchObject({ success: false, error: { code: 'RATE_LIMITED' } });
    // The per-job stream counts as well.
    const perJob = await fetch(`${base}/api/jobs/00000000-0000-4000-8000-000000000000/events`, { headers: { authorization: `Bearer ${t.tokens.viewer}` } });
    expect(perJob.status).toBe(429);

    const operator = await open(t.tokens.operator);
    expect(operator.status).toBe(200);

    a.close();
    await waitUntil(async () => t.app.sseStreams.size === 2, 'the closed stream to be let go');
    const again = await open(t.tokens.viewer);
    expect(again.status).toBe(200);
    await closeAll();
  });

  it('past SSE_MAX_STREAMS in all, anyone gets 429', async () => {
    for (const role of ['viewer', 'viewer', 'operator', 'operator'] as const) expect((await open(t.tokens[role])).status).toBe(200);
    const admin = await fetch(`${base}/api/events`, { headers: { authorization: `Bearer ${t.tokens.admin}` } });
    expect(admin.status).toBe(429);
    expect(((await admin.json()) as { error: { message: string } }).error.message).toMatch(/stream/i);
    await closeAll();
  });
});

describe('slow consumers', () => {
  it('a client that stops reading is cut off once its buffer passes SSE_MAX_BUFFER_BYTES; a reading client keeps its stream', async () => {
    const reader = await open(t.tokens.operator);
    expect((await reader.next())?.event).toBe('ready');
    // A client that reads the headers, then nothing more.
    const stalled = await new Promise<http.IncomingMessage>((resolve, reject) => {
      http.get(`${base}/api/events`, { headers: { authorization: `Bearer ${t.tokens.viewer}` } }, resolve).on('error', reject);
    });
    expect(stalled.statusCode).toBe(200);
    stalled.pause();
    await waitUntil(async () => t.app.sseStreams.size === 2, 'both streams to be open');

    const producer = new QueueEventsProducer(QueueName.backup, { connection: t.redis.redis, prefix: t.redis.prefix });
    // Lines well under SSE_MAX_BUFFER_BYTES (64 KiB): the reading client, in this same process, is cut off only if it falls
    // several events behind, not when two events happen to be written in one tick before it gets a turn to read.
    const line = 'x'.repeat(12_000);
    let received = 0;
    const reading = (async () => {
      for (let e = await reader.next(); e; e = await reader.next()) if (e.event === 'log') received++;
    })();
    try {
      // Far more than loopback socket buffers hold (a few MB): the API must either drop the stalled client or buffer it all.
      for (let i = 0; i < 2_400 && t.app.sseStreams.size === 2; i++) {
        await producer.publishEvent({ eventName: 'log', jobId: `slow-${i}`, line });
      }
      await waitUntil(async () => t.app.sseStreams.size === 1, 'the stalled stream to be closed');
      await waitUntil(async () => received > 0, 'the reading client to receive');
    } finally {
      await producer.close();
      stalled.destroy();
    }
    expect(t.app.sseStreams.size).toBe(1);
    reader.close();
    await reading;
    await closeAll();
  });
});

describe('streams end with their authority', () => {
  it("closes a user's open streams when the user is deleted", async () => {
    const [row] = await t.database.db
      .insert(users)
      .values({ email: 'doomed@example.test', passwordHash: await hashPassword('a-long-enough-password'), role: 'viewer' })
      .returning();
    const token = t.app.jwt.sign({ sub: row?.id as string, role: 'viewer' });
    const client = await open(token);
    expect((await client.next())?.event).toBe('ready');
    const deleted = await t.call('admin', { method: 'DELETE', url: `/api/users/${row?.id}` });
    expect(deleted.statusCode, deleted.body).toBe(200);
    const rest = await client.collect();
    expect(rest.map((e) => e.event)).toEqual(['error']);
    expect(rest[0]?.data.message).toMatch(/no longer exists/);
    await closeAll();
  });

  it('closes a stream when its token expires', async () => {
    const token = t.app.jwt.sign({ sub: t.userIds.viewer, role: 'viewer' }, { expiresIn: 2 });
    const client = await open(token);
    expect((await client.next())?.event).toBe('ready');
    const rest = await client.collect();
    expect(rest.map((e) => e.event)).toEqual(['error']);
    expect(rest[0]?.data.message).toMatch(/expired/);
    await closeAll();
  });
});
