import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, startRedisServer, type ChildServer } from '@mm/testing';

/** A redis-server of the test's own, with AOF on, that can be stopped and started again on the same port and data. */
export interface OwnRedis {
  url: string;
  port: number;
  start(): Promise<void>;
  /** SIGTERM: Redis flushes the AOF and exits, as on a restart by the operator. */
  stop(): Promise<void>;
  /** Stops it and removes its data dir. Safe twice. */
  destroy(): Promise<void>;
}

function launch(port: number, dir: string): Promise<ChildServer> {
  return startRedisServer(['--port', String(port), '--bind', '127.0.0.1', '--appendonly', 'yes', '--dir', dir, '--save', '', '--maxmemory-policy', 'noeviction']);
}

export async function startOwnRedis(): Promise<OwnRedis> {
  const dir = await mkdtemp(join(tmpdir(), 'mm-reliability-redis-'));
  const port = await freePort();
  let server: ChildServer | undefined;
  const stop = async () => {
    const running = server;
    server = undefined;
    await running?.stop();
  };
  const own: OwnRedis = {
    url: `redis://127.0.0.1:${port}`,
    port,
    async start() {
      if (server) return;
      server = await launch(port, dir);
    },
    stop,
    async destroy() {
      await stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
  try {
    await own.start();
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  return own;
}
