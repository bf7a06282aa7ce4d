import { DelayedError, type Job } from 'bullmq';
import type { Logger } from '@mm/config';
import { catalog, type JobName } from '@mm/jobs';
import type { HeldLease, ServerLeases } from './server-lease.js';

export interface LeaseStep {
  /** Aborts when the lease is lost while the job runs (Redis unreachable past SERVER_LEASE_MS): the job stops and is retried. */
  lost: AbortSignal;
  release(): Promise<void>;
}

export interface LeaseSettings {
  leases: ServerLeases;
  busyDelayMinMs: number;
  busyDelayMaxMs: number;
  log: Logger;
}

const noLease = { release: async () => {} } satisfies Pick<HeldLease, 'release'>;

/**
 * One exclusive job (catalog `exclusive`) per server at a time: takes the server's lease, or, when another job holds
 * it, puts this job back as delayed without using an attempt (BullMQ's manual delay) and throws DelayedError.
 * https://docs.bullmq.io/patterns/process-step-jobs#delaying
 */
export async function holdServerLease(
  settings: LeaseSettings,
  job: Job,
  name: JobName,
  serverId: string | undefined,
  token: string | undefined,
  signal: AbortSignal | undefined,
): Promise<LeaseStep> {
  const lost = new AbortController();
  if (!catalog[name].exclusive || serverId === undefined || !job.id) return { lost: lost.signal, release: noLease.release };
  const outcome = await settings.leases.acquire(serverId, job.id, token ?? '', () => lost.abort('server lease lost'));
  if (outcome.acquired) return { lost: lost.signal, release: () => outcome.lease.release() };
  // Cancelled while asking: run on into the handler, which stops at once on the aborted signal and records it.
  if (signal?.aborted) return { lost: lost.signal, release: noLease.release };
  const { busyDelayMinMs: min, busyDelayMaxMs: max } = settings;
  const delayMs = min + Math.floor(Math.random() * (max - min + 1));
  settings.log.info({ jobId: job.id, jobName: job.name, serverId, heldBy: outcome.holder, delayMs }, 'server busy with another job: deferred');
  await job.log(`waiting: server ${serverId} is busy with job ${outcome.holder}; trying again in ${delayMs} ms`);
  await job.moveToDelayed(Date.now() + delayMs, token);
  throw new DelayedError();
}
