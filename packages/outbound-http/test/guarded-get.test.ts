import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { guardedGet, parseAllowedHosts, type PublicUrlPolicy } from '../src/index.js';

// A real HTTP server on loopback stands for the endpoint; the policy decides whether the guard lets the GET reach it.

let server: Server;
let base: string;
const hits: string[] = [];

const policy = (allowedHosts: string): PublicUrlPolicy => ({ allowPrivate: false, allowedHosts: parseAllowedHosts(allowedHosts), subject: 'rollout gate URLs', allowSetting: 'GATE_HTTP_ALLOWED_HOSTS' });
const get = (path: string, p: PublicUrlPolicy, timeoutMs = 5_000) => guardedGet(`${base}${path}`, { policy: p, timeoutMs, userAgent: 'mm-test' });

beforeAll(async () => {
  server = createServer((req, res) => {
    hits.push(req.url ?? '');
    if (req.url === '/ok') return res.writeHead(200).end('fine');
    if (req.url === '/redirect') return res.writeHead(302, { location: '/ok' }).end();
    if (req.url === '/silent') return; // never answers
    if (req.url === '/endless') {
      // Writes for as long as the client reads: the guard must not read it.
      const chunk = Buffer.alloc(64 * 1024, 'x');
      res.writeHead(200);
      const pump = () => {
        while (!res.destroyed && res.write(chunk)) {
          /* until the socket is full */
        }
        if (!res.destroyed) res.once('drain', pump);
      };
      pump();
      return;
    }
    res.writeHead(503).end('down');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

describe('guardedGet', () => {
  it('refuses a loopback address unless the policy names the host, without connecting', async () => {
    hits.length = 0;
    const refused = await get('/ok', policy(''));
    expect(refused).toEqual({
      ok: false,
      statusCode: null,
      error: '127.0.0.1 is a loopback, private, link-local or metadata address; rollout gate URLs may only reach public hosts unless GATE_HTTP_ALLOWED_HOSTS names it',
    });
    expect(hits).toEqual([]);
  });

  it('refuses a name that resolves to loopback on the address it would connect to', async () => {
    hits.length = 0;
    const port = (server.address() as AddressInfo).port;
    const res = await guardedGet(`http://localhost:${port}/ok`, { policy: policy(''), timeoutMs: 5_000, userAgent: 'mm-test' });
    expect(res.ok).toBe(false);
    expect(res.error).toMatch(/^localhost \(resolves to (127\.0\.0\.1|::1)\) is a loopback/);
    expect(hits).toEqual([]);
  });

  it('passes a 2xx, fails anything else (a redirect is not followed)', async () => {
    hits.length = 0;
    expect(await get('/ok', policy('127.0.0.1'))).toEqual({ ok: true, statusCode: 200, error: null });
    expect(await get('/down', policy('127.0.0.1'))).toEqual({ ok: false, statusCode: 503, error: 'answered HTTP 503' });
    expect(await get('/redirect', policy('127.0.0.1'))).toEqual({ ok: false, statusCode: 302, error: 'answered HTTP 302' });
    expect(hits).toEqual(['/ok', '/down', '/redirect']);
  });

  it('gives up on an endpoint that never answers, and never reads an endless body', async () => {
    expect(await get('/silent', policy('127.0.0.1'), 300)).toEqual({ ok: false, statusCode: null, error: 'no answer within 300 ms' });
    expect(await get('/endless', policy('127.0.0.1'))).toEqual({ ok: true, statusCode: 200, error: null });
  });

  it('refuses URLs that are not http(s) or carry credentials', async () => {
    expect((await guardedGet('file:///etc/passwd', { policy: policy('127.0.0.1'), timeoutMs: 1_000, userAgent: 'mm-test' })).error).toBe('url must use http or https');
    expect((await guardedGet(`http://u:p@127.0.0.1/`, { policy: policy('127.0.0.1'), timeoutMs: 1_000, userAgent: 'mm-test' })).error).toBe('url must not embed credentials');
  });
});
