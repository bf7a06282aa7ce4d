import { pino, type Logger, type LoggerOptions } from 'pino';

export type { Logger } from 'pino';

/** Field names that must never reach a log line. */
const SECRET_FIELDS = ['password', 'privateKey', 'passphrase', 'token', 'secret', 'credentials', 'authorization', 'cookie'];

/**
 * Explicit paths, no `*.x` wildcards: pino's redaction cost grows with every wildcard on every line, and
 * the code logs only flat literal objects (ids, counts, `err`), so a secret can sit only at the top level,
 * on an error (own properties such as `config`/`options` of a client library, and its `cause`), or in the
 * request headers of Fastify's request serializer.
 */
export const redactPaths = [
  ...SECRET_FIELDS,
  ...SECRET_FIELDS.map((f) => `err.${f}`),
  ...SECRET_FIELDS.map((f) => `err.cause.${f}`),
  ...['config', 'options', 'auth'].flatMap((holder) => SECRET_FIELDS.map((f) => `err.${holder}.${f}`)),
  'req.headers.authorization',
  'req.headers.cookie',
];

export interface LoggerConfig {
  name: string;
  level: string;
  pretty: boolean;
}

export function loggerOptions({ name, level, pretty }: LoggerConfig): LoggerOptions {
  return {
    name,
    level,
    redact: { paths: redactPaths, censor: '[redacted]' },
    ...(pretty ? { transport: { target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' } } } : {}),
  };
}

export function createLogger(config: LoggerConfig): Logger {
  return pino(loggerOptions(config));
}
