import { createParser, type EventSourceMessage } from 'eventsource-parser';
import type { Api } from './api.js';
import { CliError, ExitCode } from './exit-codes.js';

/** One event of `GET /api/jobs/:id/events` (docs/API.md, "Live events"). */
export interface JobEvent {
  event: string;
  data: {
    jobId: string;
    state?: string;
    progress?: unknown;
    line?: string;
    kind?: string;
    failedReason?: string;
    result?: unknown;
  };
}

export const FINAL_EVENTS = new Set(['completed', 'failed', 'removed', 'cancelled']);
const RECONNECTS = 5;
const RECONNECT_PAUSE_MS = 1_000;

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Follows a job's events until its final one, calling `onEvent` for each. A dropped connection (an API restart) is
 * resumed with Last-Event-ID, so nothing is missed or repeated; the API ends the stream after the final event.
 */
export async function followJob(api: Api, jobId: string, onEvent: (e: JobEvent) => void): Promise<JobEvent> {
  let lastEventId: string | undefined;
  let final: JobEvent | undefined;
  for (let attempt = 0; ; attempt += 1) {
    try {
      const response = await api.fetch(`api/jobs/${encodeURIComponent(jobId)}/events`, {
        headers: { accept: 'text/event-stream', ...(lastEventId ? { 'last-event-id': lastEventId } : {}) },
      });
      const parser = createParser({
        onEvent(message: EventSourceMessage) {
          if (message.id) lastEventId = message.id;
          if (!message.event || final) return;
          const event: JobEvent = { event: message.event, data: JSON.parse(message.data) as JobEvent['data'] };
          onEvent(event);
          if (FINAL_EVENTS.has(event.event)) final = event;
        },
      });
      const decoder = new TextDecoder();
      for await (const chunk of response.body ?? []) {
        parser.feed(decoder.decode(chunk as Uint8Array, { stream: true }));
        if (final) break;
      }
      if (final) return final;
    } catch (err) {
      // Not found, refused or unauthorized will not get better by retrying.
      if (err instanceof CliError && err.exitCode !== ExitCode.unavailable) throw err;
      if (attempt >= RECONNECTS) throw err;
    }
    if (attempt >= RECONNECTS) throw new CliError(`The event stream of job ${jobId} kept ending before the job did.`, ExitCode.unavailable);
    await pause(RECONNECT_PAUSE_MS);
  }
}

/**
 * Follows several jobs of one queue over a single `GET /api/events?queue=` stream (the API caps streams per user,
 * and each request counts against its rate limit), until each has ended. The stream carries every job of the queue
 * from the moment it is ready; what happened before that comes from `GET /api/jobs/:id`, read once it is ready, so
 * no job's end is missed. Returns each job's final event.
 */
export async function followJobs(api: Api, queue: string, jobIds: string[], onEvent: (e: JobEvent) => void): Promise<Map<string, JobEvent>> {
  const wanted = new Set(jobIds);
  const finals = new Map<string, JobEvent>();
  const deliver = (event: JobEvent) => {
    if (!wanted.has(event.data.jobId) || finals.has(event.data.jobId)) return;
    onEvent(event);
    if (FINAL_EVENTS.has(event.event)) finals.set(event.data.jobId, event);
  };
  /** Where each job stands now, as a `state` event, and its final event when it has already ended. */
  const catchUp = async () => {
    await Promise.all(
      jobIds.map(async (jobId) => {
        let job: { state: string; progress: number; failedReason?: string; result?: unknown };
        try {
          job = await api.call(api.client.GET('/api/jobs/{id}', { params: { path: { id: jobId } } }));
        } catch (err) {
          if (err instanceof CliError && err.exitCode === ExitCode.notFound) return deliver({ event: 'removed', data: { jobId } });
          throw err;
        }
        deliver({ event: 'state', data: { jobId, state: job.state, progress: job.progress } });
        if (job.state === 'completed') deliver({ event: 'completed', data: { jobId, progress: 100, result: job.result } });
        else if (job.state === 'failed') deliver({ event: 'failed', data: { jobId, ...(job.failedReason ? { failedReason: job.failedReason } : {}) } });
      }),
    );
  };

  let lastEventId: string | undefined;
  let caughtUp = false;
  for (let attempt = 0; ; attempt += 1) {
    const abort = new AbortController();
    try {
      const response = await api.fetch(`api/events?queue=${encodeURIComponent(queue)}`, {
        headers: { accept: 'text/event-stream', ...(lastEventId ? { 'last-event-id': lastEventId } : {}) },
        signal: abort.signal,
      });
      const pending: EventSourceMessage[] = [];
      const parser = createParser({ onEvent: (message) => pending.push(message) });
      const decoder = new TextDecoder();
      for await (const chunk of response.body ?? []) {
        parser.feed(decoder.decode(chunk as Uint8Array, { stream: true }));
        for (const message of pending.splice(0)) {
          if (message.id) lastEventId = message.id;
          if (message.event === 'ready') {
            // Once per run: a resumed stream replays from Last-Event-ID, so nothing between needs reading again.
            if (!caughtUp) await catchUp();
            caughtUp = true;
          } else if (message.event && message.event !== 'error') {
            deliver({ event: message.event, data: JSON.parse(message.data) as JobEvent['data'] });
          }
        }
        if (finals.size === wanted.size) break;
      }
      if (finals.size === wanted.size) return finals;
    } catch (err) {
      if (err instanceof CliError && err.exitCode !== ExitCode.unavailable) throw err;
      if (attempt >= RECONNECTS) throw err;
    } finally {
      // /api/events never ends by itself: close it once every job has.
      abort.abort();
    }
    if (attempt >= RECONNECTS) throw new CliError(`The event stream of queue ${queue} kept ending before its jobs did.`, ExitCode.unavailable);
    await pause(RECONNECT_PAUSE_MS);
  }
}
