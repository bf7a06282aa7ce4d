import { Type, type Static } from '@sinclair/typebox';
import { CommonEnv, SecretEnv, parseEnvOrExit } from '@mm/config';

export const ApiEnv = Type.Object({
  ...CommonEnv,
  JWT_SECRET: SecretEnv.JWT_SECRET,
  CREDENTIALS_KEY: SecretEnv.CREDENTIALS_KEY,
  PORT: Type.Integer({ minimum: 0, maximum: 65_535, default: 3000 }),
  HOST: Type.String({ minLength: 1, default: '0.0.0.0' }),
  TRUST_PROXY: Type.Boolean({ default: false, description: 'true behind a reverse proxy, so rate limits key on X-Forwarded-For' }),
  // Development-only: in production the first admin must be given explicitly (or created another way).
  ADMIN_EMAIL: Type.Optional(Type.String({ pattern: '^[^@\\s]+@[^@\\s]+$', devDefault: 'admin@localhost' })),
  ADMIN_PASSWORD: Type.Optional(Type.String({ minLength: 12, devDefault: 'dev-only-admin-password' })),
  JWT_EXPIRES_IN: Type.String({ pattern: '^[0-9]+[smhd]?$', default: '1h' }),
  RATE_LIMIT_MAX: Type.Integer({ minimum: 1, default: 300, description: 'requests per client per window, every route' }),
  RATE_LIMIT_WINDOW_MS: Type.Integer({ minimum: 1_000, default: 60_000 }),
  LOGIN_RATE_LIMIT_MAX: Type.Integer({ minimum: 1, default: 10, description: 'login attempts per client and email per window' }),
  LOGIN_RATE_LIMIT_WINDOW_MS: Type.Integer({ minimum: 1_000, default: 15 * 60_000 }),
  DEGRADED_WAITING_THRESHOLD: Type.Integer({ minimum: 0, default: 100, description: 'waiting jobs in one queue above which health is degraded' }),
  METRICS_TOKEN: Type.Optional(
    Type.String({ minLength: 16, description: 'when set, GET /metrics needs `Authorization: Bearer <token>`; when unset it is open (keep it off the public network)' }),
  ),
  BODY_LIMIT_BYTES: Type.Integer({ minimum: 1_024, default: 64 * 1_024 }),
  BACKUP_DIR: Type.String({
    minLength: 1,
    default: './var/backups',
    description: "the backup workers' BACKUP_DIR (shared volume, read-only is enough): GET /api/backups/:id/download streams files from it; relative to the working directory",
  }),
  AUDIT_FLUSH_INTERVAL_MS: Type.Integer({ minimum: 10, default: 500, description: 'how often buffered audit entries are written (one multi-row INSERT)' }),
  AUDIT_BATCH_SIZE: Type.Integer({ minimum: 1, maximum: 5_000, default: 200, description: 'a full batch is written at once, without waiting for the interval' }),
  AUDIT_BUFFER_MAX: Type.Integer({ minimum: 1, default: 50_000, description: 'entries kept while PostgreSQL is down; beyond it the oldest are dropped (and counted in the log)' }),
  WEBHOOK_ALLOW_PRIVATE: Type.Boolean({ default: false, description: 'true lets webhook URLs reach loopback, private, link-local and metadata addresses (SSRF guard off)' }),
  WEBHOOK_ALLOWED_HOSTS: Type.String({ default: '', description: 'comma-separated hosts (names or IPs, as written in the URL) exempt from the SSRF guard' }),
  WEBHOOK_TIMEOUT_MS: Type.Integer({ minimum: 100, default: 10_000, description: 'per delivery attempt' }),
  WEBHOOK_MAX_ATTEMPTS: Type.Integer({ minimum: 1, maximum: 20, default: 6 }),
  WEBHOOK_RETRY_BASE_MS: Type.Integer({ minimum: 10, default: 30_000, description: 'backoff before retry n is base * 2^(n-1), capped at 6 h' }),
  WEBHOOK_POLL_INTERVAL_MS: Type.Integer({ minimum: 50, default: 1_000, description: 'how often the dispatcher looks for due deliveries' }),
  SCHEDULE_MIN_INTERVAL_S: Type.Integer({ minimum: 1, default: 60, description: 'backup schedules may not run more often than this (seconds-field crons need it lowered)' }),
  SCHEDULE_RECONCILE_INTERVAL_MS: Type.Integer({ minimum: 1_000, default: 60_000, description: 'how often the API makes Redis job schedulers match the schedules in PostgreSQL' }),
  CLEANUP_CRON: Type.String({ minLength: 1, default: '17 3 * * *', description: 'when the daily backup:cleanup job runs (retention, old BullMQ jobs); "off" = no daily run' }),
  CLEANUP_TIMEZONE: Type.String({ minLength: 1, default: 'UTC', description: 'IANA time zone CLEANUP_CRON is read in' }),
});
export type ApiEnv = Static<typeof ApiEnv>;

/** Parses process.env once; server.ts is the only caller. */
export const readEnv = (): ApiEnv => parseEnvOrExit(ApiEnv, process.env);
