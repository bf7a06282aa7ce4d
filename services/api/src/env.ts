import { isIP } from 'node:net';
import { Type, type Static } from '@sinclair/typebox';
import { CommonEnv, EnvError, SecretEnv, parseEnvOrExit } from '@mm/config';

export const ApiEnv = Type.Object({
  ...CommonEnv,
  JWT_SECRET: SecretEnv.JWT_SECRET,
  CREDENTIALS_KEY: SecretEnv.CREDENTIALS_KEY,
  PORT: Type.Integer({ minimum: 0, maximum: 65_535, default: 3000 }),
  HOST: Type.String({ minLength: 1, default: '0.0.0.0' }),
  TRUST_PROXY: Type.String({
    default: 'false',
    description:
      'behind reverse proxies: how many (a hop count, e.g. 1) or their addresses (comma-separated IPs/CIDRs, or loopback, linklocal, uniquelocal); ' +
      'the client address is then read from X-Forwarded-For past those hops only. `true` (every hop) is refused. false/0 = no proxy',
  }),
  SERVER_ALLOW_LOOPBACK: Type.Boolean({
    default: false,
    description: "true lets servers be registered on loopback addresses (labs, tests); the deployment's own Redis and PostgreSQL stay refused",
  }),
  SSE_MAX_STREAMS_PER_USER: Type.Integer({ minimum: 1, default: 20, description: 'open event streams one user may hold in this API process; more answer 429' }),
  SSE_MAX_STREAMS: Type.Integer({ minimum: 1, default: 2_000, description: 'open event streams in this API process, all users together; more answer 429' }),
  SSE_MAX_BUFFER_BYTES: Type.Integer({
    minimum: 1_024,
    default: 1_048_576,
    description: 'bytes an event stream may have waiting for a client that does not read; past it the stream is closed (the client reconnects with Last-Event-ID)',
  }),
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
    description: "the backup workers' BACKUP_DIR for archive-engine backups (shared volume, read-only is enough): GET /api/backups/:id/download streams those files from it; relative to the project root. Repository backups need no shared folder",
  }),
  BACKUP_REPOSITORY: Type.String({
    default: '',
    description: "the default storage target's restic repository, as the backup workers have it: a local path (relative: from the project root) or rest:https://…; empty = <BACKUP_DIR>/repository",
  }),
  BACKUP_REPOSITORY_PASSWORD: Type.String({ minLength: 8, devDefault: 'medicine-man-development-repository', description: "the default repository's password (required in production)" }),
  BACKUP_ENGINE: Type.Union([Type.Literal('restic'), Type.Literal('archive')], { default: 'restic', description: "the default target's engine, as the backup workers have it" }),
  WEB_DIR: Type.String({
    minLength: 1,
    default: './apps/web/dist',
    description: 'the built dashboard (pnpm -C apps/web build; `pnpm start` builds it), served at /; relative to the project root. Missing: the API starts without it and says so in its log',
  }),
  STORAGE_ALLOW_INSECURE_S3: Type.Boolean({ default: false, description: 'true accepts http:// S3 endpoints for storage targets (keys and data then cross the network unencrypted by TLS)' }),
  STORAGE_ALLOW_PRIVATE: Type.Boolean({ default: false, description: 'true lets S3, REST and SFTP storage targets reach loopback, private, link-local and metadata addresses (SSRF guard off)' }),
  STORAGE_ALLOWED_HOSTS: Type.String({ default: '', description: 'comma-separated storage target hosts (names or IPs, as written in the location) exempt from the SSRF guard, e.g. a MinIO or NAS on the LAN' }),
  AUDIT_FLUSH_INTERVAL_MS: Type.Integer({ minimum: 10, default: 500, description: 'how often buffered audit entries are written (one multi-row INSERT)' }),
  AUDIT_BATCH_SIZE: Type.Integer({ minimum: 1, maximum: 5_000, default: 200, description: 'a full batch is written at once, without waiting for the interval' }),
  AUDIT_BUFFER_MAX: Type.Integer({ minimum: 1, default: 50_000, description: 'entries kept while PostgreSQL is down; beyond it the oldest are dropped (and counted in the log)' }),
  WEBHOOK_ALLOW_PRIVATE: Type.Boolean({ default: false, description: 'true lets webhook URLs reach loopback, private, link-local and metadata addresses (SSRF guard off)' }),
  WEBHOOK_ALLOWED_HOSTS: Type.String({ default: '', description: 'comma-separated hosts (names or IPs, as written in the URL) exempt from the SSRF guard' }),
  /** A rollout's `gate.httpUrl` under the webhooks' SSRF guard: checked at creation here, at every GET by the fleet worker (same variables there). */
  GATE_HTTP_ALLOW_PRIVATE: Type.Boolean({ default: false, description: 'true lets rollout gate URLs reach loopback, private, link-local and metadata addresses (SSRF guard off)' }),
  GATE_HTTP_ALLOWED_HOSTS: Type.String({ default: '', description: 'comma-separated hosts (names or IPs, as written in the URL) a rollout gate URL may reach despite the SSRF guard' }),
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

const NAMED_PROXY_RANGES = new Set(['loopback', 'linklocal', 'uniquelocal']);

function isProxyAddress(item: string): boolean {
  if (NAMED_PROXY_RANGES.has(item)) return true;
  const [address = '', prefix, extra] = item.split('/');
  const version = isIP(address);
  if (version === 0 || extra !== undefined) return false;
  if (prefix === undefined) return true;
  return /^[0-9]{1,3}$/.test(prefix) && Number(prefix) <= (version === 4 ? 32 : 128);
}

/**
 * What Fastify's `trustProxy` gets from TRUST_PROXY: false, a hop count, or the proxies' addresses. Never `true`:
 * trusting every hop lets any client choose its address (and its rate-limit key) with X-Forwarded-For.
 */
export function trustProxySetting(raw: string): false | number | string[] {
  const value = raw.trim();
  if (value === '' || value === 'false' || value === '0') return false;
  if (value === 'true') {
    throw new EnvError(
      'Invalid environment: TRUST_PROXY=true would trust every hop (any client could choose its address with X-Forwarded-For); ' +
        'give the number of proxies in front of the API (e.g. TRUST_PROXY=1) or their addresses (e.g. TRUST_PROXY=10.0.0.1,10.0.0.0/8)',
    );
  }
  if (/^[0-9]+$/.test(value)) return Number(value);
  const items = value.split(',').map((i) => i.trim());
  const bad = items.filter((i) => !isProxyAddress(i));
  if (bad.length > 0) {
    throw new EnvError(`Invalid environment: TRUST_PROXY must be false, a hop count or comma-separated proxy addresses/CIDRs; not understood: ${bad.join(', ')}`);
  }
  return items;
}

/** Parses process.env once; server.ts is the only caller. */
export const readEnv = (): ApiEnv => {
  const env = parseEnvOrExit(ApiEnv, process.env);
  try {
    trustProxySetting(env.TRUST_PROXY);
  } catch (err) {
    if (!(err instanceof EnvError)) throw err;
    process.stderr.write(`${err.message}\n`);
    process.exit(1);
  }
  return env;
};
