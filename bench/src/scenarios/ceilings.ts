import { bullmqAddRate, bullmqNoopRate } from '../baselines/bullmq-rates.js';
import { redisSetRate } from '../baselines/redis-benchmark.js';
import { compare, type Measure, type Metric, type Scenario } from '../core/scenario.js';
import { median } from '../core/stats.js';
import { createBenchRedis } from '../fixtures/bench-queue.js';

function measure(label: string, samples: number[]): Measure {
  return { label, median: median(samples), samples };
}

export const ceilings: Scenario = {
  id: 'ceilings',
  title: 'Raw ceilings: Redis SET, BullMQ add and no-op processing',
  async run(config) {
    const set: number[] = [];
    const add: number[] = [];
    const noop5: number[] = [];
    const noop50: number[] = [];
    for (let round = 0; round < config.rounds; round++) {
      set.push(await redisSetRate(config.redisBenchmarkRequests));
      const redis = createBenchRedis('ceilings');
      try {
        add.push(await bullmqAddRate(redis, config.ceilingJobs));
        noop5.push(await bullmqNoopRate(redis, config.ceilingJobs, 5));
        noop50.push(await bullmqNoopRate(redis, config.ceilingJobs, 50));
      } finally {
        await redis.cleanup();
      }
      config.log(`ceilings round ${round + 1}: SET ${set.at(-1)?.toFixed(0)}/s, add ${add.at(-1)?.toFixed(0)}/s`);
    }
    const metrics: Metric[] = [
      compare('redis-benchmark SET, 50 clients', 'ops/s', measure('redis-benchmark -t set -c 50', set), undefined),
      compare('BullMQ Queue.add, 50 in flight', 'jobs/s', measure('createQueue().add', add), undefined),
      compare('BullMQ no-op processing, concurrency 5', 'jobs/s', measure('createWorker(noop, 5)', noop5), undefined),
      compare('BullMQ no-op processing, concurrency 50', 'jobs/s', measure('createWorker(noop, 50)', noop50), undefined),
    ];
    return { metrics, notes: [`${config.ceilingJobs} jobs per BullMQ measure; redis-benchmark ${config.redisBenchmarkRequests} requests.`] };
  },
};
