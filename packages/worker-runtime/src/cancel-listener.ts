import type { Worker } from 'bullmq';
import type { Logger } from '@mm/config';
import { CANCEL_TOPIC, cancelMarkerKey, createRelay, isCancelMessage, type QueueBackend } from '@mm/jobs';

export interface CancelListener {
  /** The reason when the API asked to cancel this job (its marker is set), else null; clears the marker. Checked as a job starts. */
  consume(jobId: string): Promise<string | null>;
  /** Removes the marker of a job that ended cancelled, so retrying it by hand later does not stop it again. Never rejects. */
  clear(jobId: string): Promise<void>;
  close(): Promise<void>;
}

/**
 * Subscribes this worker process to the cancel topic of the BullMQ Relay (on Redis, or on PostgreSQL where the Relay
 * reads its inbox after a NOTIFY). Every worker receives every cancel; the one holding the job aborts it
 * (`worker.cancelJob`), the others find nothing to cancel. Markers live in the backend's key-value store.
 */
export async function startCancelListener(opts: { worker: Worker; backend: QueueBackend; name: string; log: Logger }): Promise<CancelListener> {
  const { worker, backend, log } = opts;
  const prefix = backend.prefix;
  const relay = createRelay({ ...backend.queueConfig, name: opts.name });
  relay.on('error', (err: Error) => log.warn({ err }, 'cancel relay error'));
  try {
    await relay.subscribe(CANCEL_TOPIC, (message) => {
      if (!isCancelMessage(message.data)) {
        log.warn({ topic: message.topic }, 'ignored a malformed cancel message');
        return;
      }
      const { jobId, reason } = message.data;
      // The marker stays until the job ends cancelled (`clear`) or next starts (`consume`): a job that slipped back to
      // delayed in the meantime (its server was busy) is still stopped when it comes back.
      if (worker.cancelJob(jobId, reason)) log.info({ jobId, reason }, 'job cancel requested: aborting it');
    });
  } catch (err) {
    await relay.close().catch(() => {});
    throw err;
  }
  let closing: Promise<void> | undefined;
  return {
    consume(jobId) {
      return backend.kv.take(cancelMarkerKey(prefix, jobId));
    },
    async clear(jobId) {
      await backend.kv.delete(cancelMarkerKey(prefix, jobId)).catch((err: unknown) => log.warn({ err, jobId }, 'could not clear the cancel marker'));
    },
    close() {
      closing ??= relay.close();
      return closing;
    },
  };
}
