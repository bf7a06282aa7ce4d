import { randomUUID } from 'node:crypto';
import Fastify, { type FastifyInstance, type FastifyRequest, type FastifyServerOptions } from 'fastify';
import cookie from '@fastify/cookie';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { loggerOptions } from '@mm/config';
import type { ApiEnv } from './env.js';
import { registerFormats } from './schemas/formats.js';
import { LoginThrottle } from './domain/login-throttle.js';
import { typeboxValidatorCompiler } from './plugins/validation.js';
import errorHandler, { frameworkErrors } from './plugins/error-handler.js';
import requestLog, { RequestLogController } from './plugins/request-log.js';
import database from './plugins/database.js';
import queues from './plugins/queues.js';
import security from './plugins/security.js';
import rateLimit from './plugins/rate-limit.js';
import swagger from './plugins/swagger.js';
import auth from './plugins/auth.js';
import domain from './plugins/domain.js';
import healthRoutes from './routes/health.js';
import authRoutes from './routes/auth.js';
import userRoutes from './routes/users.js';
import serverRoutes from './routes/servers/manage.js';
import backupRoutes from './routes/servers/backup.js';
import scanRoutes from './routes/servers/scan.js';
import updateRoutes from './routes/servers/update.js';
import serverRecordRoutes from './routes/servers/records.js';
import recordRoutes from './routes/records.js';
import backupFileRoutes from './routes/backup-files.js';
import historyRoutes from './routes/history.js';
import jobRoutes from './routes/jobs.js';
import jobCancelRoutes from './routes/job-cancel.js';
import backupScheduleRoutes from './routes/backup-schedules.js';
import retentionRoutes from './routes/retention.js';
import maintenanceRoutes from './routes/maintenance.js';
import scheduleReconciler from './plugins/schedule-reconciler.js';
import jobLogRoutes from './routes/job-logs.js';
import metricsRoutes from './routes/metrics.js';
import eventRoutes from './routes/events.js';
import queueRoutes from './routes/queues.js';
import sessionRoutes from './routes/session.js';
import adminDashboard from './routes/admin-dashboard.js';
import prometheus from './plugins/prometheus.js';
import prometheusRoutes from './routes/prometheus.js';
import events from './plugins/events.js';
import audit from './plugins/audit.js';
import webhookDispatcher from './plugins/webhook-dispatcher.js';
import auditRoutes from './routes/audit.js';
import webhookRoutes from './routes/webhooks.js';
import { parseAllowedHosts } from './domain/webhook-url-guard.js';

/** Fastify's request log line, with the SSE routes' `?access_token=` (a JWT) taken out of the URL. */
function serializeRequest(req: FastifyRequest): Record<string, unknown> {
  return {
    method: req.method,
    url: req.url.replace(/([?&]access_token=)[^&]*/g, '$1[redacted]'),
    host: req.host,
    remoteAddress: req.ip,
    remotePort: req.socket?.remotePort,
  };
}

export interface BuildAppOptions {
  env: ApiEnv;
  /** Overrides the pino logger settings (tests pass `false`). */
  logger?: FastifyServerOptions['logger'];
}

/** Builds the instance without listening, so tests use the same app through inject or a real port. */
export async function buildApp({ env, logger }: BuildAppOptions): Promise<FastifyInstance> {
  registerFormats();
  const app = Fastify({
    logger:
      logger === false || logger === true
        ? logger
        : { ...(logger ?? loggerOptions({ name: 'api', level: env.LOG_LEVEL, pretty: env.NODE_ENV === 'development' })), serializers: { req: serializeRequest } },
    bodyLimit: env.BODY_LIMIT_BYTES,
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && /^[\w.-]{1,64}$/.test(given) ? given : randomUUID();
    },
    requestIdHeader: false,
    trustProxy: env.TRUST_PROXY,
    routerOptions: { ignoreTrailingSlash: true },
    frameworkErrors,
    // One line per request (plugins/request-log.ts) instead of Fastify's two.
    logController: new RequestLogController(),
  }).withTypeProvider<TypeBoxTypeProvider>();
  app.setValidatorCompiler(typeboxValidatorCompiler);
  app.addHook('onSend', async (request, reply) => {
    void reply.header('x-request-id', request.id);
  });

  // Infrastructure first, then domain services, then routes.
  await app.register(requestLog);
  await app.register(errorHandler);
  await app.register(database, { url: env.DATABASE_URL });
  await app.register(queues, { redisUrl: env.REDIS_URL, prefix: env.QUEUE_PREFIX });
  await app.register(security);
  await app.register(rateLimit, { max: env.RATE_LIMIT_MAX, windowMs: env.RATE_LIMIT_WINDOW_MS });
  await app.register(swagger);
  await app.register(cookie);
  await app.register(auth, { secret: env.JWT_SECRET, expiresIn: env.JWT_EXPIRES_IN });
  await app.register(domain);
  await app.register(events);
  await app.register(scheduleReconciler, { intervalMs: env.SCHEDULE_RECONCILE_INTERVAL_MS, cleanupCron: env.CLEANUP_CRON, cleanupTimezone: env.CLEANUP_TIMEZONE });
  await app.register(prometheus);
  await app.register(audit, { intervalMs: env.AUDIT_FLUSH_INTERVAL_MS, batchSize: env.AUDIT_BATCH_SIZE, maxEntries: env.AUDIT_BUFFER_MAX });
  await app.register(webhookDispatcher, {
    credentialsKey: env.CREDENTIALS_KEY,
    policy: { allowPrivate: env.WEBHOOK_ALLOW_PRIVATE, allowedHosts: parseAllowedHosts(env.WEBHOOK_ALLOWED_HOSTS) },
    timeoutMs: env.WEBHOOK_TIMEOUT_MS,
    maxAttempts: env.WEBHOOK_MAX_ATTEMPTS,
    retryBaseMs: env.WEBHOOK_RETRY_BASE_MS,
    pollIntervalMs: env.WEBHOOK_POLL_INTERVAL_MS,
  });

  await app.register(healthRoutes);
  // One per-account counter for both ways to log in (JWT and admin session), so neither resets the other's guesses.
  const loginThrottle = new LoginThrottle(env.LOGIN_RATE_LIMIT_MAX, env.LOGIN_RATE_LIMIT_WINDOW_MS);
  await app.register(authRoutes, { loginRateLimit: { max: env.LOGIN_RATE_LIMIT_MAX, windowMs: env.LOGIN_RATE_LIMIT_WINDOW_MS }, loginThrottle });
  await app.register(userRoutes);
  await app.register(serverRoutes, { credentialsKey: env.CREDENTIALS_KEY });
  await app.register(backupRoutes);
  await app.register(scanRoutes);
  await app.register(updateRoutes);
  await app.register(serverRecordRoutes);
  await app.register(recordRoutes);
  await app.register(backupFileRoutes, { backupDir: env.BACKUP_DIR });
  await app.register(historyRoutes);
  await app.register(jobRoutes);
  await app.register(jobCancelRoutes);
  await app.register(backupScheduleRoutes, { minIntervalSeconds: env.SCHEDULE_MIN_INTERVAL_S });
  await app.register(retentionRoutes);
  await app.register(maintenanceRoutes);
  await app.register(jobLogRoutes);
  await app.register(eventRoutes);
  await app.register(queueRoutes);
  await app.register(auditRoutes);
  await app.register(webhookRoutes, { credentialsKey: env.CREDENTIALS_KEY });
  await app.register(sessionRoutes, {
    loginRateLimit: { max: env.LOGIN_RATE_LIMIT_MAX, windowMs: env.LOGIN_RATE_LIMIT_WINDOW_MS },
    secureCookie: env.NODE_ENV === 'production',
    loginThrottle,
  });
  await app.register(adminDashboard);
  await app.register(prometheusRoutes, { token: env.METRICS_TOKEN });
  await app.register(metricsRoutes, { degradedThreshold: env.DEGRADED_WAITING_THRESHOLD });
  return app;
}
