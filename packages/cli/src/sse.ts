import { createParser, type EventSourceMessage } from 'eventsource-parser';
import type { Api } from './api.js';

export interface SseOptions {
  signal?: AbortSignal;
  lastEventId?: string;
}

/**
 * Reads one Server-Sent Events response to its end (or until `onMessage` returns true, or `signal` aborts), handing
 * each named event over in order. Returns the last event id seen, for a resumed request. Errors of the request itself
 * (4xx as a CliError with its exit code, an unreachable API) are thrown; an abort ends quietly.
 */
export async function readSse(api: Api, path: string, options: SseOptions, onMessage: (m: EventSourceMessage & { event: string }) => boolean | void): Promise<string | undefined> {
  let lastEventId = options.lastEventId;
  let response: Response;
  try {
    response = await api.fetch(path, {
      headers: { accept: 'text/event-stream', ...(lastEventId ? { 'last-event-id': lastEventId } : {}) },
      ...(options.signal ? { signal: options.signal } : {}),
    });
  } catch (err) {
    if (options.signal?.aborted) return lastEventId;
    throw err;
  }
  const pending: EventSourceMessage[] = [];
  const parser = createParser({ onEvent: (m) => pending.push(m) });
  const decoder = new TextDecoder();
  try {
    // Returning from the loop cancels the body (the async iterator's return), which closes the connection.
    for await (const chunk of response.body ?? []) {
      parser.feed(decoder.decode(chunk as Uint8Array, { stream: true }));
      for (const message of pending.splice(0)) {
        if (message.id) lastEventId = message.id;
        if (message.event && onMessage(message as EventSourceMessage & { event: string }) === true) return lastEventId;
      }
    }
  } catch (err) {
    if (options.signal?.aborted) return lastEventId;
    throw err;
  }
  return lastEventId;
}
