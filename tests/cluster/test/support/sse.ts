import { waitFor } from '@mm/testing';

export interface SseEvent {
  event: string;
  data: unknown;
}

export interface SseStream {
  /** Status of the response (200 for a stream). */
  status: number;
  events: SseEvent[];
  /** Waits until an event matching `match` arrived; returns it. */
  next(match: (e: SseEvent) => boolean, what: string, limitMs?: number): Promise<SseEvent>;
  close(): void;
}

/** Opens an SSE response with fetch and parses its `event:`/`data:` blocks as they arrive. */
export async function openSse(url: string, token: string): Promise<SseStream> {
  const abort = new AbortController();
  const res = await fetch(url, { headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' }, signal: abort.signal });
  const events: SseEvent[] = [];
  if (res.body) {
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    void (async () => {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        buffer += value;
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const lines = block.split('\n');
          const event = lines.find((l) => l.startsWith('event: '))?.slice('event: '.length);
          const data = lines.find((l) => l.startsWith('data: '))?.slice('data: '.length);
          if (event && data !== undefined) events.push({ event, data: JSON.parse(data) as unknown });
        }
      }
    })().catch(() => undefined); // aborted by close()
  }
  return {
    status: res.status,
    events,
    async next(match, what, limitMs = 60_000) {
      await waitFor(() => events.some(match), what, limitMs);
      return events.find(match) as SseEvent;
    },
    close: () => abort.abort(),
  };
}
