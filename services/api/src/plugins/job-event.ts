import type { EventsQueue } from '@mm/jobs';

/**
 * The events a client can watch, as named on the SSE stream. BullMQ writes them to each queue's events
 * stream; `log` is a custom event a worker publishes there (BullMQ's QueueEventsProducer, fields jobId and line),
 * so output lines share the stream's order and ids with progress.
 * `failed` in the stream is a final failure: a failed attempt that will be retried appears as `delayed` or `waiting`.
 */
export const liveEventNames = ['waiting', 'delayed', 'active', 'progress', 'log', 'completed', 'failed', 'removed'] as const;
export type LiveEventName = (typeof liveEventNames)[number];

/** After one of these the job emits nothing more, so a per-job stream ends. */
export const finalEventNames = ['completed', 'failed', 'removed', 'cancelled'] as const;
export type FinalEventName = (typeof finalEventNames)[number];
export type JobEventName = LiveEventName | 'cancelled';

export interface JobEvent {
  /** The Redis stream entry id (`<ms>-<seq>`), in its queue's stream. */
  id: string;
  queue: EventsQueue;
  event: JobEventName;
  jobId: string;
  data: Record<string, unknown>;
  /** Filled in when a client filters by server (looked up once per job, then cached). */
  serverId?: string | null;
}

const isLiveEvent = (name: string): name is LiveEventName => (liveEventNames as readonly string[]).includes(name);
export const isFinalEvent = (name: string): name is FinalEventName => (finalEventNames as readonly string[]).includes(name);

function parseJson(value: string | undefined): unknown {
  if (value === undefined) return null;
  try {
    return JSON.parse(value) as unknown;
  } catch {
    return value;
  }
}

/**
 * One entry of a queue's events stream as the client sees it, or null for events not about one job
 * (drained, paused) or not watched. Fields arrive as strings, as XRANGE returns them and QueueEvents
 * passes them (QueueEvents parses `data` and `returnvalue` itself: `parsed` says so).
 */
export function toJobEvent(queue: EventsQueue, id: string, fields: Record<string, unknown>, parsed = false): JobEvent | null {
  const name = fields.event;
  const jobId = fields.jobId;
  if (typeof name !== 'string' || typeof jobId !== 'string' || !isLiveEvent(name)) return null;
  const value = (key: string) => (parsed ? fields[key] : parseJson(fields[key] as string | undefined));
  const data: Record<string, unknown> = {};
  switch (name) {
    case 'progress':
      data.progress = value('data');
      break;
    case 'log':
      data.line = typeof fields.line === 'string' ? fields.line : '';
      // output, milestone or warning (workers on the shared runtime send it; older publishers may not).
      if (typeof fields.kind === 'string') data.kind = fields.kind;
      break;
    case 'completed':
      data.result = value('returnvalue');
      break;
    case 'failed':
      data.failedReason = typeof fields.failedReason === 'string' ? fields.failedReason : null;
      break;
    case 'delayed':
      data.until = Number(fields.delay);
      break;
    default:
      if (typeof fields.prev === 'string') data.prev = fields.prev;
  }
  return { id, queue, event: name, jobId, data };
}

/** Stream entry ids compare as (milliseconds, sequence); a plain string compare gets `9-0` vs `10-0` wrong. */
export function compareStreamIds(a: string, b: string): number {
  const [am = 0n, as = 0n] = a.split('-').map(BigInt);
  const [bm = 0n, bs = 0n] = b.split('-').map(BigInt);
  if (am !== bm) return am < bm ? -1 : 1;
  return as === bs ? 0 : as < bs ? -1 : 1;
}

export const STREAM_ID_PATTERN = '^[0-9]{1,20}-[0-9]{1,20}$';
