import { DrizzleQueryError } from 'drizzle-orm';
import { HostKeyMismatchError, SshAbortedError, SshAuthError, SshConnectionError, SshPermissionError, SshTimeoutError } from '@mm/ssh';

/** Why a job attempt failed, coarse enough to be a Prometheus label and to tell operators where to look. */
export const failureReasons = ['authentication', 'host_key', 'permission', 'timeout', 'connection', 'cancelled', 'invalid_payload', 'database', 'other'] as const;
export type FailureReason = (typeof failureReasons)[number];

const CONNECTION_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);

/**
 * The reason class of a handler's failure, read from the error as thrown (before classifyError turns non-retryable
 * SSH errors into UnrecoverableError, keeping only their message; hence the message checks for those rewrapped ones).
 */
export function failureReason(err: unknown, cancelled: boolean): FailureReason {
  if (cancelled || err instanceof SshAbortedError) return 'cancelled';
  if (err instanceof SshAuthError) return 'authentication';
  if (err instanceof HostKeyMismatchError) return 'host_key';
  if (err instanceof SshPermissionError) return 'permission';
  if (err instanceof SshTimeoutError) return 'timeout';
  if (err instanceof SshConnectionError) return 'connection';
  if (err instanceof DrizzleQueryError) return 'database';
  const message = err instanceof Error ? err.message : String(err);
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && CONNECTION_CODES.has(code)) return 'connection';
  if (/^host key mismatch/i.test(message)) return 'host_key';
  if (/^invalid payload for |^unknown job name /i.test(message)) return 'invalid_payload';
  if (/\btimed out\b/i.test(message)) return 'timeout';
  if (/\bcancelled\b/i.test(message)) return 'cancelled';
  if (/permission denied/i.test(message)) return 'permission';
  return 'other';
}
