import type { IncomingMessage, ServerResponse } from 'node:http';
import fp from 'fastify-plugin';
import helmet, { type HelmetOptions } from 'helmet';

// Swagger UI at /docs loads its own scripts and styles, which the default CSP would block.
const HELMET: HelmetOptions = {
  contentSecurityPolicy: {
    directives: { defaultSrc: ["'self'"], scriptSrc: ["'self'", "'unsafe-inline'"], styleSrc: ["'self'", "'unsafe-inline'"], imgSrc: ["'self'", 'data:'] },
  },
};

/**
 * Helmet's headers, computed once: with no CSP nonces they are the same on every response. @fastify/helmet
 * rebuilds the whole helmet middleware (parsing the CSP directives) on every request, which was 7-8 % of
 * the API's CPU on the trigger route (docs/PERFORMANCE.md).
 */
function helmetHeaders(): Record<string, string> {
  const headers: Record<string, string> = {};
  const recorder = {
    setHeader: (name: string, value: string | number | readonly string[]) => {
      headers[name.toLowerCase()] = String(value);
    },
    removeHeader: (name: string) => {
      delete headers[name.toLowerCase()];
    },
  };
  helmet(HELMET)({} as IncomingMessage, recorder as unknown as ServerResponse, () => undefined);
  return headers;
}

export default fp(
  async (app) => {
    const headers = helmetHeaders();
    app.addHook('onRequest', (_request, reply, done) => {
      void reply.headers(headers);
      done();
    });
  },
  { name: 'security' },
);
