import { catalog, type BackupOptions, type JobName, type Producer, type ServerJobIndex, type UpdateOptions } from '@mm/jobs';
import type { FleetAction } from '@mm/db';

/** What a run stores per action in fleet_runs.options (validated by the API with the catalog's schemas). */
export interface FleetRunOptions {
  scan_type?: 'quick' | 'full';
  [key: string]: unknown;
}

/** The record table a per-server job of this action writes, where its outcome is read. */
export const recordTableOf = { backup: 'backups', scan: 'scans', update: 'updates' } as const satisfies Record<FleetAction, string>;

export function jobNameOf(action: FleetAction, options: FleetRunOptions): JobName {
  if (action === 'backup') return 'backup:manual';
  if (action === 'update') return 'update:server';
  return options.scan_type === 'full' ? 'scan:full' : 'scan:quick';
}

export interface ServerJob {
  serverId: string;
  /** Chosen when the run was created: the job id and record id, so a repeated enqueue adds nothing. */
  jobId: string;
}

/**
 * Enqueues one ordinary per-server job through the producer (the same path as POST /api/servers/:id/<action>), and
 * indexes it under its server so `GET /api/jobs?serverId=` lists it. BullMQ ignores an add whose job id exists.
 */
export async function enqueueServerJob(
  deps: { producer: Producer; serverJobs: ServerJobIndex },
  name: JobName,
  job: ServerJob,
  options: FleetRunOptions,
  userId: string | null,
  ignoreMaintenanceWindows = false,
  gateOfRun?: string,
): Promise<void> {
  const { serverId, jobId } = job;
  await deps.serverJobs.add(serverId, catalog[name].queue, jobId);
  switch (name) {
    case 'backup:manual':
      await deps.producer.enqueue(name, { serverId, backupId: jobId, userId, options: options as BackupOptions, isScheduled: false });
      return;
    case 'update:server':
      await deps.producer.enqueue(name, { serverId, updateId: jobId, userId, options: options as UpdateOptions, ...(ignoreMaintenanceWindows ? { ignoreMaintenanceWindows } : {}) });
      return;
    case 'scan:full':
    case 'scan:quick':
      await deps.producer.enqueue(name, { serverId, scanId: jobId, userId, ...(gateOfRun ? { gateOfRun } : {}) });
      return;
    default:
      throw new Error(`a fleet run cannot enqueue ${name}`);
  }
}
