import { describe, expect, it } from 'vitest';
import { checkRedis, clusterSeeds, createRedisConnection, isCluster, RedisUnavailableError } from '../src/index.js';

// Connection helpers for REDIS_CLUSTER=true. The end-to-end proof on a real cluster is tests/cluster.

describe('clusterSeeds', () => {
  it('reads every seed node and takes credentials and TLS from the first', () => {
    const { nodes, nodeOptions } = clusterSeeds('rediss://app:s%3Acret@10.0.0.1:7001, redis://10.0.0.2, rediss://[fd00::3]:7003');
    expect(nodes).toEqual([
      { host: '10.0.0.1', port: 7001 },
      { host: '10.0.0.2', port: 6379 },
      { host: 'fd00::3', port: 7003 },
    ]);
    expect(nodeOptions).toEqual({ username: 'app', password: 's:cret', tls: {} });
    expect(clusterSeeds('redis://10.0.0.1:7001').nodeOptions).toEqual({});
  });
});

describe('createRedisConnection', () => {
  it('makes an ioredis Cluster only in cluster mode', () => {
    const single = createRedisConnection('redis://127.0.0.1:1', 'producer');
    const cluster = createRedisConnection('redis://127.0.0.1:1,redis://127.0.0.1:2', 'worker', { cluster: true });
    for (const c of [single, cluster]) c.on('error', () => undefined);
    try {
      expect([isCluster(single), isCluster(cluster)]).toEqual([false, true]);
      // A worker waits for Redis (BullMQ requires it of blocking connections); the cluster carries it to every node.
      expect(isCluster(cluster) ? cluster.options.redisOptions?.maxRetriesPerRequest : 'not a cluster').toBeNull();
    } finally {
      single.disconnect();
      cluster.disconnect();
    }
  });
});

describe('checkRedis in cluster mode', () => {
  it('refuses a Redis that is not a cluster and seeds nobody listens on, in one line naming the seeds', async () => {
    // The shared test Redis answers, but as a single Redis: no slot map.
    await expect(checkRedis('redis://127.0.0.1:6379', { cluster: true, timeoutMs: 2_000 })).rejects.toThrow(
      new RedisUnavailableError('Redis Cluster is not answering with cluster_state:ok at 127.0.0.1:6379. Start it (and every master of it) or set REDIS_URL.'),
    );
    await expect(checkRedis('redis://127.0.0.1:1,redis://127.0.0.1:2', { cluster: true, timeoutMs: 2_000 })).rejects.toThrow(/at 127\.0\.0\.1:1, 127\.0\.0\.1:2\. /);
  });
});
