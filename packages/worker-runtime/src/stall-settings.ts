import type { WorkerOptions } from 'bullmq';

/**
 * Lock and stall settings for jobs that hold an SSH session for minutes or hours.
 * https://docs.bullmq.io/guide/workers/stalled-jobs
 * - The lock is renewed every lockDuration / 2 while the job runs, whatever its length, so a long backup
 *   keeps it as long as the event loop is free (all SSH I/O is streamed, nothing blocks it).
 *   60 s (BullMQ: 30 s) rides out a ~30 s stall (GC, a slow Redis failover) without a false "stalled".
 * - stalledInterval 30 s: a job whose worker died is back in the queue within about 90 s.
 * - maxStalledCount 2: a restart or deploy in the middle of a backup re-runs it, but a job that keeps
 *   killing its worker (out of memory) fails instead of looping forever.
 */
export const stallSettings = {
  lockDuration: 60_000,
  stalledInterval: 30_000,
  maxStalledCount: 2,
} as const satisfies Partial<WorkerOptions>;
