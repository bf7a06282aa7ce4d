import type { FastifyBaseLogger } from 'fastify';
import { ApiError } from '../../shared/errors.js';

/** Accounts tracked at most; past it the oldest entries go first (an attacker spraying random emails cannot grow it forever). */
const MAX_ENTRIES = 100_000;

/**
 * Login attempts per account (the lower-cased email), from whatever address they come, cleared by a success.
 * Each attempt is counted when it starts, before its password is checked (the check awaits argon2): counting
 * failures afterwards let a parallel burst run every guess past the check before the first was counted (issue #12). The per-IP limit alone
 * lets a pool of addresses keep guessing one account's password. In-process, like the per-IP counters.
 * Unknown emails are counted the same way, so the answer never tells whether an account exists.
 */
export class LoginThrottle {
  private readonly failures = new Map<string, { count: number; resetAt: number }>();

  constructor(
    private readonly max: number,
    private readonly windowMs: number,
  ) {}

  /**
   * Counts one attempt for `email`, or throws 429 (with Retry-After) while it has used up its attempts. Synchronous:
   * nothing runs between the look and the count. Call before checking the password; `recordSuccess` clears the count.
   */
  claimAttempt(email: string, log: FastifyBaseLogger): void {
    const wait = this.retryAfterSeconds(email);
    if (wait === 0) {
      this.count(email);
      return;
    }
    log.warn({ email }, 'login refused: too many failed attempts for this account');
    throw new ApiError('RATE_LIMITED', `Too many failed logins for this account; retry in ${wait} seconds.`, undefined, { 'retry-after': String(wait) });
  }

  /** Seconds until `email` may try again; 0 when it may try now. */
  retryAfterSeconds(email: string, now = Date.now()): number {
    const entry = this.failures.get(email);
    if (!entry || entry.resetAt <= now || entry.count < this.max) return 0;
    return Math.ceil((entry.resetAt - now) / 1_000);
  }

  private count(email: string, now = Date.now()): void {
    const entry = this.failures.get(email);
    if (entry && entry.resetAt > now) {
      entry.count++;
      return;
    }
    this.failures.delete(email);
    if (this.failures.size >= MAX_ENTRIES) this.evict(now);
    this.failures.set(email, { count: 1, resetAt: now + this.windowMs });
  }

  recordSuccess(email: string): void {
    this.failures.delete(email);
  }

  private evict(now: number): void {
    for (const [key, entry] of this.failures) if (entry.resetAt <= now) this.failures.delete(key);
    // Map iterates in insertion order: the first keys are the oldest windows.
    for (const key of this.failures.keys()) {
      if (this.failures.size < MAX_ENTRIES) break;
      this.failures.delete(key);
    }
  }
}
