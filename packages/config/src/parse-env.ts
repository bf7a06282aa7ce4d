import { Type, type Static, type TObject, type TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { resolveQueueBackend } from './queue-backend.js';

/** Thrown when the environment does not satisfy a service's schema; the message names every bad variable. */
export class EnvError extends Error {
  override name = 'EnvError';
}

type Source = Record<string, string | undefined>;

/**
 * Parses `source` (normally process.env, passed in by a service's env.ts) against `schema`.
 * A property may carry `devDefault`: used only when NODE_ENV is not `production`, so secrets
 * have a local-development value but no default in production.
 */
export function parseEnv<T extends TObject>(schema: T, source: Source): Static<T> {
  const production = source.NODE_ENV === 'production';
  const input: Record<string, unknown> = {};
  for (const [key, prop] of Object.entries(schema.properties as Record<string, TSchema>)) {
    const raw = source[key];
    if (raw !== undefined && raw !== '') input[key] = raw;
    else if (!production && typeof prop.devDefault === 'string') input[key] = prop.devDefault;
  }
  // `auto` (or unset) is decided from the raw environment (queue-backend.ts), before defaults hide what was given.
  if ('QUEUE_BACKEND' in schema.properties && (input.QUEUE_BACKEND === undefined || input.QUEUE_BACKEND === 'auto')) {
    input.QUEUE_BACKEND = resolveQueueBackend(source);
  }
  const value = Value.Convert(schema, Value.Default(schema, input));
  const problems = [...Value.Errors(schema, value)].map((e) => {
    const key = e.path.replace(/^\//, '').split('/')[0] || '(root)';
    const given = (value as Record<string, unknown>)[key];
    return given === undefined ? `${key} is required` : `${key} ${e.message.toLowerCase()}`;
  });
  if ('REDIS_CLUSTER' in schema.properties) problems.push(...redisTopologyProblems(value as Record<string, unknown>, source));
  if (problems.length > 0) {
    const unique = [...new Set(problems)];
    throw new EnvError(`Invalid environment: ${unique.join('; ')}`);
  }
  return value as Static<T>;
}

/** For a service's env.ts: parse, or print one clear line and exit non-zero. */
export function parseEnvOrExit<T extends TObject>(schema: T, source: Source): Static<T> {
  try {
    return parseEnv(schema, source);
  } catch (err) {
    if (!(err instanceof EnvError)) throw err;
    process.stderr.write(`${err.message}\n`);
    process.exit(1);
  }
}

/** A hash tag (`{...}` with something inside): Redis Cluster hashes only that part, so every key with it shares one slot. */
export const HASH_TAG = /\{[^{}]+\}/;

/** The QUEUE_PREFIX a cluster deployment gets when it sets none. */
export const CLUSTER_QUEUE_PREFIX = '{mm}';

/**
 * REDIS_URL, REDIS_CLUSTER and QUEUE_PREFIX together (CommonEnv's variables; a schema spreading CommonEnv gets this).
 * On a cluster every key of ours and of BullMQ must share one hash slot: the multi-key Lua scripts (BullMQ's, the job
 * lookup across queues) fail with CROSSSLOT otherwise. So the prefix needs a hash tag, `{mm}` by default there.
 */
function redisTopologyProblems(value: Record<string, unknown>, source: Source): string[] {
  if (typeof value.REDIS_URL !== 'string' || typeof value.QUEUE_PREFIX !== 'string') return [];
  const urls = value.REDIS_URL.split(',').map((u) => u.trim());
  if (value.REDIS_CLUSTER !== true) {
    return urls.length > 1 ? ['REDIS_URL names several nodes: set REDIS_CLUSTER=true for a Redis Cluster (a single Redis takes one URL)'] : [];
  }
  const problems = urls.filter((u) => !/^rediss?:\/\/[^,\s]+$/.test(u)).map((u) => `REDIS_URL has a seed node that is not a redis:// URL: "${u.slice(0, 80)}"`);
  if (source.QUEUE_PREFIX === undefined || source.QUEUE_PREFIX === '') value.QUEUE_PREFIX = CLUSTER_QUEUE_PREFIX;
  else if (!HASH_TAG.test(value.QUEUE_PREFIX)) {
    problems.push(`QUEUE_PREFIX must hold a hash tag such as ${CLUSTER_QUEUE_PREFIX} when REDIS_CLUSTER=true (every queue key must be in one hash slot)`);
  }
  return problems;
}

const hex32 = (devDefault: string, description: string) =>
  Type.String({ pattern: '^[0-9a-fA-F]{64}$', devDefault, description: `${description} (64 hex characters: openssl rand -hex 32)` });

/** Variables every process reads. Spread into a service's own schema. */
export const CommonEnv = {
  NODE_ENV: Type.Union([Type.Literal('development'), Type.Literal('production'), Type.Literal('test')], { default: 'development' }),
  LOG_LEVEL: Type.Union(
    ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)),
    { default: 'info' },
  ),
  DATABASE_URL: Type.String({ pattern: '^postgres(ql)?://', default: 'postgres://postgres@127.0.0.1:5432/medicine_man' }),
  REDIS_URL: Type.String({ pattern: '^rediss?://', default: 'redis://127.0.0.1:6379', description: 'one Redis, or with REDIS_CLUSTER=true one or more seed nodes, comma-separated' }),
  REDIS_CLUSTER: Type.Boolean({ default: false, description: 'true: REDIS_URL names Redis Cluster seed nodes; QUEUE_PREFIX then defaults to {mm} and must hold a hash tag' }),
  QUEUE_BACKEND: Type.Union([Type.Literal('redis'), Type.Literal('postgres')], {
    description: 'where the queues run: redis, or postgres (BullMQ on PostgreSQL, schema bullmq of DATABASE_URL); unset or auto = postgres in development without REDIS_URL and DATABASE_URL, else redis',
  }),
  QUEUE_PREFIX: Type.String({ minLength: 1, pattern: '^[^:\\s]+$', default: 'bull', description: 'Redis key prefix; {mm} by default when REDIS_CLUSTER=true' }),
  SHUTDOWN_TIMEOUT_MS: Type.Integer({ minimum: 0, default: 30_000 }),
};

// Development-only values: NODE_ENV=production refuses to start without real ones.
export const SecretEnv = {
  JWT_SECRET: Type.String({ minLength: 32, devDefault: 'dev-only-jwt-secret-change-me-0123456789abcdef' }),
  CREDENTIALS_KEY: hex32('00'.repeat(31) + '01', 'AES-256-GCM key for server credentials'),
  BACKUP_ENCRYPTION_KEY: hex32('00'.repeat(31) + '02', 'AES-256-GCM key for encrypted backups'),
};
