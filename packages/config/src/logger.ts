import { pino, type Logger, type LoggerOptions } from 'pino';

export type { Logger } from 'pino';

/** Field names that must never reach a log line, wherever they sit in the logged object. */
const SECRET_FIELDS = ['password', 'privateKey', 'passphrase', 'token', 'secret', 'credentials', 'authorization', 'cookie'];

export const redactPaths = [
  ...SECRET_FIELDS,
  ...SECRET_FIELDS.map((f) => `*.${f}`),
  ...SECRET_FIELDS.map((f) => `*.*.${f}`),
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
