import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { ApiEnv } from '../../env.js';
import { Type } from '@sinclair/typebox';
import { encryptWebhookSecret, type Webhook, type WebhookDelivery } from '@mm/db';
import { ApiError, notFound } from '../../shared/errors.js';
import { checkPublicUrl, UrlRefused } from '@mm/outbound-http';
import { errors, IdParams, ok, okList, Pagination } from '../../shared/schemas.js';
import { deleteWebhook, insertWebhook, listDeliveries, listWebhooks } from './repository.js';
import { CreateWebhookBody, DeliveriesQuery, DeliveryView, WebhookView } from './schemas.js';

const view = (w: Webhook) => ({ id: w.id, url: w.url, events: w.events, createdBy: w.createdBy, createdAt: w.createdAt.toISOString() });

const deliveryView = (d: WebhookDelivery) => ({
  id: d.id,
  webhookId: d.webhookId,
  event: d.event,
  status: d.status,
  attempts: d.attempts,
  nextAttemptAt: d.status === 'pending' ? d.nextAttemptAt.toISOString() : null,
  lastStatusCode: d.lastStatusCode,
  lastError: d.lastError,
  attemptLog: d.attemptLog,
  deliveredAt: d.deliveredAt?.toISOString() ?? null,
  createdAt: d.createdAt.toISOString(),
  payload: d.payload,
});

const webhooksFeature: FastifyPluginAsyncTypebox<{ env: ApiEnv }> = async (app, { env }) => {
  const credentialsKey = env.CREDENTIALS_KEY;
  app.post(
    '/api/webhooks',
    {
      config: { auth: 'admin' },
      schema: {
        tags: ['webhooks'],
        summary: 'Subscribe a URL to events (admin); deliveries are signed with the secret',
        body: CreateWebhookBody,
        response: { 201: ok(WebhookView), ...errors(400, 401, 403, 429, 503) },
      },
    },
    async (request, reply) => {
      const { url, secret } = request.body;
      try {
        await checkPublicUrl(url, app.webhookPolicy);
      } catch (err) {
        if (!(err instanceof UrlRefused)) throw err;
        throw new ApiError('VALIDATION_ERROR', `The webhook URL is refused: ${err.message}.`, [{ path: '/url', message: err.message }]);
      }
      const created = await insertWebhook(app.db, {
        url,
        events: [...new Set(request.body.events)],
        secretEncrypted: encryptWebhookSecret(secret, credentialsKey),
        createdBy: request.user.id,
      });
      request.log.info({ webhookId: created.id, events: created.events }, 'webhook created');
      return reply.code(201).send({ success: true as const, data: view(created) });
    },
  );

  app.get(
    '/api/webhooks',
    {
      config: { auth: 'admin' },
      schema: {
        tags: ['webhooks'],
        summary: 'List webhooks, newest first (admin); secrets are never returned',
        querystring: Type.Object(Pagination, { additionalProperties: false }),
        response: { 200: okList(WebhookView), ...errors(400, 401, 403, 429, 503) },
      },
    },
    async (request) => {
      const { limit, offset } = request.query;
      const { rows, total } = await listWebhooks(app.db, limit, offset);
      return { success: true as const, data: rows.map(view), meta: { limit, offset, total } };
    },
  );

  app.delete(
    '/api/webhooks/:id',
    {
      config: { auth: 'admin' },
      schema: {
        tags: ['webhooks'],
        summary: 'Delete a webhook and its delivery history (admin)',
        params: IdParams,
        response: { 200: ok(Type.Object({ id: Type.String(), deleted: Type.Literal(true) })), ...errors(400, 401, 403, 404, 429, 503) },
      },
    },
    async (request) => {
      const { id } = request.params;
      if (!(await deleteWebhook(app.db, id))) throw notFound(`Webhook ${id}`);
      request.log.info({ webhookId: id }, 'webhook deleted');
      return { success: true as const, data: { id, deleted: true as const } };
    },
  );

  app.get(
    '/api/webhooks/:id/deliveries',
    {
      config: { auth: 'admin' },
      schema: {
        tags: ['webhooks'],
        summary: "A webhook's deliveries, newest first, with each attempt's outcome (admin)",
        params: IdParams,
        querystring: DeliveriesQuery,
        response: { 200: okList(DeliveryView), ...errors(400, 401, 403, 404, 429, 503) },
      },
    },
    async (request) => {
      const { id } = request.params;
      const { limit, offset, status } = request.query;
      const page = await listDeliveries(app.db, id, { status, limit, offset });
      if (!page) throw notFound(`Webhook ${id}`);
      return { success: true as const, data: page.rows.map(deliveryView), meta: { limit, offset, total: page.total } };
    },
  );
};

export default webhooksFeature;
