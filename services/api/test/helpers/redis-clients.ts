import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import type { Redis } from 'ioredis';

/** Local TCP ports of this process's sockets connected to `remotePort` (Linux /proc: socket inodes of our fds). */
export function localPortsTo(remotePort: number): Set<number> {
  const inodes = new Set<string>();
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/self/fd/${fd}`));
      if (m?.[1]) inodes.add(m[1]);
    } catch {
      // the fd closed while we listed it
    }
  }
  const ports = new Set<number>();
  const want = remotePort.toString(16).toUpperCase().padStart(4, '0');
  for (const file of ['/proc/self/net/tcp', '/proc/self/net/tcp6']) {
    for (const line of readFileSync(file, 'utf8').split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      const [local, remote, inode] = [cols[1], cols[2], cols[9]];
      if (!local || !remote || !inode || !inodes.has(inode)) continue;
      if (remote.split(':')[1] === want) ports.add(parseInt(local.split(':')[1] as string, 16));
    }
  }
  return ports;
}

/**
 * The Redis clients (as CLIENT LIST reports them) opened by this test process. Other test files run
 * in other processes against the same Redis, so the whole list is not ours to count.
 */
export async function ownRedisClients(redis: Redis, redisPort = 6379): Promise<number> {
  const ours = localPortsTo(redisPort);
  const list = (await redis.call('CLIENT', 'LIST')) as string;
  return list
    .split('\n')
    .map((line) => /\baddr=[^ ]*:(\d+)\b/.exec(line)?.[1])
    .filter((port): port is string => port !== undefined && ours.has(Number(port))).length;
}
