import { Type, type Static, type TObject, type TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';

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
  const value = Value.Convert(schema, Value.Default(schema, input));
  const problems = [...Value.Errors(schema, value)].map((e) => {
    const key = e.path.replace(/^\//, '').split('/')[0] || '(root)';
    const given = (value as Record<string, unknown>)[key];
    return given === undefined ? `${key} is required` : `${key} ${e.message.toLowerCase()}`;
  });
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
  REDIS_URL: Type.String({ pattern: '^rediss?://', default: 'redis://127.0.0.1:6379' }),
  QUEUE_PREFIX: Type.String({ minLength: 1, pattern: '^[^:\\s]+$', default: 'bull' }),
  SHUTDOWN_TIMEOUT_MS: Type.Integer({ minimum: 0, default: 30_000 }),
};

// Development-only values: NODE_ENV=production refuses to start without real ones.
export const SecretEnv = {
  JWT_SECRET: Type.String({ minLength: 32, devDefault: 'dev-only-jwt-secret-change-me-0123456789abcdef' }),
  CREDENTIALS_KEY: hex32('00'.repeat(31) + '01', 'AES-256-GCM key for server credentials'),
  BACKUP_ENCRYPTION_KEY: hex32('00'.repeat(31) + '02', 'AES-256-GCM key for encrypted backups'),
};
