/**
 * How a cancel reaches the worker process running a job: the API publishes a CancelMessage on CANCEL_TOPIC of the
 * BullMQ Relay (every worker subscribes; the one holding the job aborts it with `worker.cancelJob`), and first sets
 * the job's cancel marker, which a worker checks when it starts a job, so a cancel that lands while the job is
 * between Redis' active list and the worker's processor is not lost.
 */
export const CANCEL_TOPIC = 'jobs.cancel';
/** The Relay namespace the API and the workers share (the Redis prefix already isolates deployments and tests). */
export const RELAY_NAMESPACE = 'mm';
/** Long enough to outlive any hand-over between a worker taking the job and starting it. */
export const CANCEL_MARKER_TTL_MS = 10 * 60_000;

export interface CancelMessage {
  jobId: string;
  reason: string;
}

export function cancelMarkerKey(prefix: string, jobId: string): string {
  return `${prefix}:mm:cancel:${jobId}`;
}

export function isCancelMessage(value: unknown): value is CancelMessage {
  const v = value as Partial<CancelMessage> | null;
  return typeof v?.jobId === 'string' && typeof v.reason === 'string';
}
