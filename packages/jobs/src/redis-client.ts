import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';

/**
 * A connection to the queue's Redis: one Redis, or a Redis Cluster (REDIS_CLUSTER=true). Both speak the same commands;
 * what differs (duplicating, per-node sockets, routing of keyless commands) goes through the helpers below.
 */
export type RedisClient = Redis | Cluster;

export function isCluster(client: RedisClient): client is Cluster {
  return (client as { isCluster?: boolean }).isCluster === true;
}

/** What a role changes on a connection: fail fast (producer) or wait for Redis forever (worker, blocking reads). */
export interface ConnectionTuning {
  maxRetriesPerRequest: number | null;
  enableOfflineQueue: boolean;
  lazyConnect?: boolean;
}

const CONNECT_TIMEOUT_MS = 5_000;
const reconnectDelay = (times: number) => Math.min(times * 200, 2_000);

/** The seed nodes of a comma-separated REDIS_URL, and the options every node shares (credentials, TLS, database 0). */
export function clusterSeeds(urls: string): { nodes: { host: string; port: number }[]; nodeOptions: Omit<RedisOptions, 'port' | 'host'> } {
  const parsed = urls.split(',').map((u) => new URL(u.trim()));
  const first = parsed[0];
  if (!first) throw new Error('REDIS_URL names no seed node');
  const nodes = parsed.map((u) => ({ host: u.hostname.replace(/^\[(.*)\]$/, '$1'), port: u.port === '' ? 6379 : Number(u.port) }));
  // One cluster has one set of credentials: the first seed's are used for every node ioredis discovers.
  const nodeOptions: Omit<RedisOptions, 'port' | 'host'> = {
    ...(first.username ? { username: decodeURIComponent(first.username) } : {}),
    ...(first.password ? { password: decodeURIComponent(first.password) } : {}),
    ...(first.protocol === 'rediss:' ? { tls: {} } : {}),
  };
  return { nodes, nodeOptions };
}

export function createClusterClient(urls: string, tuning: ConnectionTuning): Cluster {
  const { nodes, nodeOptions } = clusterSeeds(urls);
  const options: ClusterOptions = {
    // Cluster-level: commands wait (worker) or fail at once (producer) while no slot map is known.
    enableOfflineQueue: tuning.enableOfflineQueue,
    lazyConnect: tuning.lazyConnect ?? false,
    clusterRetryStrategy: reconnectDelay,
    redisOptions: { ...nodeOptions, connectTimeout: CONNECT_TIMEOUT_MS, maxRetriesPerRequest: tuning.maxRetriesPerRequest },
  };
  return new Cluster(nodes, options);
}

export function createStandaloneClient(url: string, tuning: ConnectionTuning): Redis {
  return new Redis(url, {
    maxRetriesPerRequest: tuning.maxRetriesPerRequest,
    enableOfflineQueue: tuning.enableOfflineQueue,
    connectTimeout: CONNECT_TIMEOUT_MS,
    retryStrategy: reconnectDelay,
    lazyConnect: tuning.lazyConnect ?? false,
  });
}

/**
 * A new connection to the same Redis or cluster with other tuning (a subscriber, a blocking reader). ioredis' own
 * `duplicate` takes options in a different place for a cluster (`duplicate(nodes, { redisOptions })`).
 */
export function duplicateConnection(client: RedisClient, tuning: ConnectionTuning & { autoResubscribe?: boolean }): RedisClient {
  const { maxRetriesPerRequest, enableOfflineQueue, lazyConnect = false, autoResubscribe } = tuning;
  if (!isCluster(client)) return client.duplicate({ maxRetriesPerRequest, enableOfflineQueue, lazyConnect, ...(autoResubscribe === undefined ? {} : { autoResubscribe }) });
  return client.duplicate(undefined, {
    enableOfflineQueue,
    lazyConnect,
    redisOptions: { ...client.options.redisOptions, maxRetriesPerRequest },
  });
}

/**
 * A cheap round trip that proves the queues' Redis answers. On a cluster a PING goes to any node, which says nothing
 * about the master holding the queues: a keyed read goes to the node owning the prefix's hash slot instead.
 */
export async function pingQueueRedis(client: RedisClient, prefix: string): Promise<void> {
  if (isCluster(client)) await client.exists(`${prefix}:mm:ping`);
  else await client.ping();
}

