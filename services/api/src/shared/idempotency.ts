import { createHash } from 'node:crypto';
import { DAY_SECONDS, type KeyValueStore } from '@mm/jobs';
import { conflict } from './errors.js';

export interface StoredAnswer {
  status: number;
  body: unknown;
}

type Entry = { state: 'pending'; request: string } | { state: 'done'; request: string; answer: StoredAnswer };

const PENDING_SECONDS = 60;

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

/**
 * `Idempotency-Key` for the trigger routes, kept in the queue backend's key-value store (Redis keys, or `queue_kv`
 * rows when the queues run on PostgreSQL): the first request claims the key (SET NX semantics) for 24 h; a repeat from the same user gets the first answer back
 * and enqueues nothing. A repeat while the first is still running, or with a different request, is a 409.
 */
export class Idempotency {
  constructor(
    private readonly store: KeyValueStore,
    private readonly prefix: string,
  ) {}

  private key(userId: string, idempotencyKey: string): string {
    return `${this.prefix}:mm:idempotency:${userId}:${sha256(idempotencyKey)}`;
  }

  async run(userId: string, idempotencyKey: string, request: { method: string; url: string; body: unknown }, work: () => Promise<StoredAnswer>): Promise<StoredAnswer & { replayed: boolean }> {
    const key = this.key(userId, idempotencyKey);
    const fingerprint = sha256(`${request.method} ${request.url} ${JSON.stringify(request.body ?? null)}`);
    const pending: Entry = { state: 'pending', request: fingerprint };
    // The claim expires soon, so a process that dies mid-request does not block the key for a day.
    const claimed = await this.store.set(key, JSON.stringify(pending), PENDING_SECONDS * 1_000, { onlyIfAbsent: true });
    if (!claimed) {
      const raw = await this.store.get(key);
      // The key expired between the two calls: treat it as claimed by nobody and try once more.
      if (raw === null) return this.run(userId, idempotencyKey, request, work);
      const entry = JSON.parse(raw) as Entry;
      if (entry.request !== fingerprint) throw conflict('This Idempotency-Key was already used for a different request.');
      if (entry.state === 'pending') throw conflict('A request with this Idempotency-Key is still being processed.');
      return { ...entry.answer, replayed: true };
    }
    let answer: StoredAnswer;
    try {
      answer = await work();
    } catch (err) {
      // Nothing was done, so the key must not block a retry of the same request.
      await this.store.delete(key).catch(() => undefined);
      throw err;
    }
    const done: Entry = { state: 'done', request: fingerprint, answer };
    await this.store.set(key, JSON.stringify(done), DAY_SECONDS * 1_000);
    return { ...answer, replayed: false };
  }
}
