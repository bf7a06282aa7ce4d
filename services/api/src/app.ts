import { randomUUID } from 'node:crypto';
import Fastify, { type FastifyInstance, type FastifyRequest, type FastifyServerOptions } from 'fastify';
import type { DestinationStream, LoggerOptions } from 'pino';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { loggerOptions } from '@mm/config';
import { trustProxySetting, type ApiEnv } from './env.js';
import { registerFormats } from './shared/formats.js';
import { logDestination } from './shared/log-destination.js';
import { typeboxValidatorCompiler } from './plugins/validation.js';
import errorHandler, { frameworkErrors } from './plugins/error-handler.js';
import jsonBody from './plugins/json-body.js';
import requestLog, { RequestLogController } from './plugins/request-log.js';
import database from './plugins/database.js';
import queues from './plugins/queues.js';
import security from './plugins/security.js';
import rateLimit from './plugins/rate-limit.js';
import swagger from './plugins/swagger.js';
import auth from './plugins/auth.js';
import apiTokens from './plugins/api-tokens.js';
import sharedServices from './plugins/shared-services.js';
import scheduleReconciler from './plugins/schedule-reconciler.js';
import prometheus from './plugins/prometheus.js';
import events from './plugins/events.js';
import audit from './plugins/audit.js';
import webhookDispatcher from './plugins/webhook-dispatcher.js';
import { parseAllowedHosts } from '@mm/outbound-http';
import { features } from './features/index.js';

/**
 * The whole query string of a URL that may carry a token: the SSE routes (`?access_token=`, a JWT), and any URL whose
 * query mentions a token once decoded. Cutting by key would let `access%5Ftoken=` through (Fastify decodes keys).
 */
export function redactUrl(req: FastifyRequest): string {
  const at = req.url.indexOf('?');
  if (at < 0) return req.url;
  const query = req.url.slice(at + 1);
  let decoded = query;
  try {
    decoded = decodeURIComponent(query);
  } catch {
    // Malformed escapes: judged on the raw text, and redacted below if it still looks like a token.
  }
  const sensitive = req.routeOptions?.config?.queryToken === true || /token/i.test(decoded) || /token/i.test(query);
  return sensitive ? `${req.url.slice(0, at)}?[redacted]` : req.url;
}

/** Fastify's request log line, with the query string of token-carrying URLs taken out. */
function serializeRequest(req: FastifyRequest): Record<string, unknown> {
  return {
    method: req.method,
    url: redactUrl(req),
    host: req.host,
    remoteAddress: req.ip,
    remotePort: req.socket?.remotePort,
  };
}

/** pino settings of a running API: pretty in development, else JSON lines to stdout, buffered (shared/log-destination.ts). */
function productionLogger(env: ApiEnv): LoggerOptions & { stream?: DestinationStream } {
  const pretty = env.NODE_ENV === 'development';
  return { ...loggerOptions({ name: 'api', level: env.LOG_LEVEL, pretty }), ...(pretty ? {} : { stream: logDestination() }) };
}

export interface BuildAppOptions {
  env: ApiEnv;
  /** Overrides the pino logger settings (tests pass `false`). */
  logger?: FastifyServerOptions['logger'];
}

/** Builds the instance without listening, so tests use the same app through inject or a real port. */
export async function buildApp({ env, logger }: BuildAppOptions): Promise<FastifyInstance> {
  // First, before anything connects: TRUST_PROXY=true (every hop) is refused with a message saying why.
  const trustSetting = trustProxySetting(env.TRUST_PROXY);
  // A hop count as Fastify's function form (its types lack the number form): trust the nearest n hops only.
  const trustProxy = typeof trustSetting === 'number' ? (_address: string, hop: number) => hop < trustSetting : trustSetting;
  registerFormats();
  const app = Fastify({
    logger:
      logger === false || logger === true
        ? logger
        : { ...(logger ?? productionLogger(env)), serializers: { req: serializeRequest } },
    bodyLimit: env.BODY_LIMIT_BYTES,
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && /^[\w.-]{1,64}$/.test(given) ? given : randomUUID();
    },
    requestIdHeader: false,
    trustProxy,
    routerOptions: { ignoreTrailingSlash: true },
    frameworkErrors,
    // One line per request (plugins/request-log.ts) instead of Fastify's two.
    logController: new RequestLogController(),
  }).withTypeProvider<TypeBoxTypeProvider>();
  app.setValidatorCompiler(typeboxValidatorCompiler);
  // Set as the request arrives (a callback hook: no promise per request); every answer carries it, errors included.
  app.addHook('onRequest', (request, reply, done) => {
    void reply.header('x-request-id', request.id);
    done();
  });
  // close() ends only the connections idle when it begins: one busy then would stay kept alive after its answer, and
  // close() would wait for the client to drop it (fetch keeps it ~70 s, Fastify's 72 s keep-alive hint) past
  // SHUTDOWN_TIMEOUT_MS. Answers sent while closing close their connection instead.
  let closing = false;
  app.addHook('preClose', (done) => {
    closing = true;
    done();
  });
  app.addHook('onSend', (_request, reply, payload, done) => {
    if (closing && !reply.raw.headersSent) void reply.header('connection', 'close');
    done(null, payload);
  });

  // Infrastructure first, then the shared services, then the features (features/index.ts).
  await app.register(requestLog);
  await app.register(errorHandler);
  await app.register(jsonBody);
  await app.register(database, { url: env.DATABASE_URL });
  await app.register(queues, env);
  await app.register(security);
  await app.register(rateLimit, { max: env.RATE_LIMIT_MAX, windowMs: env.RATE_LIMIT_WINDOW_MS });
  await app.register(swagger);
  await app.register(apiTokens, { cacheTtlMs: 60_000 });
  await app.register(auth, { secret: env.JWT_SECRET, expiresIn: env.JWT_EXPIRES_IN });
  await app.register(sharedServices);
  await app.register(events, { maxStreamsPerUser: env.SSE_MAX_STREAMS_PER_USER, maxStreams: env.SSE_MAX_STREAMS, maxBufferBytes: env.SSE_MAX_BUFFER_BYTES });
  await app.register(scheduleReconciler, { intervalMs: env.SCHEDULE_RECONCILE_INTERVAL_MS, cleanupCron: env.CLEANUP_CRON, cleanupTimezone: env.CLEANUP_TIMEZONE });
  await app.register(prometheus);
  await app.register(audit, { intervalMs: env.AUDIT_FLUSH_INTERVAL_MS, batchSize: env.AUDIT_BATCH_SIZE, maxEntries: env.AUDIT_BUFFER_MAX });
  await app.register(webhookDispatcher, {
    credentialsKey: env.CREDENTIALS_KEY,
    policy: { allowPrivate: env.WEBHOOK_ALLOW_PRIVATE, allowedHosts: parseAllowedHosts(env.WEBHOOK_ALLOWED_HOSTS), subject: 'webhooks', allowSetting: 'WEBHOOK_ALLOWED_HOSTS' },
    timeoutMs: env.WEBHOOK_TIMEOUT_MS,
    maxAttempts: env.WEBHOOK_MAX_ATTEMPTS,
    retryBaseMs: env.WEBHOOK_RETRY_BASE_MS,
    pollIntervalMs: env.WEBHOOK_POLL_INTERVAL_MS,
  });

  for (const feature of features) await app.register(feature, { env });
  return app;
}
