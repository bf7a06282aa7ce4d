import { eq } from 'drizzle-orm';
import { users, type Db } from '@mm/db';
import { UUID_PATTERN } from '@mm/jobs';
import type { Role } from './roles.js';

const USER_ID = new RegExp(UUID_PATTERN);

export interface CachedUser {
  id: string;
  email: string;
  role: Role;
}

const TTL_MS = 5_000;

/**
 * Who a token belongs to, re-read from PostgreSQL at most every few seconds: a deleted user or a changed
 * role takes effect within TTL_MS instead of at token expiry, without a query on every request.
 */
export class UserCache {
  private readonly entries = new Map<string, { user: CachedUser | null; expires: number }>();
  constructor(private readonly db: Db) {}

  /**
   * The user as cached, without a promise: null when the id names nobody, undefined when it must be read (`get`).
   * The auth hook answers from here on nearly every request (docs/PERFORMANCE.md).
   */
  peek(id: string): CachedUser | null | undefined {
    const hit = this.entries.get(id);
    if (hit && hit.expires > Date.now()) return hit.user;
    // A token's subject is only as good as its signer: one that is not a user id names nobody (not a failed uuid cast, a
    // 503). Only ids that pass are ever cached, so a hit above needs no check.
    return typeof id !== 'string' || !USER_ID.test(id) ? null : undefined;
  }

  async get(id: string): Promise<CachedUser | null> {
    const cached = this.peek(id);
    if (cached !== undefined) return cached;
    const [row] = await this.db.select({ id: users.id, email: users.email, role: users.role }).from(users).where(eq(users.id, id));
    const user = row ?? null;
    if (this.entries.size > 10_000) this.entries.clear();
    this.entries.set(id, { user, expires: Date.now() + TTL_MS });
    return user;
  }

  invalidate(id: string): void {
    this.entries.delete(id);
  }
}
