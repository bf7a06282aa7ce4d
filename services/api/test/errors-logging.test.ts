import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../src/app.js';
import { createTestApp, PASSWORD, sshKeyAuth, type TestApp } from './helpers/test-app.js';

let t: TestApp;
let app: FastifyInstance;
const lines: string[] = [];

beforeAll(async () => {
  t = await createTestApp();
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  app = await buildApp({ env: t.env, logger: { level: 'trace', stream } });
  // A route that fails the way a bug would, to see what the client and the log get.
  app.get('/api/test-boom', async () => {
    throw new Error('internal detail: connection string postgres://secret@db');
  });
  await app.ready();
});
afterAll(async () => {
  await app?.close();
  await t?.close();
});

describe('errors and logs', () => {
  it('a 5xx hides its message from the client and is logged with the request id', async () => {
    const res = await app.inject({ method: 'GET', url: '/api/test-boom', headers: { authorization: `Bearer ${t.tokens.viewer}`, 'x-request-id': 'req-boom-1' } });
    expect(res.statusCode).toBe(500);
    expect(res.json()).toEqual({ success: false, error: { code: 'INTERNAL_ERROR', message: 'An unexpected error occurred.' } });
    expect(res.body).not.toContain('internal detail');
    expect(res.headers['x-request-id']).toBe('req-boom-1');
    const logged = lines.map((l) => JSON.parse(l) as { reqId?: string; msg?: string; err?: { message?: string } }).find((l) => l.msg === 'request failed');
    expect(logged?.reqId).toBe('req-boom-1');
    expect(logged?.err?.message).toContain('internal detail');
  });

  it('no password, private key, passphrase or token reaches the log, even at trace level', async () => {
    const auth = { authorization: `Bearer ${t.tokens.operator}` };
    const created = await app.inject({
      method: 'POST',
      url: '/api/servers',
      headers: auth,
      payload: { name: 'log-check', host: '127.0.0.1', username: 'u', auth: { ...sshKeyAuth, passphrase: 'passphrase-in-body-xyz' } },
    });
    expect(created.statusCode).toBe(201);
    await app.inject({ method: 'PATCH', url: `/api/servers/${created.json().data.id}`, headers: auth, payload: { auth: { type: 'password', password: 'server-pass-in-body-xyz' } } });
    await app.inject({ method: 'POST', url: '/api/auth/login', payload: { email: 'operator@example.test', password: 'wrong-pass-in-body-xyz' } });
    const ok = await app.inject({ method: 'POST', url: '/api/auth/login', payload: { email: 'operator@example.test', password: PASSWORD } });
    const log = lines.join('\n');
    expect(lines.length).toBeGreaterThan(5);
    for (const secret of ['passphrase-in-body-xyz', 'server-pass-in-body-xyz', 'wrong-pass-in-body-xyz', PASSWORD, 'not-a-real-key', t.tokens.operator, ok.json().data.token as string]) {
      expect(log).not.toContain(secret);
    }
  });
});
