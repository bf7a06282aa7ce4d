import { DelayedError, RateLimitError, UnrecoverableError, WaitingChildrenError } from 'bullmq';
import { DrizzleQueryError } from 'drizzle-orm';
import { SshError } from '@mm/ssh';

/**
 * Maps a handler's failure onto BullMQ's retry decision: SSH failures that cannot heal on their own
 * (authentication, host key mismatch, permission, abort) become UnrecoverableError with their reason;
 * everything else (refused, reset, timeout, a database hiccup) is thrown as is and retried with backoff.
 * `scrub` removes secrets from the message, since it is stored in Redis and in the record.
 */
export function classifyError(err: unknown, scrub: (text: string) => string = (t) => t): Error {
  if (err instanceof DelayedError || err instanceof WaitingChildrenError || err instanceof RateLimitError) return err;
  if (err instanceof UnrecoverableError) {
    const message = scrub(err.message);
    return message === err.message ? err : new UnrecoverableError(message);
  }
  if (err instanceof SshError && !err.retryable) return new UnrecoverableError(scrub(err.message));
  // drizzle's message is the SQL text and its parameters (record values): say what PostgreSQL said instead. Retried.
  if (err instanceof DrizzleQueryError) {
    const cause = err.cause as { message?: unknown; code?: unknown } | undefined;
    const reason = typeof cause?.message === 'string' ? cause.message : 'unknown error';
    const code = typeof cause?.code === 'string' ? ` (${cause.code})` : '';
    const databaseError = new Error(scrub(`database query failed: ${reason}${code}`));
    databaseError.name = 'DatabaseError';
    return databaseError;
  }
  if (err instanceof Error) {
    const message = scrub(err.message);
    if (message === err.message) return err;
    const scrubbed = new Error(message);
    scrubbed.name = err.name;
    return scrubbed;
  }
  return new Error(scrub(String(err)));
}
