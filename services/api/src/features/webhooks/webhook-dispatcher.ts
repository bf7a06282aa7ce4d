import { setTimeout as delay } from 'node:timers/promises';
import type { FastifyBaseLogger } from 'fastify';
import { eq, sql } from 'drizzle-orm';
import { decryptWebhookSecret, webhookDeliveries, type Db, type WebhookAttempt } from '@mm/db';
import { sendWebhook, type SendOutcome } from './webhook-sender.js';
import type { PublicUrlPolicy } from '@mm/outbound-http';

export interface WebhookDispatcherOptions {
  db: Db;
  log: FastifyBaseLogger;
  credentialsKey: string;
  policy: PublicUrlPolicy;
  timeoutMs: number;
  maxAttempts: number;
  retryBaseMs: number;
  pollIntervalMs: number;
  /** Deliveries claimed (and sent concurrently) per round. */
  batchSize?: number;
}

interface Claimed extends Record<string, unknown> {
  id: string;
  event: string;
  payload: unknown;
  attempts: number;
  url: string;
  secret_encrypted: string;
}

const MAX_BACKOFF_MS = 6 * 60 * 60 * 1_000;

/** base * 2^(attempt-1), capped, plus up to 20% jitter so a receiver coming back is not hit by every retry at once. */
export const backoffMs = (attempt: number, baseMs: number): number => {
  const plain = Math.min(MAX_BACKOFF_MS, baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(plain * (1 + Math.random() * 0.2));
};

/**
 * Sends the outbox (`webhook_deliveries`). Each round claims due rows with FOR UPDATE SKIP LOCKED and pushes their
 * next_attempt_at past the attempt's timeout (a lease), so any number of API processes share the work without
 * sending a row twice, and a row whose process died mid-send is taken up again once the lease runs out.
 */
export class WebhookDispatcher {
  private readonly stop = new AbortController();
  private loop: Promise<void> | undefined;
  private failing = false;

  constructor(private readonly opts: WebhookDispatcherOptions) {}

  start(): void {
    this.loop ??= this.run();
  }

  /** Stops polling and waits for the round in flight (bounded by the send timeout). Safe to call twice. */
  async close(): Promise<void> {
    this.stop.abort();
    await this.loop;
  }

  /** One round: claim, send, record. Returns how many deliveries were attempted. */
  async runOnce(): Promise<number> {
    const claimed = await this.claim();
    await Promise.all(claimed.map((row) => this.deliver(row)));
    return claimed.length;
  }

  private async run(): Promise<void> {
    while (!this.stop.signal.aborted) {
      let sent = 0;
      try {
        sent = await this.runOnce();
        if (this.failing) this.opts.log.info('webhook dispatcher recovered');
        this.failing = false;
      } catch (err) {
        if (!this.failing) this.opts.log.error({ err }, 'webhook dispatcher round failed; retrying');
        this.failing = true;
      }
      // A full round may leave more due rows: go again at once; otherwise wait for the next poll.
      if (sent > 0 && !this.failing) continue;
      await delay(this.opts.pollIntervalMs, undefined, { signal: this.stop.signal }).catch(() => undefined);
    }
  }

  private async claim(): Promise<Claimed[]> {
    const leaseSeconds = Math.ceil(this.opts.timeoutMs / 1_000) + 60;
    const limit = this.opts.batchSize ?? 10;
    const rows = await this.opts.db.execute<Claimed>(sql`
      update webhook_deliveries d
         set attempts = d.attempts + 1, next_attempt_at = now() + make_interval(secs => ${leaseSeconds})
        from webhooks w
       where w.id = d.webhook_id
         and d.id in (select id from webhook_deliveries
                       where status = 'pending' and next_attempt_at <= now()
                       order by next_attempt_at limit ${limit}
                       for update skip locked)
      returning d.id, d.event, d.payload, d.attempts, w.url, w.secret_encrypted`);
    return [...rows];
  }

  private async attempt(row: Claimed): Promise<SendOutcome> {
    // Claimed again after a process died mid-send on its last attempt.
    if (row.attempts > this.opts.maxAttempts) return { ok: false, statusCode: null, error: 'the process sending the last attempt stopped before it finished' };
    let secret: string;
    try {
      secret = decryptWebhookSecret(row.secret_encrypted, this.opts.credentialsKey);
    } catch (err) {
      return { ok: false, statusCode: null, error: (err as Error).message };
    }
    return sendWebhook({ url: row.url, body: JSON.stringify(row.payload), secret, event: row.event, deliveryId: row.id }, this.opts);
  }

  private async deliver(row: Claimed): Promise<void> {
    const { log } = this.opts;
    const outcome = await this.attempt(row);
    const attempt: WebhookAttempt = { at: new Date().toISOString(), statusCode: outcome.statusCode, error: outcome.error };
    const giveUp = !outcome.ok && row.attempts >= this.opts.maxAttempts;
    const status = outcome.ok ? 'delivered' : giveUp ? 'failed' : 'pending';
    await this.opts.db
      .update(webhookDeliveries)
      .set({
        status,
        lastStatusCode: outcome.statusCode,
        lastError: outcome.error,
        attemptLog: sql`${webhookDeliveries.attemptLog} || ${JSON.stringify([attempt])}::jsonb`,
        ...(outcome.ok ? { deliveredAt: new Date() } : {}),
        ...(status === 'pending' ? { nextAttemptAt: new Date(Date.now() + backoffMs(row.attempts, this.opts.retryBaseMs)) } : {}),
      })
      .where(eq(webhookDeliveries.id, row.id));
    const fields = { deliveryId: row.id, event: row.event, attempt: row.attempts, statusCode: outcome.statusCode };
    if (outcome.ok) log.info(fields, 'webhook delivered');
    else if (giveUp) log.warn({ ...fields, error: outcome.error }, 'webhook delivery failed for good');
    else log.info({ ...fields, error: outcome.error }, 'webhook attempt failed; will retry');
  }
}
