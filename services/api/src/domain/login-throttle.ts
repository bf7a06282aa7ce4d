import type { FastifyReply, FastifyRequest } from 'fastify';
import { ApiError } from '../errors.js';

/** Accounts tracked at most; past it the oldest entries go first (an attacker spraying random emails cannot grow it forever). */
const MAX_ENTRIES = 100_000;

/**
 * Failed logins per account (the lower-cased email), from whatever address they come. The per-IP limit alone
 * lets a pool of addresses keep guessing one account's password. In-process, like the per-IP counters.
 * Unknown emails are counted the same way, so the answer never tells whether an account exists.
 */
export class LoginThrottle {
  private readonly failures = new Map<string, { count: number; resetAt: number }>();

  constructor(
    private readonly max: number,
    private readonly windowMs: number,
  ) {}

  /** Throws 429 (with Retry-After) while `email` has used up its failures; call before checking the password. */
  check(email: string, request: FastifyRequest, reply: FastifyReply): void {
    const wait = this.retryAfterSeconds(email);
    if (wait === 0) return;
    request.log.warn({ email }, 'login refused: too many failed attempts for this account');
    void reply.header('retry-after', String(wait));
    throw new ApiError('RATE_LIMITED', `Too many failed logins for this account; retry in ${wait} seconds.`);
  }

  /** Seconds until `email` may try again; 0 when it may try now. */
  retryAfterSeconds(email: string, now = Date.now()): number {
    const entry = this.failures.get(email);
    if (!entry || entry.resetAt <= now || entry.count < this.max) return 0;
    return Math.ceil((entry.resetAt - now) / 1_000);
  }

  recordFailure(email: string, now = Date.now()): void {
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
