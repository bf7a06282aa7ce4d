import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { and, desc, eq, sql } from 'drizzle-orm';
import { encryptSecret, webhookDeliveries, webhooks, type Webhook, type WebhookDelivery } from '@mm/db';
import { ApiError, notFound } from '../errors.js';
import { checkWebhookUrl, WebhookUrlRefused } from '../domain/webhook-url-guard.js';
import { errors, IdParams, ok, okList, Pagination } from '../schemas/common.js';
import { CreateWebhookBody, DeliveriesQuery, DeliveryView, WebhookView } from '../schemas/webhooks.js';

export interface WebhookRoutesOptions {
  credentialsKey: string;
}

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

const routes: FastifyPluginAsyncTypebox<WebhookRoutesOptions> = async (app, { credentialsKey }) => {
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
        await checkWebhookUrl(url, app.webhookPolicy);
      } catch (err) {
        if (!(err instanceof WebhookUrlRefused)) throw err;
        throw new ApiError('VALIDATION_ERROR', `The webhook URL is refused: ${err.message}.`, [{ path: '/url', message: err.message }]);
      }
      const [created] = await app.db
        .insert(webhooks)
        .values({ url, events: [...new Set(request.body.events)], secretEncrypted: encryptSecret(secret, credentialsKey), createdBy: request.user.id })
        .returning();
      if (!created) throw new Error('webhook insert returned no row');
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
      const [rows, [{ total } = { total: 0 }]] = await Promise.all([
        app.db.select().from(webhooks).orderBy(desc(webhooks.createdAt), desc(webhooks.id)).limit(limit).offset(offset),
        app.db.select({ total: sql<number>`count(*)::int` }).from(webhooks),
      ]);
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
      const deleted = await app.db.delete(webhooks).where(eq(webhooks.id, id)).returning({ id: webhooks.id });
      if (deleted.length === 0) throw notFound(`Webhook ${id}`);
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
      const [hook] = await app.db.select({ id: webhooks.id }).from(webhooks).where(eq(webhooks.id, id));
      if (!hook) throw notFound(`Webhook ${id}`);
      const where = and(eq(webhookDeliveries.webhookId, id), status ? eq(webhookDeliveries.status, status) : undefined);
      const [rows, [{ total } = { total: 0 }]] = await Promise.all([
        app.db.select().from(webhookDeliveries).where(where).orderBy(desc(webhookDeliveries.createdAt), desc(webhookDeliveries.id)).limit(limit).offset(offset),
        app.db.select({ total: sql<number>`count(*)::int` }).from(webhookDeliveries).where(where),
      ]);
      return { success: true as const, data: rows.map(deliveryView), meta: { limit, offset, total } };
    },
  );
};

export default routes;
