import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyPluginAsync } from 'fastify';

export interface PrometheusRoutesOptions {
  /** When set, scrapes must send `Authorization: Bearer <token>`; when unset /metrics is open (restrict it at the network). */
  token: string | undefined;
}

const digest = (s: string) => createHash('sha256').update(s).digest();

/** GET /metrics in the Prometheus text format. Outside /api, so the user JWT guard does not apply; see docs/API.md. */
const routes: FastifyPluginAsync<PrometheusRoutesOptions> = async (app, { token }) => {
  const expected = token ? digest(`Bearer ${token}`) : null;
  app.get('/metrics', { config: { auth: 'public', rateLimit: false }, schema: { hide: true } }, async (request, reply) => {
    if (expected) {
      const given = request.headers.authorization;
      // Compare digests: equal lengths, and no timing hint about the token.
      if (typeof given !== 'string' || !timingSafeEqual(digest(given), expected)) {
        return reply.code(401).header('www-authenticate', 'Bearer').send({ success: false, error: { code: 'UNAUTHORIZED', message: 'The metrics token is required.' } });
      }
    }
    const body = await app.metricsRegistry.metrics();
    return reply.type(app.metricsRegistry.contentType).send(body);
  });
};

export default routes;
