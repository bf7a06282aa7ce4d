import { access } from 'node:fs/promises';
import { join } from 'node:path';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import fastifyStatic from '@fastify/static';
import { resolveProjectPath } from '@mm/config';
import type { FeatureOptions } from '../../shared/feature-options.js';

/**
 * The dashboard's own policy, stricter than the API's default (plugins/security.ts allows inline script and style
 * for Swagger UI at /docs): only files from this origin, no inline script or style, no framing, no plugins.
 */
export const DASHBOARD_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "font-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

/**
 * The dashboard (apps/web) at /: its index.html and hashed assets from WEB_DIR, one route per built file
 * (`wildcard: false`), so every /api route, /docs and /admin stay as they are. Not built: a warning, no routes.
 */
const web: FastifyPluginAsyncTypebox<FeatureOptions> = async (app, { env }) => {
  const root = resolveProjectPath(env.WEB_DIR);
  try {
    await access(join(root, 'index.html'));
  } catch {
    app.log.warn({ webDir: root }, 'dashboard not built (no index.html in WEB_DIR): / is not served; build it with `pnpm -C apps/web build` (`pnpm start` does)');
    return;
  }
  app.addHook('onRequest', (request, reply, done) => {
    void reply.header('content-security-policy', DASHBOARD_CSP);
    // Vite names assets by content hash: they never change; index.html must be revalidated to pick up a new build.
    void reply.header('cache-control', request.url.startsWith('/assets/') ? 'public, max-age=31536000, immutable' : 'no-cache');
    done();
  });
  await app.register(fastifyStatic, { root, prefix: '/', wildcard: false, index: ['index.html'], cacheControl: false, schemaHide: true });
  app.log.info({ webDir: root }, 'dashboard served at /');
};

export default web;
