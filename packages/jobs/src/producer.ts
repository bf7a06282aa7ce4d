import { randomUUID } from 'node:crypto';
import type { Job, JobsOptions, Queue } from 'bullmq';
import { catalog, queueAliases, type JobName, type PayloadOf, type QueueAlias } from './catalog.js';
import { validatePayload } from './payload-validation.js';
import { createQueue, type AnyQueueConfig } from './backend.js';
import { createRedisConnection } from './queue-factory.js';

/** What a caller may override per job; the id, name and queue always come from the catalog. */
export type EnqueueOptions = Omit<JobsOptions, 'jobId' | 'repeat'>;

export interface Producer {
  /** Validates the payload, applies the catalog's options, and adds the job with id = the payload's id field (or a random UUID). */
  enqueue<N extends JobName>(name: N, payload: PayloadOf<N>, opts?: EnqueueOptions): Promise<Job>;
  queue(alias: QueueAlias): Queue;
  readonly queues: Readonly<Record<QueueAlias, Queue>>;
  close(): Promise<void>;
}

/** Overrides for every job this producer adds (tests shrink `backoff` with it). */
export type ProducerConfig = AnyQueueConfig & { jobOptions?: EnqueueOptions };

export function createProducer(config: ProducerConfig): Producer {
  // A Redis URL is opened once and shared by every queue; a PostgreSQL config gives each queue its own small pool.
  const owned = 'connection' in config && typeof config.connection === 'string' ? createRedisConnection(config.connection, 'producer') : null;
  const { jobOptions, ...queueConfig } = config;
  const shared: AnyQueueConfig = owned ? { connection: owned, prefix: config.prefix } : queueConfig;
  const queues = Object.fromEntries(queueAliases.map((alias) => [alias, createQueue(alias, shared)])) as Record<
    QueueAlias,
    Queue
  >;
  let closing: Promise<void> | undefined;

  return {
    queues,
    queue: (alias) => queues[alias],
    async enqueue(name, payload, opts) {
      const data = validatePayload(name, payload);
      const def = catalog[name];
      const jobId = def.idField === null ? randomUUID() : ((data as Record<string, unknown>)[def.idField] as string);
      return queues[def.queue].add(name, data, { priority: def.priority, ...jobOptions, ...opts, jobId });
    },
    close() {
      closing ??= (async () => {
        await Promise.allSettled(Object.values(queues).map((q) => q.close()));
        owned?.disconnect();
      })();
      return closing;
    },
  };
}
