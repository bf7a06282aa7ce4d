import { Type, type Static } from '@sinclair/typebox';
import { CommonEnv, parseEnvOrExit } from '@mm/config';

export const LauncherEnv = Type.Object({
  NODE_ENV: CommonEnv.NODE_ENV,
  LOG_LEVEL: CommonEnv.LOG_LEVEL,
  // No default here: an unset DATABASE_URL is what selects the embedded PostgreSQL in development.
  DATABASE_URL: Type.Optional(Type.String({ pattern: '^postgres(ql)?://' })),
  REDIS_URL: CommonEnv.REDIS_URL,
  EMBEDDED_POSTGRES_DIR: Type.String({
    minLength: 1,
    default: './var/postgres',
    description: "the embedded PostgreSQL's folder (data, password, log); relative to the project root",
  }),
  EMBEDDED_POSTGRES_USER: Type.String({
    pattern: '^[a-z_][a-z0-9_-]*$',
    default: 'postgres',
    description: 'the system user the embedded PostgreSQL runs as when `pnpm start` runs as root (PostgreSQL refuses to run as root)',
  }),
});
export type LauncherEnv = Static<typeof LauncherEnv>;

export interface LauncherConfig {
  env: LauncherEnv;
  /** The raw environment: handed on to the services, and read by the queue-backend switch before any default applies. */
  inherited: NodeJS.ProcessEnv;
}

export const readLauncherConfig = (): LauncherConfig => ({
  env: parseEnvOrExit(LauncherEnv, process.env),
  inherited: { ...process.env },
});
