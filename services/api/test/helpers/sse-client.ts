export interface SseEvent {
  id?: string;
  event: string;
  data: Record<string, unknown>;
}

export interface SseClient {
  status: number;
  headers: Headers;
  /** The next event, or null once the server has ended the stream. */
  next(): Promise<SseEvent | null>;
  /** Events until (and including) the first one `until` accepts, or until the stream ends. */
  collect(until?: (e: SseEvent) => boolean): Promise<SseEvent[]>;
  close(): void;
}

/** A minimal EventSource over fetch (Node has no EventSource), reading a real HTTP response from a listening server. */
export async function openSse(url: string, headers: Record<string, string> = {}): Promise<SseClient> {
  const abort = new AbortController();
  const res = await fetch(url, { headers: { accept: 'text/event-stream', ...headers }, signal: abort.signal });
  const reader = res.body?.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  let done = false;
  const pending: SseEvent[] = [];

  const parse = (block: string): SseEvent | null => {
    const event: { id?: string; event: string; data: string[] } = { event: 'message', data: [] };
    for (const line of block.split('\n')) {
      if (line.startsWith(':') || line === '') continue;
      const sep = line.indexOf(':');
      const field = line.slice(0, sep);
      const value = line.slice(sep + 1).replace(/^ /, '');
      if (field === 'id') event.id = value;
      else if (field === 'event') event.event = value;
      else if (field === 'data') event.data.push(value);
    }
    if (event.data.length === 0) return null;
    return { ...(event.id ? { id: event.id } : {}), event: event.event, data: JSON.parse(event.data.join('\n')) as Record<string, unknown> };
  };

  const next = async (): Promise<SseEvent | null> => {
    for (;;) {
      const queued = pending.shift();
      if (queued) return queued;
      if (done || !reader) return null;
      const chunk = await reader.read().catch(() => ({ done: true as const, value: undefined }));
      if (chunk.done) {
        done = true;
        continue;
      }
      buffer += decoder.decode(chunk.value, { stream: true });
      let end: number;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const parsed = parse(buffer.slice(0, end));
        buffer = buffer.slice(end + 2);
        if (parsed) pending.push(parsed);
      }
    }
  };

  return {
    status: res.status,
    headers: res.headers,
    next,
    async collect(until) {
      const out: SseEvent[] = [];
      for (let e = await next(); e; e = await next()) {
        out.push(e);
        if (until?.(e)) break;
      }
      return out;
    },
    close: () => abort.abort(),
  };
}
