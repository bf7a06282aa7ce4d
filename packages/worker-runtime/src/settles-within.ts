import { setTimeout as delay } from 'node:timers/promises';

/** Resolves true if `promise` settled (either way) within `ms`; never rejects. */
export async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  const ac = new AbortController();
  const settled = promise.then(
    () => true,
    () => true,
  );
  const timedOut = delay(ms, false, { signal: ac.signal }).catch(() => false);
  const result = await Promise.race([settled, timedOut]);
  ac.abort();
  return result;
}
