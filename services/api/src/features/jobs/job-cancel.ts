import type { Job, Relay } from 'bullmq';
import type { Db } from '@mm/db';
import { CANCEL_MARKER_TTL_MS, CANCEL_TOPIC, cancelMarkerKey, createRelay, type CancelMessage, type QueueBackend } from '@mm/jobs';
import { cancelRecord } from '@mm/records';
import { conflict, notFound } from '../../shared/errors.js';
import { jobState } from '../../shared/job-view.js';

export interface JobCanceller {
  /**
   * Cancels a job: a waiting, prioritized or delayed one is removed and its record marked cancelled ('cancelled');
   * an active one is signalled to whichever worker holds it ('cancelling'). A finished job is 409.
   */
  cancel(job: Job, reason: string): Promise<'cancelled' | 'cancelling'>;
  close(): Promise<void>;
}

export function createJobCanceller(deps: { db: Db; backend: QueueBackend; onRelayError: (err: Error) => void }): JobCanceller {
  const prefix = deps.backend.prefix;
  const markers = deps.backend.kv;
  let relay: Relay | undefined;
  let closed = false;
  // Made on first use and remade after a failure, so an API started while Redis was away still cancels later.
  const publish = async (message: CancelMessage) => {
    if (closed) throw new Error('job canceller closed');
    if (!relay) {
      relay = createRelay({ ...deps.backend.queueConfig, name: 'api' });
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
      const marker = cancelMarkerKey(prefix, id);
      await markers.set(marker, reason, CANCEL_MARKER_TTL_MS);
      if (state !== 'active') {
        let removed = false;
        try {
          await job.remove();
          removed = true;
        } catch (err) {
          // BullMQ refuses to remove a job a worker has locked: it became active after we looked.
          state = await jobState(job);
          if (state !== 'active') await markers.delete(marker);
          refuseFinished(job, state);
          if (state !== 'active') throw err;
        }
        if (removed) {
          await markers.delete(marker);
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
