import fp from 'fastify-plugin';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';

/** OpenAPI 3 generated from the route schemas: the document at /docs/json, Swagger UI at /docs. */
export default fp(
  async (app) => {
    await app.register(swagger, {
      openapi: {
        openapi: '3.0.3',
        info: {
          title: 'Medicine Man API',
          version: '0.1.0',
          description: 'Manage servers and trigger backup, scan and update jobs. Every /api route except login needs a Bearer JWT or API token (`mm_pat_…`) (the SSE routes also accept `?access_token=`).',
        },
        components: { securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } } },
        security: [{ bearerAuth: [] }],
        tags: ['auth', 'users', 'servers', 'triggers', 'records', 'jobs', 'metrics', 'health', 'events', 'queues', 'tokens'].map((name) => ({ name })),
      },
    });
    await app.register(swaggerUi, { routePrefix: '/docs' });
  },
  { name: 'swagger' },
);
