import { queueAliases, type Producer, type QueueAlias } from '@mm/jobs';

export interface QueueCounts {
  /** Includes `prioritized`: every job carries a priority, so BullMQ keeps waiting jobs in its prioritized set. */
  waiting: number;
  active: number;
  completed: number;
  failed: number;
  delayed: number;
  total: number;
}

export type HealthStatus = 'healthy' | 'degraded' | 'unhealthy';
export type QueueMetrics = Record<QueueAlias, QueueCounts> & { health: { status: HealthStatus; message: string } };

export async function queueCounts(producer: Producer, queue: QueueAlias): Promise<QueueCounts> {
  const c = await producer.queue(queue).getJobCounts('wait', 'prioritized', 'active', 'completed', 'failed', 'delayed');
  const waiting = (c.wait ?? 0) + (c.prioritized ?? 0);
  const active = c.active ?? 0;
  const completed = c.completed ?? 0;
  const failed = c.failed ?? 0;
  const delayed = c.delayed ?? 0;
  return { waiting, active, completed, failed, delayed, total: waiting + active + completed + failed + delayed };
}

/** The seed's `/api/metrics/queues`: counts per queue, and degraded when a queue backs up or waits without a worker. */
export async function queueMetrics(producer: Producer, degradedThreshold: number): Promise<QueueMetrics> {
  const per = await Promise.all(
    queueAliases.map(async (queue) => {
      const [counts, workers] = await Promise.all([queueCounts(producer, queue), producer.queue(queue).getWorkersCount()]);
      return { queue, counts, workers };
    }),
  );
  const problems: string[] = [];
  const jobs = (n: number) => `${n} waiting job${n === 1 ? '' : 's'}`;
  for (const { queue, counts, workers } of per) {
    if (counts.waiting > degradedThreshold) problems.push(`${queue} queue has ${jobs(counts.waiting)} (threshold ${degradedThreshold})`);
    else if (counts.waiting > 0 && workers === 0) problems.push(`${queue} queue has ${jobs(counts.waiting)} and no worker connected`);
  }
  const health =
    problems.length > 0
      ? { status: 'degraded' as const, message: `${problems.join('; ')}.` }
      : { status: 'healthy' as const, message: 'All queues operating normally' };
  return { ...(Object.fromEntries(per.map((p) => [p.queue, p.counts])) as Record<QueueAlias, QueueCounts>), health };
}
