import type { JobsOptions, Queue } from 'bullmq';
import { createNamedQueue, type AnyQueueConfig } from './backend.js';
import { FLEET_QUEUE } from './catalog.js';

/**
 * The fleet run orchestrator's queue. It sits beside the catalog, not in it: the catalog's queues carry one job per
 * server with a record (their aliases drive the API's job listings, metrics, SSE cursors and record kinds); this one
 * carries one job per fleet run, which enqueues those per-server jobs through the producer.
 */
export const FLEET_RUN_JOB = 'fleet:run';

export interface FleetRunJobData {
  runId: string;
}

/**
 * The orchestrator job's id is the run id: adding it twice is one job. It re-delays itself between steps (BullMQ's
 * manual delay, no attempt used), so its attempts only count crashes of its own code.
 */
export const fleetRunJobOptions = (runId: string): JobsOptions => ({
  jobId: runId,
  attempts: 5,
  backoff: { type: 'exponential', delay: 2_000 },
  removeOnComplete: { age: 7 * 86_400, count: 1_000 },
  removeOnFail: { age: 30 * 86_400 },
});

export function createFleetQueue(config: AnyQueueConfig): Queue<FleetRunJobData> {
  return createNamedQueue<FleetRunJobData>(FLEET_QUEUE, config);
}

export function isFleetRunJobData(data: unknown): data is FleetRunJobData {
  return typeof data === 'object' && data !== null && typeof (data as { runId?: unknown }).runId === 'string';
}
