import fp from 'fastify-plugin';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { ApiError, errorCatalog, type ErrorCode, type ErrorDetail } from '../shared/errors.js';

const CODE_BY_STATUS: Record<number, ErrorCode> = {
  400: 'VALIDATION_ERROR',
  401: 'UNAUTHORIZED',
  403: 'FORBIDDEN',
  404: 'NOT_FOUND',
  409: 'CONFLICT',
  413: 'PAYLOAD_TOO_LARGE',
  415: 'UNSUPPORTED_MEDIA_TYPE',
  429: 'RATE_LIMITED',
};

// postgres.js connection failures, and PostgreSQL's class 08 (connection exception) and 57P0x (shutdown) codes.
const DB_DOWN_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'CONNECT_TIMEOUT', 'CONNECTION_CLOSED', 'CONNECTION_ENDED', 'CONNECTION_DESTROYED']);

function isDatabaseUnavailable(err: unknown): boolean {
  // drizzle wraps the driver's error in `cause`.
  for (let e = err as { code?: unknown; cause?: unknown } | undefined, depth = 0; e && depth < 3; e = e.cause as typeof e, depth++) {
    const code = typeof e.code === 'string' ? e.code : '';
    if (DB_DOWN_CODES.has(code) || /^08|^57P0/.test(code)) return true;
  }
  return false;
}

/** Turns any thrown error into the envelope. Only ApiError messages reach a client; a 5xx is logged with its request id. */
function toApiError(err: FastifyError): ApiError {
  if (err instanceof ApiError) return err;
  if (err.validation) {
    const details: ErrorDetail[] = err.validation.map((v) => ({ path: v.instancePath || '/', message: v.message ?? 'is not valid' }));
    return new ApiError('VALIDATION_ERROR', `The request ${err.validationContext ?? 'input'} is not valid.`, details);
  }
  if (err.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || err instanceof SyntaxError) return new ApiError('VALIDATION_ERROR', 'The body is not valid JSON.');
  if (err.code === 'FST_ERR_CTP_EMPTY_JSON_BODY') return new ApiError('VALIDATION_ERROR', 'The body is empty but Content-Type is application/json.');
  if (isDatabaseUnavailable(err)) return new ApiError('SERVICE_UNAVAILABLE', 'The database is unavailable; try again shortly.');
  const status = err.statusCode ?? 500;
  const code = CODE_BY_STATUS[status];
  if (code) return new ApiError(code, errorCatalog[code].message);
  return new ApiError(status === 503 ? 'SERVICE_UNAVAILABLE' : 'INTERNAL_ERROR');
}

/**
 * Errors Fastify's router raises before any hook runs (a malformed URL, a path parameter over maxParamLength):
 * without this they answer with Fastify's own body and FST_ codes instead of the envelope.
 */
export function frameworkErrors(err: FastifyError, _request: FastifyRequest, reply: FastifyReply): void {
  const message = err.code === 'FST_ERR_MAX_PARAM_LENGTH' ? 'A path parameter is too long.' : 'The URL is not valid.';
  void reply.code(400).send({ success: false, error: { code: 'VALIDATION_ERROR', message } });
}

export default fp(
  async (app) => {
    app.setErrorHandler((err: FastifyError, request, reply) => {
      const apiError = toApiError(err);
      if (apiError.statusCode >= 500) {
        // The request logger carries reqId, so the client's x-request-id finds this line.
        request.log.error({ err, code: apiError.code }, 'request failed');
      }
      if (apiError.headers) void reply.headers(apiError.headers);
      return reply.code(apiError.statusCode).send({
        success: false,
        error: { code: apiError.code, message: apiError.message, ...(apiError.details ? { details: apiError.details } : {}) },
      });
    });
    app.setNotFoundHandler((request, reply) => {
      return reply.code(404).send({ success: false, error: { code: 'NOT_FOUND', message: `Route ${request.method} ${request.url.split('?')[0]} does not exist.` } });
    });
  },
  { name: 'error-handler' },
);
