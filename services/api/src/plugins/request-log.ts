import fp from 'fastify-plugin';
import { LogController, type FastifyReply, type FastifyRequest } from 'fastify';

declare module 'fastify' {
  interface FastifyRequest {
    /** What a route adds to its request's one log line (e.g. the job it enqueued), with that line's message. */
    logSummary: { msg: string; fields: Record<string, unknown> } | null;
  }
}

/**
 * One log line per request, when the response is done: request id, method, URL (without `?access_token=`),
 * matched route, status and duration, plus what the route added (`logSummary`). Fastify's "incoming request"
 * line is dropped: every line pays pino's serialisation and redaction on the hottest paths (docs/PERFORMANCE.md).
 * Error lines (5xx from the error handler, broken streams) are unchanged.
 */
export class RequestLogController extends LogController {
  override incomingRequest(): void {}

  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    if (error) return super.requestCompleted(error, request, reply);
    const summary = request.logSummary;
    request.log.info(
      { req: request, route: request.routeOptions.url, res: reply, responseTime: reply.elapsedTime, ...summary?.fields },
      summary?.msg ?? 'request completed',
    );
  }
}

/** The `logSummary` slot that RequestLogController reads. */
export default fp(
  async (app) => {
    app.decorateRequest('logSummary', null);
  },
  { name: 'request-log' },
);
