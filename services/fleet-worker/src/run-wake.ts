import type { Queue, QueueEvents } from 'bullmq';
import type { Sql } from 'postgres';
import type { Logger } from '@mm/config';
import { createQueueEvents, queueAliases, type AnyQueueConfig, type FleetRunJobData } from '@mm/jobs';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export interface RunWake {
  /** True once if a server job of `runId` ended while this process was stepping that run: its next step should not wait. */
  takeWokenWhileActive(runId: string): boolean;
  close(): Promise<void>;
}

/**
 * Wakes a fleet run when one of its servers' jobs ends, so the slot it frees goes to the next server at once instead
 * of at the run's next timed step (FLEET_STEP_INTERVAL_MS, a second by default, which a quick scan is shorter than).
 * It listens to the backup, scan and update queues' `completed` and `failed` events (QueueEvents, on either backend)
 * and promotes the run's delayed orchestrator job. When that job is being stepped right now, the step's own delay is
 * cut instead (takeWokenWhileActive). The timed step stays the safety net: a missed event only costs the interval.
 * Every fleet-worker process listens; promoting a job twice is harmless (the second finds it no longer delayed).
 */
export function startRunWake(opts: { queueConfig: AnyQueueConfig; sql: Sql; fleetQueue: Queue<FleetRunJobData>; log: Logger }): RunWake {
  const { sql, fleetQueue, log } = opts;
  const wokenWhileActive = new Set<string>();

  const wakeRun = async (runId: string): Promise<void> => {
    const job = await fleetQueue.getJob(runId);
    if (!job) return;
    const state = await job.getState();
    if (state === 'active') wokenWhileActive.add(runId);
    // A job that became active between the two reads refuses the promote: its step sees the outcome or the next one does.
    else if (state === 'delayed') await job.promote().catch(() => undefined);
  };

  const onEnded = ({ jobId }: { jobId: string }): void => {
    if (!UUID.test(jobId)) return; // scheduled jobs (repeat:…) are never a fleet run's
    void (async () => {
      const rows = await sql<{ run_id: string }[]>`select run_id from fleet_run_servers where job_id = ${jobId} and state = 'queued'`;
      for (const { run_id: runId } of rows) await wakeRun(runId);
    })().catch((err: unknown) => log.debug({ err, jobId }, 'fleet run wake failed; the timed step takes over'));
  };

  const events: QueueEvents[] = queueAliases.map((alias) => {
    const e = createQueueEvents(alias, opts.queueConfig);
    e.on('completed', onEnded);
    e.on('failed', onEnded);
    e.on('error', (err) => log.debug({ err, queue: alias }, 'fleet run wake: queue events error'));
    return e;
  });

  let closing: Promise<void> | undefined;
  return {
    takeWokenWhileActive: (runId) => wokenWhileActive.delete(runId),
    close() {
      closing ??= Promise.allSettled(events.map((e) => e.close())).then(() => undefined);
      return closing;
    },
  };
}
