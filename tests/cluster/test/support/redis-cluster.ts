import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { startRedisServer, waitFor, type ChildServer } from '@mm/testing';

const run = promisify(execFile);

/** A Redis Cluster of the test's own: masters only (no replicas), on loopback, data in a temporary folder. */
export interface TestRedisCluster {
  ports: number[];
  /** The seed nodes as REDIS_URL takes them with REDIS_CLUSTER=true: comma-separated. */
  url: string;
  /** The port of the master serving `key`'s hash slot. */
  masterOf(key: string): Promise<number>;
  /** SIGKILLs the master on `port` (no replica takes over: its slots stay down). */
  kill(port: number): Promise<void>;
  /** The keys each running master holds, by port (a cluster has no cluster-wide SCAN: one per master). */
  keysPerNode(): Promise<Map<number, string[]>>;
  /** Kills every node and removes the data folder. Safe twice. */
  destroy(): Promise<void>;
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** A client port whose cluster bus port (port + 10000, Redis' fixed offset) is free as well. */
async function clusterPort(taken: Set<number>): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const port = 20_000 + Math.floor(Math.random() * 10_000);
    if (taken.has(port)) continue;
    if ((await portFree(port)) && (await portFree(port + 10_000))) return port;
  }
  throw new Error('no free port pair for a cluster node');
}

function launch(port: number, dir: string): Promise<ChildServer> {
  const args = [
    '--port', String(port),
    '--bind', '127.0.0.1',
    '--cluster-enabled', 'yes',
    '--cluster-config-file', join(dir, `nodes-${port}.conf`),
    // A dead master is marked failed (cluster_state:fail everywhere) after this long.
    '--cluster-node-timeout', '2000',
    '--dir', dir,
    '--save', '',
    '--appendonly', 'no',
    '--maxmemory-policy', 'noeviction',
  ];
  return startRedisServer(args);
}

/** SIGKILL, as a crash: no replica takes over. */
async function kill({ child }: ChildServer): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGKILL');
  await exited;
}

async function clusterState(port: number): Promise<string> {
  const { stdout } = await run('redis-cli', ['-p', String(port), 'cluster', 'info']);
  return /^cluster_state:(\w+)/m.exec(stdout)?.[1] ?? 'unknown';
}

export async function startTestRedisCluster(masters = 3): Promise<TestRedisCluster> {
  const dir = await mkdtemp(join(tmpdir(), 'mm-redis-cluster-'));
  const nodes = new Map<number, ChildServer>();
  const destroy = async () => {
    await Promise.all([...nodes.values()].map(kill));
    nodes.clear();
    await rm(dir, { recursive: true, force: true });
  };
  try {
    const ports: number[] = [];
    const taken = new Set<number>();
    for (let i = 0; i < masters; i++) {
      const port = await clusterPort(taken);
      taken.add(port);
      ports.push(port);
    }
    await Promise.all(ports.map(async (port) => nodes.set(port, await launch(port, dir))));
    await run('redis-cli', ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes']);
    // `create` returns once the slots are assigned; every node must also have heard of the others.
    await waitFor(async () => (await Promise.all(ports.map(clusterState))).every((s) => s === 'ok'), 'cluster_state:ok on every node', 30_000);

    const admin = (port: number) => new Redis(port, '127.0.0.1', { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    const withNode = async <T>(port: number, use: (redis: Redis) => Promise<T>): Promise<T> => {
      const redis = admin(port);
      redis.on('error', () => undefined);
      try {
        await redis.connect();
        return await use(redis);
      } finally {
        redis.disconnect();
      }
    };
    const alive = () => [...nodes.entries()].filter(([, { child: c }]) => c.exitCode === null && c.signalCode === null).map(([p]) => p);

    return {
      ports,
      url: ports.map((p) => `redis://127.0.0.1:${p}`).join(','),
      async masterOf(key) {
        return withNode(alive()[0] as number, async (redis) => {
          const slot = (await redis.cluster('KEYSLOT', key)) as number;
          const ranges = await redis.cluster('SLOTS');
          const master = ranges.find(([from, to]) => slot >= from && slot <= to)?.[2];
          if (!master) throw new Error(`no master serves slot ${slot}`);
          return master[1];
        });
      },
      async kill(port) {
        const node = nodes.get(port);
        if (node) await kill(node);
      },
      async keysPerNode() {
        const ports = alive();
        const perNode = await Promise.all(
          ports.map((port) =>
            withNode(port, async (redis) => {
              const keys: string[] = [];
              let cursor = '0';
              do {
                const [next, batch] = await redis.scan(cursor, 'COUNT', 1000);
                keys.push(...batch);
                cursor = next;
              } while (cursor !== '0');
              return keys;
            }),
          ),
        );
        return new Map(ports.map((port, i) => [port, perNode[i] as string[]]));
      },
      destroy,
    };
  } catch (err) {
    await destroy();
    throw err;
  }
}
