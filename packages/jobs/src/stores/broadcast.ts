import { createHash } from 'node:crypto';
import pg from 'pg';
import { duplicateConnection, type RedisClient } from '../redis-client.js';

export interface BroadcastListener {
  message(payload: string): void;
  /** Subscribed (first time and after every reconnect): messages from now on are heard. */
  up(): void;
  /** Disconnected: messages sent until the next `up` may be missed. */
  down(): void;
  error(err: Error): void;
}

/**
 * Fire-and-forget messages to every process of the deployment (token revocations): Redis pub/sub, or PostgreSQL
 * `LISTEN`/`NOTIFY`. Neither keeps a message for a listener that is not connected; `down` and `up` tell the listener
 * when it could have missed one.
 */
export interface Broadcast {
  publish(channel: string, payload: string): Promise<void>;
  /** A listener on its own connection, reconnecting until closed; close() is safe twice. */
  listen(channel: string, listener: BroadcastListener): { close(): Promise<void> };
}

export function redisBroadcast(publisher: RedisClient): Broadcast {
  return {
    async publish(channel, payload) {
      await publisher.publish(channel, payload);
    },
    listen(channel, listener) {
      // Its own connection with an offline queue: a subscriber connection cannot run other commands. On a Redis Cluster
      // PUBLISH reaches the subscribers of every node, and ioredis moves the subscription to another node when its node
      // goes away; a message sent in that gap is missed like any other.
      const subscriber = duplicateConnection(publisher, { enableOfflineQueue: true, maxRetriesPerRequest: null, autoResubscribe: false });
      let closed = false;
      subscriber.on('message', (from: string, payload: string) => {
        if (from === channel) listener.message(payload);
      });
      subscriber.on('ready', () => {
        subscriber.subscribe(channel).then(
          () => {
            if (!closed) listener.up();
          },
          (err: unknown) => listener.error(err as Error),
        );
      });
      subscriber.on('close', () => listener.down());
      subscriber.on('error', (err: Error) => listener.error(err));
      return {
        async close() {
          if (closed) return;
          closed = true;
          subscriber.disconnect();
        },
      };
    },
  };
}

/** PostgreSQL channel names are identifiers (63 bytes at most): a longer name is replaced by a digest of it. */
export function postgresChannel(channel: string): string {
  return Buffer.byteLength(channel) <= 63 ? channel : `mm_${createHash('sha256').update(channel).digest('hex').slice(0, 40)}`;
}

const reconnectDelay = (attempt: number) => Math.min(attempt * 200, 2_000);

export function postgresBroadcast(pool: pg.Pool, databaseUrl: string): Broadcast {
  return {
    async publish(channel, payload) {
      await pool.query('SELECT pg_notify($1, $2)', [postgresChannel(channel), payload]);
    },
    listen(channel, listener) {
      const name = postgresChannel(channel);
      let closed = false;
      let client: pg.Client | undefined;
      let timer: NodeJS.Timeout | undefined;
      let attempt = 0;
      const lost = (c: pg.Client) => {
        if (client !== c) return;
        client = undefined;
        listener.down();
        c.end().catch(() => {});
        if (!closed) timer = setTimeout(() => void connect(), reconnectDelay(++attempt));
      };
      const connect = async () => {
        timer = undefined;
        const c = new pg.Client({ connectionString: databaseUrl, connectionTimeoutMillis: 5_000, keepAlive: true });
        client = c;
        c.on('error', (err) => {
          listener.error(err);
          lost(c);
        });
        c.on('end', () => lost(c));
        c.on('notification', (msg) => {
          if (msg.channel === name && msg.payload !== undefined) listener.message(msg.payload);
        });
        try {
          await c.connect();
          await c.query(`LISTEN "${name.replaceAll('"', '""')}"`);
          if (closed || client !== c) return;
          attempt = 0;
          listener.up();
        } catch (err) {
          listener.error(err as Error);
          lost(c);
        }
      };
      void connect();
      return {
        async close() {
          if (closed) return;
          closed = true;
          clearTimeout(timer);
          const c = client;
          client = undefined;
          listener.down();
          await c?.end().catch(() => {});
        },
      };
    },
  };
}
