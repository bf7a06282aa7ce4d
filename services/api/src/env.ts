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
});
export type ApiEnv = Static<typeof ApiEnv>;

/** Parses process.env once; server.ts is the only caller. */
export const readEnv = (): ApiEnv => parseEnvOrExit(ApiEnv, process.env);
