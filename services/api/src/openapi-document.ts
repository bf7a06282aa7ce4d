import { parseEnv } from '@mm/config';
import { buildApp } from './app.js';
import { ApiEnv } from './env.js';

/**
 * The OpenAPI document exactly as the running API serves it at /docs/json, built without listening and without
 * PostgreSQL or Redis: the addresses below refuse connections, and nothing on the way to `app.swagger()` needs them.
 * @mm/client generates its types from this.
 */
export async function openApiDocument(): Promise<Record<string, unknown>> {
  const env = parseEnv(ApiEnv, {
    NODE_ENV: 'test',
    LOG_LEVEL: 'silent',
    DATABASE_URL: 'postgres://127.0.0.1:1/openapi',
    REDIS_URL: 'redis://127.0.0.1:1',
    QUEUE_PREFIX: 'openapi',
    CLEANUP_CRON: 'off',
  });
  const app = await buildApp({ env, logger: false });
  try {
    await app.ready();
    return app.swagger() as unknown as Record<string, unknown>;
  } finally {
    await app.close();
  }
}
