import { Gauge, type Registry } from 'prom-client';
import { queueAliases, type Producer, type QueueBackend } from '@mm/jobs';
import { withQueue } from '../shared/queue-guard.js';

// BullMQ's key names; `wait` is reported as `waiting`, as GET /api/jobs/:id names the state.
const STATES = ['wait', 'prioritized', 'active', 'delayed', 'completed', 'failed', 'waiting-children'] as const;

interface Snapshot {
  up: boolean;
  queues: { queue: string; counts: Record<string, number>; workers: number; paused: boolean }[];
}

/**
 * Queue depth by queue and state, workers and paused flag, read from the queue store when Prometheus scrapes
 * (never per request). One read serves the three gauges of a scrape; while the store is down they are
 * left empty and mm_redis_up is 0 (the name predates the PostgreSQL backend: it is the queue store's), so the
 * scrape itself still succeeds.
 */
export function registerQueueGauges(registry: Registry, producer: Producer, backend: QueueBackend): void {
  let pending: Promise<Snapshot> | undefined;
  const snapshot = (): Promise<Snapshot> => {
    pending ??= read().finally(() => setTimeout(() => (pending = undefined), 250).unref());
    return pending;
  };
  const read = async (): Promise<Snapshot> => {
    try {
      const queues = await withQueue(backend, () =>
        Promise.all(
          queueAliases.map(async (queue) => {
            const q = producer.queue(queue);
            const [counts, workers, paused] = await Promise.all([q.getJobCounts(...STATES), q.getWorkersCount(), q.isPaused()]);
            return { queue, counts, workers, paused };
          }),
        ),
      );
      return { up: true, queues };
    } catch {
      return { up: false, queues: [] };
    }
  };

  new Gauge({
    name: 'mm_queue_jobs',
    help: 'Jobs per queue and BullMQ state, read at scrape time',
    labelNames: ['queue', 'state'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const { queue, counts } of (await snapshot()).queues) {
        for (const [state, n] of Object.entries(counts)) this.set({ queue, state: state === 'wait' ? 'waiting' : state }, n);
      }
    },
  });
  new Gauge({
    name: 'mm_queue_workers',
    help: 'Worker connections BullMQ sees per queue',
    labelNames: ['queue'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const { queue, workers } of (await snapshot()).queues) this.set({ queue }, workers);
    },
  });
  new Gauge({
    name: 'mm_queue_paused',
    help: '1 while a queue is paused',
    labelNames: ['queue'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const { queue, paused } of (await snapshot()).queues) this.set({ queue }, paused ? 1 : 0);
    },
  });
  new Gauge({
    name: 'mm_redis_up',
    // Names no store: /metrics may be scraped without auth, and answers never name the database (hostile-input.test.ts).
    help: '1 if the last scrape could read the queues from the queue store',
    registers: [registry],
    async collect() {
      this.set((await snapshot()).up ? 1 : 0);
    },
  });
}
