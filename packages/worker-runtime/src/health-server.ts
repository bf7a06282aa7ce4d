import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

/** A named dependency check: resolves when it is reachable, rejects (or times out) when not. */
export type DependencyCheck = () => Promise<unknown>;

export interface HealthServerOptions {
  host: string;
  port: number;
  checks: Record<string, DependencyCheck>;
  /** Per check; a dependency that hangs counts as down. */
  timeoutMs?: number;
  /** Served at GET /metrics in Prometheus' text format when given. */
  metrics?: Registry;
}

export interface HealthServer {
  port: number;
  close(): Promise<void>;
}

function withTimeout(check: DependencyCheck, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  return Promise.race([check().then(() => true, () => false), timeout]).finally(() => clearTimeout(timer));
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body));
}

/**
 * GET /health: 200 {status:'ok', <dep>:'up', ...} only when every dependency answers, else 503 naming what is down.
 * GET /metrics: the worker's Prometheus metrics (no auth, like the API's by default: keep the port private).
 * Plain node:http on purpose: a probe must not depend on anything that can break.
 */
export async function startHealthServer(opts: HealthServerOptions): Promise<HealthServer> {
  const timeoutMs = opts.timeoutMs ?? 2_000;
  const routes: Record<string, (req: IncomingMessage, res: ServerResponse) => Promise<void>> = {
    '/health': async (_req, res) => {
      const names = Object.keys(opts.checks);
      const results = await Promise.all(names.map((name) => withTimeout(opts.checks[name] as DependencyCheck, timeoutMs)));
      const body: Record<string, string> = {};
      names.forEach((name, i) => (body[name] = results[i] ? 'up' : 'down'));
      const down = names.filter((_, i) => !results[i]);
      if (down.length === 0) send(res, 200, { status: 'ok', ...body });
      else send(res, 503, { status: 'error', ...body, down });
    },
  };
  const registry = opts.metrics;
  if (registry) {
    routes['/metrics'] = async (_req, res) => {
      const text = await registry.metrics();
      res.writeHead(200, { 'content-type': registry.contentType, 'cache-control': 'no-store' });
      res.end(text);
    };
  }

  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    const route = routes[path];
    if (req.method !== 'GET' || !route) {
      send(res, req.method !== 'GET' && route ? 405 : 404, { status: 'error', message: 'not found' });
      return;
    }
    route(req, res).catch(() => send(res, 500, { status: 'error' }));
  });
  // Probes must not hold a shutting-down worker open.
  server.keepAliveTimeout = 1_000;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      resolve();
    });
  });

  let closing: Promise<void> | undefined;
  return {
    port: (server.address() as AddressInfo).port,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}
