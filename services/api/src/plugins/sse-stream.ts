import type { FastifyReply, FastifyRequest } from 'fastify';

export interface SseStreamOptions {
  /** Bytes that may wait for a client that does not read; past it the stream is cut (issue #12). Unbounded when absent. */
  maxBufferBytes?: number;
}

/**
 * One Server-Sent Events response, written straight to the socket (the reply is hijacked, so no
 * serializer or onSend hook runs). `end()` is safe to call twice; a client hanging up ends it too.
 */
export class SseStream {
  private ended = false;
  private readonly closeListeners: (() => void)[] = [];
  /** Whose stream it is (the request's user), for the per-user cap and for closing a deleted user's streams. */
  readonly userId: string | null;
  private readonly maxBufferBytes: number;

  constructor(
    request: FastifyRequest,
    private readonly reply: FastifyReply,
    options: SseStreamOptions = {},
  ) {
    this.userId = (request.user as { id?: string } | undefined)?.id ?? null;
    this.maxBufferBytes = options.maxBufferBytes ?? Number.POSITIVE_INFINITY;
    reply.hijack();
    reply.raw.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      // nginx would otherwise buffer the stream.
      'x-accel-buffering': 'no',
      'x-request-id': request.id,
    });
    // How long EventSource waits before reconnecting (with Last-Event-ID).
    reply.raw.write('retry: 3000\n\n');
    request.raw.socket.setKeepAlive(true);
    reply.raw.on('close', () => this.end());
  }

  get closed(): boolean {
    return this.ended;
  }

  onClose(listener: () => void): void {
    if (this.ended) listener();
    else this.closeListeners.push(listener);
  }

  send(event: string, data: unknown, id?: string): void {
    // JSON.stringify never emits a raw newline, so the data is always one `data:` line.
    this.write(`${id ? `id: ${id}\n` : ''}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  }

  /** A comment line: keeps proxies and load balancers from closing an idle stream. */
  ping(): void {
    this.write(': ping\n\n');
  }

  /** A last `error` event saying why, then the end (token expired, user deleted). */
  fail(message: string): void {
    this.send('error', { message });
    this.end();
  }

  private write(text: string): void {
    if (this.ended) return;
    this.reply.raw.write(text);
    // What the socket has not taken yet stays in memory: a client that stopped reading would grow it without end.
    // Cut it off; EventSource reconnects with Last-Event-ID and misses nothing still in the stream.
    if (this.reply.raw.writableLength > this.maxBufferBytes) {
      this.end();
      this.reply.raw.destroy();
    }
  }

  end(): void {
    if (this.ended) return;
    this.ended = true;
    if (!this.reply.raw.writableEnded) this.reply.raw.end();
    for (const listener of this.closeListeners.splice(0)) listener();
  }
}
