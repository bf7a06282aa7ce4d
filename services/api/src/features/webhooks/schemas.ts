import { Type } from '@sinclair/typebox';
import { webhookDeliveryStatuses, webhookEvents } from '@mm/db';
import { NullableTimestamp, Pagination, Timestamp, Uuid } from '../../shared/schemas.js';

export const WebhookEventName = Type.Union(webhookEvents.map((e) => Type.Literal(e)));

export const CreateWebhookBody = Type.Object(
  {
    url: Type.String({ minLength: 1, maxLength: 2_048, pattern: '^[^\\u0000-\\u001f\\u007f]+$', description: 'http(s); must resolve to a public address unless allowed by WEBHOOK_ALLOWED_HOSTS' }),
    events: Type.Array(WebhookEventName, { minItems: 1, maxItems: webhookEvents.length, uniqueItems: true }),
    secret: Type.String({ minLength: 16, maxLength: 512, description: 'HMAC-SHA256 key for X-MM-Signature; stored encrypted, never returned' }),
  },
  { additionalProperties: false },
);

export const WebhookView = Type.Object({
  id: Uuid,
  url: Type.String(),
  events: Type.Array(WebhookEventName),
  createdBy: Type.Union([Uuid, Type.Null()]),
  createdAt: Timestamp,
});

export const DeliveryStatus = Type.Union(webhookDeliveryStatuses.map((s) => Type.Literal(s)));

export const DeliveryView = Type.Object({
  id: Uuid,
  webhookId: Uuid,
  event: WebhookEventName,
  status: DeliveryStatus,
  attempts: Type.Integer(),
  nextAttemptAt: NullableTimestamp,
  lastStatusCode: Type.Union([Type.Integer(), Type.Null()]),
  lastError: Type.Union([Type.String(), Type.Null()]),
  attemptLog: Type.Array(Type.Object({ at: Timestamp, statusCode: Type.Union([Type.Integer(), Type.Null()]), error: Type.Union([Type.String(), Type.Null()]) })),
  deliveredAt: NullableTimestamp,
  createdAt: Timestamp,
  payload: Type.Unknown({ description: 'the JSON body sent: { event, occurredAt, data }' }),
});

export const DeliveriesQuery = Type.Object({ ...Pagination, status: Type.Optional(DeliveryStatus) }, { additionalProperties: false });
