import type { Job, Relay } from 'bullmq';
import type { Redis } from 'ioredis';
import { sql } from 'drizzle-orm';
import { backups, restores, scans, updates, users, type Db } from '@mm/db';
import {
  CANCEL_MARKER_TTL_MS,
  CANCEL_TOPIC,
  cancelMarkerKey,
  catalog,
  createRelay,
  isJobName,
  recordIdOf,
  validatePayload,
  type CancelMessage,
  type JobName,
  type RecordTableName,
} from '@mm/jobs';
import { conflict, notFound } from '../errors.js';
import { jobState } from './job-view.js';

const recordTables = { backups, scans, updates, restores } satisfies Record<RecordTableName, unknown>;
type RecordTable = typeof backups;

const OPEN_STATUSES = sql.raw(`('pending', 'running')`);
const FOREIGN_KEY_VIOLATION = '23503';

/** What a job's own payload says about its record's table-specific NOT NULL columns (the rest keep their defaults). */
function columnsOf(name: JobName, payload: Record<string, unknown>): Record<string, unknown> {
  const options = (payload.options ?? {}) as Record<string, unknown>;
  switch (catalog[name].record) {
    case 'backups':
      return { backupType: options.backup_type, compression: options.compression, encryption: options.encryption, isScheduled: name === 'backup:scheduled' };
    case 'scans':
      return { scanType: name === 'scan:full' ? 'full' : 'quick' };
    case 'updates':
      return { dryRun: options.dry_run, packages: options.packages ?? null };
    case 'restores':
      return { targetPath: payload.targetPath, backupId: payload.backupId };
    default:
      return {};
  }
}

/**
 * Marks the record of a job removed before it ran as cancelled. The job may never have started, so the record may not
 * exist: it is inserted, forward-only (an existing record moves only from pending or running). The one record the
 * API writes; every other record write is its worker's.
 */
export async function cancelRecord(db: Db, job: Job, message: string): Promise<void> {
  if (!isJobName(job.name)) return;
  const tableName = catalog[job.name].record;
  if (tableName === null) return;
  const table = recordTables[tableName] as unknown as RecordTable;
  let payload: Record<string, unknown>;
  try {
    payload = validatePayload(job.name, job.data) as Record<string, unknown>;
  } catch {
    return; // A payload the worker would have refused has no trustworthy record id.
  }
  const now = new Date();
  const userId = typeof payload.userId === 'string' ? payload.userId : null;
  const values = {
    ...columnsOf(job.name, payload),
    id: recordIdOf(job.name, payload, String(job.id)),
    serverId: payload.serverId as string,
    // The requester may have been deleted since (the column is ON DELETE SET NULL): keep the record, drop the link.
    requestedBy: userId === null ? null : sql`(select ${users.id} from ${users} where ${users.id} = ${userId})`,
    options: payload.options ?? {},
    status: 'cancelled' as const,
    error: message,
    finishedAt: now,
  } as RecordTable['$inferInsert'];
  try {
    await db
      .insert(table)
      .values(values)
      .onConflictDoUpdate({
        target: table.id,
        set: { status: 'cancelled', error: message, finishedAt: now, updatedAt: now },
        setWhere: sql`${table.status} in ${OPEN_STATUSES}`,
      });
  } catch (err) {
    const code = (err as { code?: string; cause?: { code?: string } }).code ?? (err as { cause?: { code?: string } }).cause?.code;
    // The server was deleted while the job waited: there is nothing to attach a record to.
    if (code !== FOREIGN_KEY_VIOLATION) throw err;
  }
}

export interface JobCanceller {
  /**
   * Cancels a job: a waiting, prioritized or delayed one is removed and its record marked cancelled ('cancelled');
   * an active one is signalled to whichever worker holds it ('cancelling'). A finished job is 409.
   */
  cancel(job: Job, reason: string): Promise<'cancelled' | 'cancelling'>;
  close(): Promise<void>;
}

export function createJobCanceller(deps: { db: Db; redis: Redis; prefix: string; onRelayError: (err: Error) => void }): JobCanceller {
  let relay: Relay | undefined;
  let closed = false;
  // Made on first use and remade after a failure, so an API started while Redis was away still cancels later.
  const publish = async (message: CancelMessage) => {
    if (closed) throw new Error('job canceller closed');
    if (!relay) {
      relay = createRelay({ connection: deps.redis, prefix: deps.prefix, name: 'api' });
      relay.on('error', deps.onRelayError);
    }
    const current = relay;
    try {
      await current.publish(CANCEL_TOPIC, message);
    } catch (err) {
      if (relay === current) relay = undefined;
      await current.close().catch(() => {});
      throw err;
    }
  };

  const refuseFinished = (job: Job, state: string) => {
    if (state === 'completed' || state === 'failed') {
      throw conflict(`Job ${String(job.id)} has already ${state}; only a waiting, delayed or active job can be cancelled.`);
    }
    if (state === 'unknown') throw notFound(`Job ${String(job.id)}`);
  };

  return {
    async cancel(job, reason) {
      const id = String(job.id);
      let state = await jobState(job);
      refuseFinished(job, state);
      // BullMQ refuses to remove a job scheduler's next run (JobBelongsToJobScheduler): the schedule owns it.
      if (state !== 'active' && job.repeatJobKey) {
        throw conflict(`Job ${id} is the next run of a schedule; disable or delete the schedule to stop it (a running one can be cancelled).`);
      }
      // Set first: a worker that takes the job from now on finds it and stops before the handler runs.
      const marker = cancelMarkerKey(deps.prefix, id);
      await deps.redis.set(marker, reason, 'PX', CANCEL_MARKER_TTL_MS);
      if (state !== 'active') {
        let removed = false;
        try {
          await job.remove();
          removed = true;
        } catch (err) {
          // BullMQ refuses to remove a job a worker has locked: it became active after we looked.
          state = await jobState(job);
          if (state !== 'active') await deps.redis.del(marker);
          refuseFinished(job, state);
          if (state !== 'active') throw err;
        }
        if (removed) {
          await deps.redis.del(marker);
          await cancelRecord(deps.db, job, `job cancelled before it ran: ${reason}`);
          return 'cancelled';
        }
      }
      await publish({ jobId: id, reason });
      return 'cancelling';
    },
    async close() {
      closed = true;
      await relay?.close();
    },
  };
}
