import { and, desc, eq, sql } from 'drizzle-orm';
import { webhookDeliveries, webhooks, type Db, type Webhook, type WebhookDelivery } from '@mm/db';

export async function insertWebhook(db: Db, values: typeof webhooks.$inferInsert): Promise<Webhook> {
  const [created] = await db.insert(webhooks).values(values).returning();
  if (!created) throw new Error('webhook insert returned no row');
  return created;
}

export async function listWebhooks(db: Db, limit: number, offset: number): Promise<{ rows: Webhook[]; total: number }> {
  const [rows, [{ total } = { total: 0 }]] = await Promise.all([
    db.select().from(webhooks).orderBy(desc(webhooks.createdAt), desc(webhooks.id)).limit(limit).offset(offset),
    db.select({ total: sql<number>`count(*)::int` }).from(webhooks),
  ]);
  return { rows, total };
}

/** True when the webhook existed; its deliveries go with it (foreign key cascade). */
export async function deleteWebhook(db: Db, id: string): Promise<boolean> {
  const deleted = await db.delete(webhooks).where(eq(webhooks.id, id)).returning({ id: webhooks.id });
  return deleted.length > 0;
}

/** A webhook's deliveries, newest first, optionally of one status; null when the webhook does not exist. */
export async function listDeliveries(
  db: Db,
  webhookId: string,
  query: { status?: WebhookDelivery['status'] | undefined; limit: number; offset: number },
): Promise<{ rows: WebhookDelivery[]; total: number } | null> {
  const [hook] = await db.select({ id: webhooks.id }).from(webhooks).where(eq(webhooks.id, webhookId));
  if (!hook) return null;
  const where = and(eq(webhookDeliveries.webhookId, webhookId), query.status ? eq(webhookDeliveries.status, query.status) : undefined);
  const [rows, [{ total } = { total: 0 }]] = await Promise.all([
    db.select().from(webhookDeliveries).where(where).orderBy(desc(webhookDeliveries.createdAt), desc(webhookDeliveries.id)).limit(query.limit).offset(query.offset),
    db.select({ total: sql<number>`count(*)::int` }).from(webhookDeliveries).where(where),
  ]);
  return { rows, total };
}
