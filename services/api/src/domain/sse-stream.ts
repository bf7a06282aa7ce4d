import type { FastifyReply, FastifyRequest } from 'fastify';

/**
 * One Server-Sent Events response, written straight to the socket (the reply is hijacked, so no
 * serializer or onSend hook runs). `end()` is safe to call twice; a client hanging up ends it too.
 */
export class SseStream {
  private ended = false;
  private readonly closeListeners: (() => void)[] = [];

  constructor(
    request: FastifyRequest,
    private readonly reply: FastifyReply,
  ) {
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
    if (this.ended) return;
    // JSON.stringify never emits a raw newline, so the data is always one `data:` line.
    this.reply.raw.write(`${id ? `id: ${id}\n` : ''}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  }

  /** A comment line: keeps proxies and load balancers from closing an idle stream. */
  ping(): void {
    if (!this.ended) this.reply.raw.write(': ping\n\n');
  }

  end(): void {
    if (this.ended) return;
    this.ended = true;
    if (!this.reply.raw.writableEnded) this.reply.raw.end();
    for (const listener of this.closeListeners.splice(0)) listener();
  }
}
